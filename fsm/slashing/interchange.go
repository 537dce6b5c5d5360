package slashing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// InterchangeFormatVersion is the only interchange_format_version this package
// reads and writes.
const InterchangeFormatVersion = "5"

var (
	// ErrGenesisMismatch is returned by Import when the interchange belongs to
	// another chain (its genesis_validators_root differs from the DB's chain).
	ErrGenesisMismatch = errors.New("interchange genesis_validators_root does not match this chain")
	// ErrInvalidInterchange is wrapped by every error about a malformed
	// interchange document.
	ErrInvalidInterchange = errors.New("invalid slashing-protection interchange")
	// ErrUnsupportedVersion is wrapped (together with ErrInvalidInterchange) when
	// interchange_format_version is not "5".
	ErrUnsupportedVersion = errors.New("unsupported interchange_format_version")
)

// Interchange is an EIP-3076 slashing-protection interchange document, format
// version 5. Its JSON encoding is the EIP's: integers as decimal strings, roots
// and keys as 0x-prefixed hex, absent signing roots omitted. Decoding it with
// encoding/json goes through ParseInterchange's strict validation.
type Interchange struct {
	Metadata InterchangeMetadata    `json:"metadata"`
	Data     []InterchangeValidator `json:"data"`
}

// InterchangeMetadata is the "metadata" object of an interchange.
type InterchangeMetadata struct {
	InterchangeFormatVersion string `json:"interchange_format_version"`
	GenesisValidatorsRoot    Root   `json:"genesis_validators_root"`
}

// InterchangeValidator is one element of "data": the history of one validator.
// A pubkey may appear in several elements; Import merges them.
type InterchangeValidator struct {
	Pubkey             Pubkey              `json:"pubkey"`
	SignedBlocks       []SignedBlock       `json:"signed_blocks"`
	SignedAttestations []SignedAttestation `json:"signed_attestations"`
}

// SignedBlock is one element of "signed_blocks". An unknown SigningRoot (the
// zero OptionalRoot) stands for an absent signing_root and is omitted from the
// JSON; an explicit one is written, even when it is all zeros.
type SignedBlock struct {
	Slot        uint64       `json:"slot,string"`
	SigningRoot OptionalRoot `json:"signing_root,omitzero"`
}

// SignedAttestation is one element of "signed_attestations". An unknown
// SigningRoot (the zero OptionalRoot) stands for an absent signing_root and is
// omitted from the JSON; an explicit one is written, even when it is all zeros.
type SignedAttestation struct {
	SourceEpoch uint64       `json:"source_epoch,string"`
	TargetEpoch uint64       `json:"target_epoch,string"`
	SigningRoot OptionalRoot `json:"signing_root,omitzero"`
}

// MarshalJSON encodes ic in the EIP's shape; nil lists are written as [] (the
// schema requires the arrays to be present).
func (ic Interchange) MarshalJSON() ([]byte, error) {
	type validator struct {
		Pubkey             Pubkey              `json:"pubkey"`
		SignedBlocks       []SignedBlock       `json:"signed_blocks"`
		SignedAttestations []SignedAttestation `json:"signed_attestations"`
	}
	type document struct {
		Metadata InterchangeMetadata `json:"metadata"`
		Data     []validator         `json:"data"`
	}
	doc := document{Metadata: ic.Metadata, Data: make([]validator, len(ic.Data))}
	for i, v := range ic.Data {
		doc.Data[i] = validator{Pubkey: v.Pubkey, SignedBlocks: v.SignedBlocks, SignedAttestations: v.SignedAttestations}
		if doc.Data[i].SignedBlocks == nil {
			doc.Data[i].SignedBlocks = []SignedBlock{}
		}
		if doc.Data[i].SignedAttestations == nil {
			doc.Data[i].SignedAttestations = []SignedAttestation{}
		}
	}
	return json.Marshal(doc)
}

// UnmarshalJSON decodes and validates an interchange with ParseInterchange.
func (ic *Interchange) UnmarshalJSON(data []byte) error {
	parsed, err := ParseInterchange(data)
	if err != nil {
		return err
	}
	*ic = *parsed
	return nil
}

// The raw shapes keep every scalar as json.RawMessage so that validation can say
// exactly which field is missing or malformed.
type rawInterchange struct {
	Metadata json.RawMessage `json:"metadata"`
	Data     json.RawMessage `json:"data"`
}

type rawMetadata struct {
	Version json.RawMessage `json:"interchange_format_version"`
	GVR     json.RawMessage `json:"genesis_validators_root"`
}

type rawValidator struct {
	Pubkey             json.RawMessage `json:"pubkey"`
	SignedBlocks       json.RawMessage `json:"signed_blocks"`
	SignedAttestations json.RawMessage `json:"signed_attestations"`
}

type rawBlock struct {
	Slot        json.RawMessage `json:"slot"`
	SigningRoot json.RawMessage `json:"signing_root"`
}

type rawAttestation struct {
	SourceEpoch json.RawMessage `json:"source_epoch"`
	TargetEpoch json.RawMessage `json:"target_epoch"`
	SigningRoot json.RawMessage `json:"signing_root"`
}

// interchangeError formats a validation error at a JSON path.
func interchangeError(path, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidInterchange, path, fmt.Sprintf(format, args...))
}

// ParseInterchange decodes and validates an EIP-3076 interchange document. It
// requires every field the EIP's schema requires, interchange_format_version
// "5", 0x-prefixed hex of the right length for keys and roots, and decimal
// strings for slots and epochs. Unknown fields are ignored, as the schema allows.
// Errors wrap ErrInvalidInterchange (and ErrUnsupportedVersion for a wrong
// version) and name the offending field, e.g. "data[2].signed_blocks[0].slot".
func ParseInterchange(data []byte) (*Interchange, error) {
	var raw rawInterchange
	if err := decodeObject(data, &raw, "document"); err != nil {
		return nil, err
	}
	ic := &Interchange{}

	var meta rawMetadata
	if err := decodeObject(raw.Metadata, &meta, "metadata"); err != nil {
		return nil, err
	}
	version, err := jsonString(meta.Version, "metadata.interchange_format_version")
	if err != nil {
		return nil, err
	}
	if version != InterchangeFormatVersion {
		return nil, fmt.Errorf("%w: %w: metadata.interchange_format_version is %q, want %q",
			ErrInvalidInterchange, ErrUnsupportedVersion, abbreviate(version), InterchangeFormatVersion)
	}
	ic.Metadata.InterchangeFormatVersion = version
	if err := jsonHex(meta.GVR, "metadata.genesis_validators_root", ic.Metadata.GenesisValidatorsRoot[:]); err != nil {
		return nil, err
	}

	var vals []json.RawMessage
	if err := decodeArray(raw.Data, &vals, "data"); err != nil {
		return nil, err
	}
	ic.Data = make([]InterchangeValidator, len(vals))
	for i, rv := range vals {
		if err := parseValidator(rv, fmt.Sprintf("data[%d]", i), &ic.Data[i]); err != nil {
			return nil, err
		}
	}
	return ic, nil
}

func parseValidator(data json.RawMessage, path string, out *InterchangeValidator) error {
	var rv rawValidator
	if err := decodeObject(data, &rv, path); err != nil {
		return err
	}
	if err := jsonHex(rv.Pubkey, path+".pubkey", out.Pubkey[:]); err != nil {
		return err
	}

	var blocks []json.RawMessage
	if err := decodeArray(rv.SignedBlocks, &blocks, path+".signed_blocks"); err != nil {
		return err
	}
	out.SignedBlocks = make([]SignedBlock, len(blocks))
	for j, data := range blocks {
		p := fmt.Sprintf("%s.signed_blocks[%d]", path, j)
		var rb rawBlock
		if err := decodeObject(data, &rb, p); err != nil {
			return err
		}
		b := &out.SignedBlocks[j]
		var err error
		if b.Slot, err = jsonUint(rb.Slot, p+".slot"); err != nil {
			return err
		}
		if err := optionalRoot(rb.SigningRoot, p+".signing_root", &b.SigningRoot); err != nil {
			return err
		}
	}

	var atts []json.RawMessage
	if err := decodeArray(rv.SignedAttestations, &atts, path+".signed_attestations"); err != nil {
		return err
	}
	out.SignedAttestations = make([]SignedAttestation, len(atts))
	for j, data := range atts {
		p := fmt.Sprintf("%s.signed_attestations[%d]", path, j)
		var ra rawAttestation
		if err := decodeObject(data, &ra, p); err != nil {
			return err
		}
		a := &out.SignedAttestations[j]
		var err error
		if a.SourceEpoch, err = jsonUint(ra.SourceEpoch, p+".source_epoch"); err != nil {
			return err
		}
		if a.TargetEpoch, err = jsonUint(ra.TargetEpoch, p+".target_epoch"); err != nil {
			return err
		}
		if err := optionalRoot(ra.SigningRoot, p+".signing_root", &a.SigningRoot); err != nil {
			return err
		}
	}
	return nil
}

// jsonKind returns the first significant byte of a JSON value, or 0 when the
// value is absent.
func jsonKind(data json.RawMessage) byte {
	data = bytes.TrimLeft(data, " \t\r\n")
	if len(data) == 0 {
		return 0
	}
	return data[0]
}

func kindName(k byte) string {
	switch k {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}

func decodeObject(data json.RawMessage, out any, path string) error {
	switch k := jsonKind(data); k {
	case 0:
		return interchangeError(path, "required but missing")
	case '{':
	default:
		return interchangeError(path, "must be an object, got %s", kindName(k))
	}
	if err := json.Unmarshal(data, out); err != nil {
		return interchangeError(path, "%v", err)
	}
	return nil
}

func decodeArray(data json.RawMessage, out *[]json.RawMessage, path string) error {
	switch k := jsonKind(data); k {
	case 0:
		return interchangeError(path, "required but missing")
	case '[':
	default:
		return interchangeError(path, "must be an array, got %s", kindName(k))
	}
	if err := json.Unmarshal(data, out); err != nil {
		return interchangeError(path, "%v", err)
	}
	return nil
}

func jsonString(data json.RawMessage, path string) (string, error) {
	switch k := jsonKind(data); k {
	case 0:
		return "", interchangeError(path, "required but missing")
	case '"':
	default:
		return "", interchangeError(path, "must be a string, got %s", kindName(k))
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return "", interchangeError(path, "%v", err)
	}
	return s, nil
}

func jsonHex(data json.RawMessage, path string, dst []byte) error {
	s, err := jsonString(data, path)
	if err != nil {
		return err
	}
	if err := decodeHex(dst, s); err != nil {
		return interchangeError(path, "%v", err)
	}
	return nil
}

func jsonUint(data json.RawMessage, path string) (uint64, error) {
	s, err := jsonString(data, path)
	if err != nil {
		return 0, err
	}
	// Decimal digits only: no sign, no spaces, no underscores, no hex.
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, interchangeError(path, "%q is not a decimal integer", abbreviate(s))
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, interchangeError(path, "%q is not a decimal integer below 2^64", abbreviate(s))
	}
	return v, nil
}

// optionalRoot decodes an optional signing_root. Absent (or null) leaves dst
// unknown; any valid hex root, the all-zero one included, makes it explicit.
func optionalRoot(data json.RawMessage, path string, dst *OptionalRoot) error {
	*dst = OptionalRoot{}
	if k := jsonKind(data); k == 0 || k == 'n' {
		return nil
	}
	var r Root
	if err := jsonHex(data, path, r[:]); err != nil {
		return err
	}
	*dst = KnownRoot(r)
	return nil
}

// ImportReport summarises what Import did.
type ImportReport struct {
	// Validators is the number of distinct pubkeys in the interchange, and
	// NewValidators how many of them the DB did not know before.
	Validators, NewValidators int
	// Blocks and Attestations count the records read from the interchange.
	Blocks, Attestations int
	// AddedBlocks and AddedAttestations count records the DB did not already
	// hold. Records below a low watermark are folded into it and not counted.
	AddedBlocks, AddedAttestations int
	// ConflictingBlocks and ConflictingAttestations count imported records that
	// the rules would have refused to sign given the history before them
	// (slashable data, or data below a watermark). They are kept anyway: keeping
	// them can only make the DB refuse more.
	ConflictingBlocks, ConflictingAttestations int
}

// Import merges an interchange into db, keeping every record (the EIP's
// complete strategy). It is atomic: on error db is unchanged. gvr is this
// chain's genesis_validators_root; an interchange for another chain fails with
// ErrGenesisMismatch. Several entries for one pubkey are merged. Slashable data
// (against itself or the existing history) is imported, counted in the report,
// and makes the rules deny more, never less. Every pubkey in the interchange
// becomes known to the DB (see Validators), even one with empty lists.
func (db *DB) Import(ic *Interchange, gvr Root) (ImportReport, error) {
	var rep ImportReport
	if ic == nil {
		return rep, fmt.Errorf("import interchange: %w: nil document", ErrInvalidInterchange)
	}
	if v := ic.Metadata.InterchangeFormatVersion; v != InterchangeFormatVersion {
		return rep, fmt.Errorf("import interchange: %w: %w: interchange_format_version is %q, want %q",
			ErrInvalidInterchange, ErrUnsupportedVersion, abbreviate(v), InterchangeFormatVersion)
	}
	if got := ic.Metadata.GenesisValidatorsRoot; got != gvr {
		return rep, fmt.Errorf("import interchange: %w: the file is for %s, this chain is %s",
			ErrGenesisMismatch, got, gvr)
	}

	// Merge entries per pubkey, then sort each validator's records so that an
	// honest history is inserted in signing order (and its conflicts count is 0).
	type merged struct {
		blocks []blockRecord
		atts   []attRecord
	}
	byKey := make(map[Pubkey]*merged)
	for _, v := range ic.Data {
		m := byKey[v.Pubkey]
		if m == nil {
			m = &merged{}
			byKey[v.Pubkey] = m
		}
		for _, b := range v.SignedBlocks {
			m.blocks = append(m.blocks, blockRecord{slot: b.Slot, root: canonicalRoot(b.SigningRoot)})
		}
		for _, a := range v.SignedAttestations {
			m.atts = append(m.atts, attRecord{source: a.SourceEpoch, target: a.TargetEpoch, root: canonicalRoot(a.SigningRoot)})
		}
	}
	pks := make([]Pubkey, 0, len(byKey))
	for pk := range byKey {
		pks = append(pks, pk)
	}
	sortPubkeys(pks)

	// Build the new histories aside and install them only at the end.
	staged := make(map[Pubkey]*history, len(pks))
	for _, pk := range pks {
		m := byKey[pk]
		slices.SortFunc(m.blocks, cmpBlock)
		slices.SortFunc(m.atts, cmpAtt)
		h := &history{}
		if old := db.vals[pk]; old != nil {
			h = old.clone()
		} else {
			rep.NewValidators++
		}
		for _, b := range m.blocks {
			if !h.checkProposal(b.slot, b.root).Approved {
				rep.ConflictingBlocks++
			}
			if h.addBlock(b) {
				rep.AddedBlocks++
			}
		}
		for _, a := range m.atts {
			if a.source > a.target || !h.checkAttestation(a.source, a.target, a.root).Approved {
				rep.ConflictingAttestations++
			}
			if h.addAtt(a) {
				rep.AddedAttestations++
			}
		}
		rep.Blocks += len(m.blocks)
		rep.Attestations += len(m.atts)
		staged[pk] = h
	}
	rep.Validators = len(pks)

	if db.vals == nil {
		db.vals = make(map[Pubkey]*history, len(staged))
	}
	for pk, h := range staged {
		db.vals[pk] = h
	}
	return rep, nil
}

// canonicalRoot clears the bytes of an unknown root, which carry no meaning, so
// that equal records compare equal.
func canonicalRoot(r OptionalRoot) OptionalRoot {
	if !r.Known {
		return OptionalRoot{}
	}
	return r
}

// Export returns an interchange for gvr holding the history of pubkeys (nil
// means every validator in the DB), sorted by pubkey and without duplicates. A
// requested pubkey without history is exported with empty lists.
//
// With complete, every record is exported, plus the low watermarks as one block
// and one attestation without signing root; importing the result into an empty
// DB gives a DB that denies exactly what db denies. Explicit signing roots are
// exported as present (even when all zeros), unknown ones as absent.
//
// Without complete the export is minimal: per validator, the highest-slot block
// and one attestation with the highest source and the highest target in the
// history (the signing root, explicit or unknown, is kept only when that is a
// single real record).
// Any client that enforces the EIP's conditions on it refuses at least
// everything db refuses.
func (db *DB) Export(gvr Root, pubkeys []Pubkey, complete bool) (*Interchange, error) {
	if pubkeys == nil {
		pubkeys = db.Validators()
	} else {
		pubkeys = slices.Clone(pubkeys)
		sortPubkeys(pubkeys)
		pubkeys = slices.Compact(pubkeys)
	}
	ic := &Interchange{
		Metadata: InterchangeMetadata{InterchangeFormatVersion: InterchangeFormatVersion, GenesisValidatorsRoot: gvr},
		Data:     make([]InterchangeValidator, 0, len(pubkeys)),
	}
	for _, pk := range pubkeys {
		v := InterchangeValidator{Pubkey: pk, SignedBlocks: []SignedBlock{}, SignedAttestations: []SignedAttestation{}}
		if h := db.vals[pk]; h != nil {
			if complete {
				v.SignedBlocks, v.SignedAttestations = h.exportComplete()
			} else {
				v.SignedBlocks, v.SignedAttestations = h.exportMinimal()
			}
		}
		ic.Data = append(ic.Data, v)
	}
	return ic, nil
}

func (h *history) exportComplete() ([]SignedBlock, []SignedAttestation) {
	blocks := make([]SignedBlock, 0, len(h.blocks)+1)
	if h.hasBlockMark {
		// Below every record, by the invariants.
		blocks = append(blocks, SignedBlock{Slot: h.blockMark})
	}
	for _, b := range h.blocks {
		blocks = append(blocks, SignedBlock{Slot: b.slot, SigningRoot: b.root})
	}
	atts := make([]SignedAttestation, 0, len(h.atts)+1)
	if h.hasAttMark {
		// Its target is below every record's, by the invariants.
		atts = append(atts, SignedAttestation{SourceEpoch: h.sourceMark, TargetEpoch: h.targetMark})
	}
	for _, a := range h.atts {
		atts = append(atts, SignedAttestation{SourceEpoch: a.source, TargetEpoch: a.target, SigningRoot: a.root})
	}
	return blocks, atts
}

func (h *history) exportMinimal() ([]SignedBlock, []SignedAttestation) {
	blocks := []SignedBlock{}
	switch n := len(h.blocks); {
	case n > 0:
		last := h.blocks[n-1]
		b := SignedBlock{Slot: last.slot}
		if len(h.blocksAt(last.slot)) == 1 {
			b.SigningRoot = last.root
		}
		blocks = append(blocks, b)
	case h.hasBlockMark:
		blocks = append(blocks, SignedBlock{Slot: h.blockMark})
	}

	atts := []SignedAttestation{}
	if n := len(h.atts); n > 0 {
		last := h.atts[n-1] // highest target; records above the watermark
		a := SignedAttestation{SourceEpoch: max(h.maxSource, h.sourceMark), TargetEpoch: last.target}
		if lo, hi := h.attRange(last.target); hi-lo == 1 && last.source == a.SourceEpoch {
			a.SigningRoot = last.root
		}
		atts = append(atts, a)
	} else if h.hasAttMark {
		atts = append(atts, SignedAttestation{SourceEpoch: h.sourceMark, TargetEpoch: h.targetMark})
	}
	return blocks, atts
}
