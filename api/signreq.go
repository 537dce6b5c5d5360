package api

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/capella"
	"github.com/attestantio/go-eth2-client/spec/deneb"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/phalanx-eth/phalanx/fsm"
	"github.com/phalanx-eth/phalanx/fsm/eth"
)

// Web3Signer artifact types (the "type" field of a signing request).
const (
	TypeAttestation                       = "ATTESTATION"
	TypeBlock                             = "BLOCK"
	TypeBlockV2                           = "BLOCK_V2"
	TypeRandaoReveal                      = "RANDAO_REVEAL"
	TypeAggregationSlot                   = "AGGREGATION_SLOT"
	TypeAggregateAndProof                 = "AGGREGATE_AND_PROOF"
	TypeAggregateAndProofV2               = "AGGREGATE_AND_PROOF_V2"
	TypeSyncCommitteeMessage              = "SYNC_COMMITTEE_MESSAGE"
	TypeSyncCommitteeSelectionProof       = "SYNC_COMMITTEE_SELECTION_PROOF"
	TypeSyncCommitteeContributionAndProof = "SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF"
	TypeVoluntaryExit                     = "VOLUNTARY_EXIT"
	TypeValidatorRegistration             = "VALIDATOR_REGISTRATION"
	TypeDeposit                           = "DEPOSIT"
)

// ErrBadSignRequest wraps every reason a signing request is malformed or cannot be turned into a duty.
var ErrBadSignRequest = errors.New("bad signing request")

// ErrUnsupportedType is returned for artifact types the cluster does not sign (DEPOSIT, unknown types).
var ErrUnsupportedType = errors.New("unsupported signing type")

// SignRequest is the body of POST /api/v1/eth2/sign/{pubkey} in the Web3Signer eth2 API: the artifact type,
// the fork info, an optional signing root to cross-check, and one message field named after the type.
type SignRequest struct {
	Type        string    `json:"type"`
	ForkInfo    *ForkInfo `json:"fork_info,omitempty"`
	SigningRoot string    `json:"signingRoot,omitempty"`
	// SigningRootAlt accepts the snake_case spelling some clients send.
	SigningRootAlt string `json:"signing_root,omitempty"`

	Attestation                 json.RawMessage       `json:"attestation,omitempty"`
	Block                       json.RawMessage       `json:"block,omitempty"`
	BeaconBlock                 *VersionedBlock       `json:"beacon_block,omitempty"`
	RandaoReveal                *EpochData            `json:"randao_reveal,omitempty"`
	AggregationSlot             *SlotData             `json:"aggregation_slot,omitempty"`
	AggregateAndProof           json.RawMessage       `json:"aggregate_and_proof,omitempty"`
	SyncCommitteeMessage        *SyncCommitteeMessage `json:"sync_committee_message,omitempty"`
	SyncAggregatorSelectionData *SyncSelectionData    `json:"sync_aggregator_selection_data,omitempty"`
	ContributionAndProof        json.RawMessage       `json:"contribution_and_proof,omitempty"`
	VoluntaryExit               json.RawMessage       `json:"voluntary_exit,omitempty"`
	ValidatorRegistration       json.RawMessage       `json:"validator_registration,omitempty"`
	Deposit                     json.RawMessage       `json:"deposit,omitempty"`
}

// ForkInfo is the fork and genesis validators root the client believes it signs for.
type ForkInfo struct {
	Fork                  *ForkData `json:"fork"`
	GenesisValidatorsRoot Hex       `json:"genesis_validators_root"`
}

// ForkData is a beacon-chain Fork in its JSON form.
type ForkData struct {
	PreviousVersion Hex    `json:"previous_version"`
	CurrentVersion  Hex    `json:"current_version"`
	Epoch           Uint64 `json:"epoch"`
}

// VersionedBlock is BLOCK_V2's beacon_block: the fork name and either the whole block (phase0, altair) or its
// header (bellatrix on).
type VersionedBlock struct {
	Version     string          `json:"version"`
	Block       json.RawMessage `json:"block,omitempty"`
	BlockHeader json.RawMessage `json:"block_header,omitempty"`
}

// EpochData is RANDAO_REVEAL's message.
type EpochData struct {
	Epoch Uint64 `json:"epoch"`
}

// SlotData is AGGREGATION_SLOT's message.
type SlotData struct {
	Slot Uint64 `json:"slot"`
}

// SyncCommitteeMessage is SYNC_COMMITTEE_MESSAGE's message.
type SyncCommitteeMessage struct {
	BeaconBlockRoot Hex    `json:"beacon_block_root"`
	Slot            Uint64 `json:"slot"`
}

// SyncSelectionData is SYNC_COMMITTEE_SELECTION_PROOF's message.
type SyncSelectionData struct {
	Slot              Uint64 `json:"slot"`
	SubcommitteeIndex Uint64 `json:"subcommittee_index"`
}

// versionedData is AGGREGATE_AND_PROOF_V2's {"version", "data"} wrapper.
type versionedData struct {
	Version string          `json:"version"`
	Data    json.RawMessage `json:"data"`
}

// Uint64 is a JSON uint64 written as a decimal string (the Beacon API convention); bare numbers are
// accepted too.
type Uint64 uint64

// UnmarshalJSON accepts "123" and 123.
func (u *Uint64) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("want a decimal uint64, got %s", abbreviate(string(b)))
	}
	*u = Uint64(v)
	return nil
}

// MarshalJSON writes the decimal string form.
func (u Uint64) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatUint(uint64(u), 10) + `"`), nil
}

// Hex is 0x-prefixed hex bytes in JSON.
type Hex []byte

// UnmarshalJSON decodes a "0x…" string.
func (h *Hex) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a 0x-prefixed hex string, got %s", abbreviate(string(b)))
	}
	v, err := decodeHex(s)
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// MarshalJSON writes "0x…".
func (h Hex) MarshalJSON() ([]byte, error) { return json.Marshal("0x" + hex.EncodeToString(h)) }

func decodeHex(s string) ([]byte, error) {
	t, ok := strings.CutPrefix(s, "0x")
	if !ok {
		return nil, fmt.Errorf("hex %q lacks the 0x prefix", abbreviate(s))
	}
	v, err := hex.DecodeString(t)
	if err != nil {
		return nil, fmt.Errorf("hex %q: %w", abbreviate(s), err)
	}
	return v, nil
}

func abbreviate(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

// ParsePubkey decodes a 0x-prefixed, 48-byte BLS public key.
func ParsePubkey(s string) ([48]byte, error) {
	var pk [48]byte
	b, err := decodeHex(s)
	if err != nil {
		return pk, fmt.Errorf("public key: %w", err)
	}
	if len(b) != 48 {
		return pk, fmt.Errorf("public key is %d bytes; want 48", len(b))
	}
	copy(pk[:], b)
	return pk, nil
}

// maxSignRequest bounds a signing request body; the largest message (a full block) stays far below it.
const maxSignRequest = 1 << 20

// DecodeSignRequest parses a signing request body and checks that it carries the message its type needs.
// Every error wraps ErrBadSignRequest (and ErrUnsupportedType for types the cluster does not sign).
func DecodeSignRequest(body []byte) (*SignRequest, error) {
	if len(body) > maxSignRequest {
		return nil, fmt.Errorf("%w: body is %d bytes; the limit is %d", ErrBadSignRequest, len(body), maxSignRequest)
	}
	var r SignRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: malformed JSON: %v", ErrBadSignRequest, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrBadSignRequest)
	}
	if r.SigningRoot == "" {
		r.SigningRoot = r.SigningRootAlt
	}
	missing := func(field string) error {
		return fmt.Errorf("%w: type %s needs the %q field", ErrBadSignRequest, r.Type, field)
	}
	switch r.Type {
	case TypeAttestation:
		if len(r.Attestation) == 0 {
			return nil, missing("attestation")
		}
	case TypeBlock:
		if len(r.Block) == 0 {
			return nil, missing("block")
		}
	case TypeBlockV2:
		if r.BeaconBlock == nil || (len(r.BeaconBlock.Block) == 0 && len(r.BeaconBlock.BlockHeader) == 0) {
			return nil, missing("beacon_block")
		}
	case TypeRandaoReveal:
		if r.RandaoReveal == nil {
			return nil, missing("randao_reveal")
		}
	case TypeAggregationSlot:
		if r.AggregationSlot == nil {
			return nil, missing("aggregation_slot")
		}
	case TypeAggregateAndProof, TypeAggregateAndProofV2:
		if len(r.AggregateAndProof) == 0 {
			return nil, missing("aggregate_and_proof")
		}
	case TypeSyncCommitteeMessage:
		if r.SyncCommitteeMessage == nil {
			return nil, missing("sync_committee_message")
		}
	case TypeSyncCommitteeSelectionProof:
		if r.SyncAggregatorSelectionData == nil {
			return nil, missing("sync_aggregator_selection_data")
		}
	case TypeSyncCommitteeContributionAndProof:
		if len(r.ContributionAndProof) == 0 {
			return nil, missing("contribution_and_proof")
		}
	case TypeVoluntaryExit:
		if len(r.VoluntaryExit) == 0 {
			return nil, missing("voluntary_exit")
		}
	case TypeValidatorRegistration:
		if len(r.ValidatorRegistration) == 0 {
			return nil, missing("validator_registration")
		}
	case TypeDeposit:
		return nil, fmt.Errorf("%w: %w: DEPOSIT is not signed by the cluster; sign deposits with the whole key before splitting it", ErrBadSignRequest, ErrUnsupportedType)
	case "":
		return nil, fmt.Errorf("%w: the \"type\" field is missing", ErrBadSignRequest)
	default:
		return nil, fmt.Errorf("%w: %w %q", ErrBadSignRequest, ErrUnsupportedType, abbreviate(r.Type))
	}
	if r.Type != TypeValidatorRegistration {
		if r.ForkInfo == nil || r.ForkInfo.Fork == nil {
			return nil, missing("fork_info")
		}
		if len(r.ForkInfo.GenesisValidatorsRoot) != 32 {
			return nil, fmt.Errorf("%w: fork_info.genesis_validators_root is %d bytes; want 32", ErrBadSignRequest, len(r.ForkInfo.GenesisValidatorsRoot))
		}
	}
	if r.SigningRoot != "" {
		b, err := decodeHex(r.SigningRoot)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("%w: signingRoot must be 32 bytes of 0x-prefixed hex", ErrBadSignRequest)
		}
	}
	return &r, nil
}

// expectedRoot returns the signing root the client sent, if any.
func (r *SignRequest) expectedRoot() ([32]byte, bool) {
	var root [32]byte
	if r.SigningRoot == "" {
		return root, false
	}
	b, err := decodeHex(r.SigningRoot)
	if err != nil || len(b) != 32 {
		return root, false
	}
	copy(root[:], b)
	return root, true
}

// Duty turns the request into the one-item duty entry the cluster proposes for validator info, on the chain
// spec describes. Errors wrap ErrBadSignRequest.
func (r *SignRequest) Duty(info fsm.ValidatorInfo, spec *eth.Spec) (*fsm.Duty, error) {
	d, err := r.duty(info, spec)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadSignRequest, r.Type, err)
	}
	return d, nil
}

func (r *SignRequest) duty(info fsm.ValidatorInfo, spec *eth.Spec) (*fsm.Duty, error) {
	item := fsm.DutyItem{Pubkey: info.Pubkey, ValidatorIndex: info.ValidatorIndex}
	one := func(kind fsm.DutyKind, slot, epoch uint64, data []byte) *fsm.Duty {
		return &fsm.Duty{Kind: kind, Slot: slot, Epoch: epoch, Data: data, Items: []fsm.DutyItem{item}}
	}
	epochStart := func(epoch uint64) (uint64, error) {
		if spec.SlotsPerEpoch == 0 || epoch > ^uint64(0)/spec.SlotsPerEpoch {
			return 0, fmt.Errorf("epoch %d is out of range", epoch)
		}
		return epoch * spec.SlotsPerEpoch, nil
	}
	switch r.Type {
	case TypeAttestation:
		var a phase0.AttestationData
		if err := json.Unmarshal(r.Attestation, &a); err != nil {
			return nil, fmt.Errorf("attestation: %v", err)
		}
		b, err := a.MarshalSSZ()
		if err != nil {
			return nil, fmt.Errorf("attestation: %v", err)
		}
		return one(fsm.DutyAttestation, uint64(a.Slot), uint64(a.Target.Epoch), b), nil
	case TypeBlock:
		h, err := headerOfBlock("PHASE0", r.Block)
		if err != nil {
			return nil, err
		}
		return r.proposal(h, item, spec)
	case TypeBlockV2:
		var h *phase0.BeaconBlockHeader
		if len(r.BeaconBlock.BlockHeader) > 0 {
			h = new(phase0.BeaconBlockHeader)
			if err := json.Unmarshal(r.BeaconBlock.BlockHeader, h); err != nil {
				return nil, fmt.Errorf("beacon_block.block_header: %v", err)
			}
		} else {
			var err error
			if h, err = headerOfBlock(r.BeaconBlock.Version, r.BeaconBlock.Block); err != nil {
				return nil, err
			}
		}
		return r.proposal(h, item, spec)
	case TypeRandaoReveal:
		e := uint64(r.RandaoReveal.Epoch)
		slot, err := epochStart(e)
		if err != nil {
			return nil, err
		}
		return one(fsm.DutyRandao, slot, e, nil), nil
	case TypeAggregationSlot:
		slot := uint64(r.AggregationSlot.Slot)
		return one(fsm.DutySelectionProof, slot, spec.EpochAtSlot(slot), nil), nil
	case TypeAggregateAndProof, TypeAggregateAndProofV2:
		root, slot, aggregator, err := aggregateAndProof(r.Type, r.AggregateAndProof)
		if err != nil {
			return nil, err
		}
		item.Root, item.ValidatorIndex = root, aggregator
		return one(fsm.DutyAggregateAndProof, slot, spec.EpochAtSlot(slot), nil), nil
	case TypeSyncCommitteeMessage:
		m := r.SyncCommitteeMessage
		if len(m.BeaconBlockRoot) != 32 {
			return nil, fmt.Errorf("beacon_block_root is %d bytes; want 32", len(m.BeaconBlockRoot))
		}
		slot := uint64(m.Slot)
		return one(fsm.DutySyncCommitteeMessage, slot, spec.EpochAtSlot(slot), append([]byte(nil), m.BeaconBlockRoot...)), nil
	case TypeSyncCommitteeSelectionProof:
		m := r.SyncAggregatorSelectionData
		slot := uint64(m.Slot)
		item.Aux = uint64(m.SubcommitteeIndex)
		return one(fsm.DutySyncSelectionProof, slot, spec.EpochAtSlot(slot), nil), nil
	case TypeSyncCommitteeContributionAndProof:
		var cp altair.ContributionAndProof
		if err := json.Unmarshal(r.ContributionAndProof, &cp); err != nil {
			return nil, fmt.Errorf("contribution_and_proof: %v", err)
		}
		root, err := cp.HashTreeRoot()
		if err != nil {
			return nil, fmt.Errorf("contribution_and_proof: %v", err)
		}
		slot := uint64(cp.Contribution.Slot)
		item.Root, item.ValidatorIndex = root, uint64(cp.AggregatorIndex)
		return one(fsm.DutyContributionAndProof, slot, spec.EpochAtSlot(slot), nil), nil
	case TypeVoluntaryExit:
		var ve phase0.VoluntaryExit
		if err := json.Unmarshal(r.VoluntaryExit, &ve); err != nil {
			return nil, fmt.Errorf("voluntary_exit: %v", err)
		}
		slot, err := epochStart(uint64(ve.Epoch))
		if err != nil {
			return nil, err
		}
		item.ValidatorIndex = uint64(ve.ValidatorIndex)
		return one(fsm.DutyVoluntaryExit, slot, uint64(ve.Epoch), nil), nil
	case TypeValidatorRegistration:
		var vr apiv1.ValidatorRegistration
		if err := json.Unmarshal(r.ValidatorRegistration, &vr); err != nil {
			return nil, fmt.Errorf("validator_registration: %v", err)
		}
		if [48]byte(vr.Pubkey) != info.Pubkey {
			return nil, errors.New("validator_registration.pubkey differs from the key in the URL")
		}
		root, err := vr.HashTreeRoot()
		if err != nil {
			return nil, fmt.Errorf("validator_registration: %v", err)
		}
		// A registration belongs to no slot; the slot of its timestamp keeps the entry deterministic.
		ts := uint64(vr.Timestamp.Unix())
		var slot uint64
		if spec.SecondsPerSlot > 0 && ts > spec.GenesisTime {
			slot = (ts - spec.GenesisTime) / spec.SecondsPerSlot
		}
		item.Root = root
		return one(fsm.DutyValidatorRegistration, slot, spec.EpochAtSlot(slot), nil), nil
	}
	return nil, ErrUnsupportedType
}

func (r *SignRequest) proposal(h *phase0.BeaconBlockHeader, item fsm.DutyItem, spec *eth.Spec) (*fsm.Duty, error) {
	b, err := h.MarshalSSZ()
	if err != nil {
		return nil, fmt.Errorf("block header: %v", err)
	}
	item.ValidatorIndex = uint64(h.ProposerIndex)
	slot := uint64(h.Slot)
	return &fsm.Duty{Kind: fsm.DutyProposal, Slot: slot, Epoch: spec.EpochAtSlot(slot), Data: b, Items: []fsm.DutyItem{item}}, nil
}

// headerOfBlock decodes a whole unsigned block of the named fork and returns its header (same root).
func headerOfBlock(version string, raw json.RawMessage) (*phase0.BeaconBlockHeader, error) {
	type rooter interface{ HashTreeRoot() ([32]byte, error) }
	mk := func(slot phase0.Slot, idx phase0.ValidatorIndex, parent, state phase0.Root, body rooter) (*phase0.BeaconBlockHeader, error) {
		if body == nil {
			return nil, errors.New("block has no body")
		}
		br, err := body.HashTreeRoot()
		if err != nil {
			return nil, fmt.Errorf("block body root: %v", err)
		}
		return &phase0.BeaconBlockHeader{Slot: slot, ProposerIndex: idx, ParentRoot: parent, StateRoot: state, BodyRoot: br}, nil
	}
	bad := func(err error) error { return fmt.Errorf("block (%s): %v", version, err) }
	switch strings.ToUpper(version) {
	case "PHASE0", "":
		var b phase0.BeaconBlock
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, bad(err)
		}
		return mk(b.Slot, b.ProposerIndex, b.ParentRoot, b.StateRoot, nilable(b.Body))
	case "ALTAIR":
		var b altair.BeaconBlock
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, bad(err)
		}
		return mk(b.Slot, b.ProposerIndex, b.ParentRoot, b.StateRoot, nilable(b.Body))
	case "BELLATRIX":
		var b bellatrix.BeaconBlock
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, bad(err)
		}
		return mk(b.Slot, b.ProposerIndex, b.ParentRoot, b.StateRoot, nilable(b.Body))
	case "CAPELLA":
		var b capella.BeaconBlock
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, bad(err)
		}
		return mk(b.Slot, b.ProposerIndex, b.ParentRoot, b.StateRoot, nilable(b.Body))
	case "DENEB":
		var b deneb.BeaconBlock
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, bad(err)
		}
		return mk(b.Slot, b.ProposerIndex, b.ParentRoot, b.StateRoot, nilable(b.Body))
	case "ELECTRA", "FULU":
		var b electra.BeaconBlock
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, bad(err)
		}
		return mk(b.Slot, b.ProposerIndex, b.ParentRoot, b.StateRoot, nilable(b.Body))
	}
	return nil, fmt.Errorf("unknown block version %q", abbreviate(version))
}

// nilable turns a typed nil pointer into a nil interface.
func nilable[T any](p *T) interface{ HashTreeRoot() ([32]byte, error) } {
	if p == nil {
		return nil
	}
	if r, ok := any(p).(interface{ HashTreeRoot() ([32]byte, error) }); ok {
		return r
	}
	return nil
}

// aggregateAndProof decodes AGGREGATE_AND_PROOF (phase0 form) or AGGREGATE_AND_PROOF_V2 ({version, data}).
func aggregateAndProof(typ string, raw json.RawMessage) (root [32]byte, slot, aggregator uint64, err error) {
	version, data := "PHASE0", raw
	if typ == TypeAggregateAndProofV2 {
		var v versionedData
		if err := json.Unmarshal(raw, &v); err != nil {
			return root, 0, 0, fmt.Errorf("aggregate_and_proof: %v", err)
		}
		if len(v.Data) == 0 {
			return root, 0, 0, errors.New("aggregate_and_proof needs version and data")
		}
		version, data = strings.ToUpper(v.Version), v.Data
	}
	switch version {
	case "PHASE0", "ALTAIR", "BELLATRIX", "CAPELLA", "DENEB":
		var a phase0.AggregateAndProof
		if err := json.Unmarshal(data, &a); err != nil {
			return root, 0, 0, fmt.Errorf("aggregate_and_proof: %v", err)
		}
		if root, err = a.HashTreeRoot(); err != nil {
			return root, 0, 0, fmt.Errorf("aggregate_and_proof: %v", err)
		}
		return root, uint64(a.Aggregate.Data.Slot), uint64(a.AggregatorIndex), nil
	case "ELECTRA", "FULU":
		var a electra.AggregateAndProof
		if err := json.Unmarshal(data, &a); err != nil {
			return root, 0, 0, fmt.Errorf("aggregate_and_proof: %v", err)
		}
		if root, err = a.HashTreeRoot(); err != nil {
			return root, 0, 0, fmt.Errorf("aggregate_and_proof: %v", err)
		}
		return root, uint64(a.Aggregate.Data.Slot), uint64(a.AggregatorIndex), nil
	}
	return root, 0, 0, fmt.Errorf("unknown aggregate_and_proof version %q", abbreviate(version))
}
