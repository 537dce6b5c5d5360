package fsm

import (
	"errors"
	"fmt"
)

// EntryVersion is the envelope version written by Encode. Decode accepts exactly the versions it knows.
const EntryVersion byte = 1

// envelopeHeader is the size of the [version][type] prefix of every encoded entry.
const envelopeHeader = 2

// Codec errors. Decode wraps them with context; compare with errors.Is.
var (
	// ErrShortEntry means the bytes are too short to hold the envelope header.
	ErrShortEntry = errors.New("entry shorter than its 2-byte envelope")
	// ErrUnknownVersion means the envelope version byte is not one this code understands.
	ErrUnknownVersion = errors.New("unknown entry version")
	// ErrUnknownType means the envelope type byte is not one this code understands.
	ErrUnknownType = errors.New("unknown entry type")
	// ErrUnknownDutyKind means a Duty carries a kind this code understands not.
	ErrUnknownDutyKind = errors.New("unknown duty kind")
	// ErrMalformedBody means the SSZ body does not decode: wrong size, bad offsets, oversize list, or bytes left
	// over.
	ErrMalformedBody = errors.New("malformed entry body")
)

// sszEntry is what the generated code gives every entry type.
type sszEntry interface {
	Entry
	MarshalSSZTo(dst []byte) ([]byte, error)
	UnmarshalSSZ(buf []byte) error
	SizeSSZ() int
}

// newEntry returns a zero entry of type t, or nil if t is unknown.
func newEntry(t EntryType) sszEntry {
	switch t {
	case TypeChainConfig:
		return new(ChainConfig)
	case TypeValidatorAdd:
		return new(ValidatorAdd)
	case TypeValidatorRemove:
		return new(ValidatorRemove)
	case TypeValidatorIndices:
		return new(ValidatorIndices)
	case TypeChainView:
		return new(ChainView)
	case TypeDuty:
		return new(Duty)
	case TypeSlashingImport:
		return new(SlashingImport)
	case TypeHalt:
		return new(Halt)
	case TypeResume:
		return new(Resume)
	}
	return nil
}

// Encode returns the log-entry bytes of e: [EntryVersion][e.Type()][SSZ body]. It fails for a nil entry, a type
// this package does not define, or a body that breaks the size limits.
func Encode(e Entry) ([]byte, error) {
	s, ok := e.(sszEntry)
	if !ok || s == nil || isNilEntry(e) {
		return nil, fmt.Errorf("encode entry %T: %w", e, ErrUnknownType)
	}
	if d, ok := e.(*Duty); ok && !d.Kind.Known() {
		return nil, fmt.Errorf("encode duty: %w %d", ErrUnknownDutyKind, uint8(d.Kind))
	}
	buf := make([]byte, envelopeHeader, envelopeHeader+s.SizeSSZ())
	buf[0], buf[1] = EntryVersion, byte(e.Type())
	out, err := s.MarshalSSZTo(buf)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", e.Type(), err)
	}
	return out, nil
}

// isNilEntry reports whether e holds a typed nil pointer.
func isNilEntry(e Entry) bool {
	switch v := e.(type) {
	case *ChainConfig:
		return v == nil
	case *ValidatorAdd:
		return v == nil
	case *ValidatorRemove:
		return v == nil
	case *ValidatorIndices:
		return v == nil
	case *ChainView:
		return v == nil
	case *Duty:
		return v == nil
	case *SlashingImport:
		return v == nil
	case *Halt:
		return v == nil
	case *Resume:
		return v == nil
	}
	return e == nil
}

// TypeOf reads an encoded entry's type from its envelope without decoding the body; ok is false when the
// envelope is short or of another version.
func TypeOf(b []byte) (t EntryType, ok bool) {
	if len(b) < envelopeHeader || b[0] != EntryVersion {
		return 0, false
	}
	return EntryType(b[1]), true
}

// Decode parses log-entry bytes written by Encode. Unknown versions, types or duty kinds, bodies of the wrong
// size and oversize lists are errors (wrapping ErrShortEntry, ErrUnknownVersion, ErrUnknownType,
// ErrUnknownDutyKind or ErrMalformedBody); Decode never panics. The returned entry does not alias b.
func Decode(b []byte) (Entry, error) {
	if len(b) < envelopeHeader {
		return nil, fmt.Errorf("decode entry of %d bytes: %w", len(b), ErrShortEntry)
	}
	if b[0] != EntryVersion {
		return nil, fmt.Errorf("decode entry: %w %d (this node understands %d)", ErrUnknownVersion, b[0], EntryVersion)
	}
	t := EntryType(b[1])
	e := newEntry(t)
	if e == nil {
		return nil, fmt.Errorf("decode entry: %w %d", ErrUnknownType, b[1])
	}
	if err := e.UnmarshalSSZ(b[envelopeHeader:]); err != nil {
		return nil, fmt.Errorf("decode %s: %w: %v", t, ErrMalformedBody, err)
	}
	if d, ok := e.(*Duty); ok && !d.Kind.Known() {
		return nil, fmt.Errorf("decode duty: %w %d", ErrUnknownDutyKind, uint8(d.Kind))
	}
	normalize(e)
	return e, nil
}

// normalize makes empty lists nil, so that a decoded entry equals the one that was encoded whichever way the
// encoder spelled "empty".
func normalize(e Entry) {
	switch v := e.(type) {
	case *ChainConfig:
		v.Forks = nilIfEmpty(v.Forks)
	case *ValidatorAdd:
		v.SharePubkeys = nilIfEmpty(v.SharePubkeys)
	case *ValidatorIndices:
		v.Items = nilIfEmpty(v.Items)
	case *Duty:
		v.Data = nilIfEmpty(v.Data)
		v.Items = nilIfEmpty(v.Items)
	case *SlashingImport:
		v.Interchange = nilIfEmpty(v.Interchange)
	case *Halt:
		v.Reason = nilIfEmpty(v.Reason)
	}
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}
