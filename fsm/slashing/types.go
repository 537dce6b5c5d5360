package slashing

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
)

// Pubkey is a validator's compressed BLS12-381 public key (48 bytes). This package
// never interprets it; it is only a key into the slashing-protection history.
type Pubkey [48]byte

// Root is a 32-byte hash, used here for signing roots and for the chain's
// genesis_validators_root. Every value is an ordinary root, the all-zero one
// included; a signing root that may be unknown is an OptionalRoot.
type Root [32]byte

// IsZero reports whether every byte of r is zero. The zero Root is still a known
// root wherever it is given explicitly.
func (r Root) IsZero() bool { return r == Root{} }

// String returns r as 0x-prefixed lower-case hex.
func (r Root) String() string { return "0x" + hex.EncodeToString(r[:]) }

// MarshalText encodes r as 0x-prefixed lower-case hex.
func (r Root) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText decodes exactly 32 bytes of 0x-prefixed hex.
func (r *Root) UnmarshalText(b []byte) error { return decodeHex(r[:], string(b)) }

// String returns pk as 0x-prefixed lower-case hex.
func (pk Pubkey) String() string { return "0x" + hex.EncodeToString(pk[:]) }

// MarshalText encodes pk as 0x-prefixed lower-case hex.
func (pk Pubkey) MarshalText() ([]byte, error) { return []byte(pk.String()), nil }

// UnmarshalText decodes exactly 48 bytes of 0x-prefixed hex.
func (pk *Pubkey) UnmarshalText(b []byte) error { return decodeHex(pk[:], string(b)) }

// OptionalRoot is a signing root that may be unknown. The zero value is unknown:
// the root of a message imported from an interchange without a signing_root, or
// of a low watermark left by pruning. KnownRoot gives an explicit root, which
// may be all zeros. An explicit root matches an identical explicit root (a
// repeat signing); an unknown root never matches anything, itself included.
//
// In JSON an unknown root is null (and omitted by fields tagged omitzero); an
// explicit one is 0x-prefixed hex.
type OptionalRoot struct {
	// Root is the signing root; it is meaningless (and zero) when Known is false.
	Root Root
	// Known is set for an explicit root.
	Known bool
}

// KnownRoot returns r as an explicit root.
func KnownRoot(r Root) OptionalRoot { return OptionalRoot{Root: r, Known: true} }

// IsZero reports whether o is the zero value, the unknown root (so that
// encoding/json's omitzero omits it).
func (o OptionalRoot) IsZero() bool { return !o.Known }

// Matches reports whether o and p are the same explicit root. An unknown root
// matches nothing.
func (o OptionalRoot) Matches(p OptionalRoot) bool { return o.Known && p.Known && o.Root == p.Root }

// String returns the root as 0x-prefixed hex, or "unknown".
func (o OptionalRoot) String() string {
	if !o.Known {
		return "unknown"
	}
	return o.Root.String()
}

// MarshalJSON encodes an explicit root as a 0x-prefixed hex string and an
// unknown one as null.
func (o OptionalRoot) MarshalJSON() ([]byte, error) {
	if !o.Known {
		return []byte("null"), nil
	}
	return []byte(`"` + o.Root.String() + `"`), nil
}

// UnmarshalJSON decodes null as the unknown root and a string of exactly 32
// bytes of 0x-prefixed hex as an explicit root.
func (o *OptionalRoot) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*o = OptionalRoot{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("signing root: %w", err)
	}
	var r Root
	if err := decodeHex(r[:], s); err != nil {
		return fmt.Errorf("signing root: %w", err)
	}
	*o = KnownRoot(r)
	return nil
}

// decodeHex decodes 0x-prefixed hex of exactly len(dst) bytes into dst. dst is only
// written when the whole input is valid.
func decodeHex(dst []byte, s string) error {
	if len(s) < 2 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') {
		return fmt.Errorf("%q: want 0x-prefixed hex", abbreviate(s))
	}
	body := s[2:]
	if len(body) != 2*len(dst) {
		return fmt.Errorf("%q: want %d bytes (%d hex digits), got %d hex digits",
			abbreviate(s), len(dst), 2*len(dst), len(body))
	}
	var tmp [48]byte
	if _, err := hex.Decode(tmp[:len(dst)], []byte(body)); err != nil {
		return fmt.Errorf("%q: %w", abbreviate(s), err)
	}
	copy(dst, tmp[:len(dst)])
	return nil
}

// abbreviate keeps error messages short when the input is long garbage.
func abbreviate(s string) string {
	const limit = 100
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "…"
}

// Reason says why a signing request was denied. Values are part of the wire
// format of the state machine's results: the enum only ever grows, and a value is
// never reused for another meaning.
type Reason uint8

// Reasons, in the order they were defined. The EIP-3076 conditions they implement
// are quoted in rules.go.
const (
	// ReasonNone is the reason of an approved verdict.
	ReasonNone Reason = iota
	// DoubleProposal: a different block (or a block with an unknown signing root)
	// was already signed at this slot.
	DoubleProposal
	// DoubleVote: a different attestation (or one with an unknown signing root)
	// was already signed with this target epoch.
	DoubleVote
	// SurroundingVote: the new attestation would surround one already signed.
	SurroundingVote
	// SurroundedVote: the new attestation would be surrounded by one already signed.
	SurroundedVote
	// SourceAfterTarget: the attestation's source epoch is after its target epoch.
	SourceAfterTarget
	// ProposalBelowWatermark: the slot is below the lowest signed slot, or at or
	// below the low watermark left by pruning (EIP-3076 condition 2).
	ProposalBelowWatermark
	// SourceBelowWatermark: the source epoch is below the lowest signed source
	// epoch or the source watermark (EIP-3076 condition 4).
	SourceBelowWatermark
	// TargetBelowWatermark: the target epoch is below the lowest signed target
	// epoch, or at or below the target watermark (EIP-3076 condition 5).
	TargetBelowWatermark
	// UnknownValidator is reserved for callers that keep a validator registry. The
	// DB itself never returns it: a validator without history has nothing to
	// conflict with.
	UnknownValidator
)

var reasonNames = [...]string{
	ReasonNone:             "none",
	DoubleProposal:         "double_proposal",
	DoubleVote:             "double_vote",
	SurroundingVote:        "surrounding_vote",
	SurroundedVote:         "surrounded_vote",
	SourceAfterTarget:      "source_after_target",
	ProposalBelowWatermark: "proposal_below_watermark",
	SourceBelowWatermark:   "source_below_watermark",
	TargetBelowWatermark:   "target_below_watermark",
	UnknownValidator:       "unknown_validator",
}

// String returns the snake_case name of r, or "reason_<n>" for a value this
// package does not define (callers may extend the range; see fsm).
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "reason_" + strconv.Itoa(int(r))
}

// Verdict is the typed outcome of a slashing check. A denied verdict carries the
// Reason and a human-readable Detail such as
// "already signed slot 5 with signing root 0x…".
type Verdict struct {
	Approved bool
	Reason   Reason
	Detail   string
}

// Approve returns an approving verdict.
func Approve() Verdict { return Verdict{Approved: true} }

// Deny returns a denying verdict with the given reason and detail.
func Deny(r Reason, detail string) Verdict { return Verdict{Reason: r, Detail: detail} }

// String renders v for logs and error messages.
func (v Verdict) String() string {
	if v.Approved {
		return "approved"
	}
	if v.Detail == "" {
		return "denied (" + v.Reason.String() + ")"
	}
	return "denied (" + v.Reason.String() + "): " + v.Detail
}
