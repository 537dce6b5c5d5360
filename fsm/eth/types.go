package eth

import (
	"encoding/hex"
	"errors"
)

// Version is a 4-byte fork version.
type Version [4]byte

// Root is a 32-byte SSZ hash tree root.
type Root [32]byte

// Domain is a 32-byte signature domain: the domain type followed by the
// first 28 bytes of the fork data root.
type Domain [32]byte

// DomainType is the 4-byte prefix of a Domain that separates kinds of signed
// messages.
type DomainType [4]byte

// Domain types a validator signs with (phase0, altair and builder-specs).
var (
	DomainBeaconProposer              = DomainType{0x00, 0x00, 0x00, 0x00}
	DomainBeaconAttester              = DomainType{0x01, 0x00, 0x00, 0x00}
	DomainRandao                      = DomainType{0x02, 0x00, 0x00, 0x00}
	DomainDeposit                     = DomainType{0x03, 0x00, 0x00, 0x00}
	DomainVoluntaryExit               = DomainType{0x04, 0x00, 0x00, 0x00}
	DomainSelectionProof              = DomainType{0x05, 0x00, 0x00, 0x00}
	DomainAggregateAndProof           = DomainType{0x06, 0x00, 0x00, 0x00}
	DomainSyncCommittee               = DomainType{0x07, 0x00, 0x00, 0x00}
	DomainSyncCommitteeSelectionProof = DomainType{0x08, 0x00, 0x00, 0x00}
	DomainContributionAndProof        = DomainType{0x09, 0x00, 0x00, 0x00}
	DomainApplicationBuilder          = DomainType{0x00, 0x00, 0x00, 0x01}
)

// FarFutureEpoch is the epoch of a fork that is not scheduled.
const FarFutureEpoch = ^uint64(0)

// Fork names, in activation order.
const (
	ForkPhase0    = "phase0"
	ForkAltair    = "altair"
	ForkBellatrix = "bellatrix"
	ForkCapella   = "capella"
	ForkDeneb     = "deneb"
	ForkElectra   = "electra"
	ForkFulu      = "fulu"
)

// forkOrder lists the fork names a Spec may schedule, in the only order they
// may appear.
var forkOrder = []string{ForkPhase0, ForkAltair, ForkBellatrix, ForkCapella, ForkDeneb, ForkElectra, ForkFulu}

// forkRank returns the position of name in forkOrder, or -1.
func forkRank(name string) int {
	for i, n := range forkOrder {
		if n == name {
			return i
		}
	}
	return -1
}

// Fork is one entry of the fork schedule: from Epoch on (until the next
// entry) the chain signs with Version.
type Fork struct {
	Name    string
	Version Version
	Epoch   uint64
}

// Sentinel errors returned (wrapped) by this package.
var (
	// ErrInvalidSpec reports a Spec that failed Validate.
	ErrInvalidSpec = errors.New("invalid spec")
	// ErrIndexOutOfRange reports a shuffling or committee index outside its list.
	ErrIndexOutOfRange = errors.New("index out of range")
	// ErrInvalidRounds reports a shuffle round count outside 1..256.
	ErrInvalidRounds = errors.New("invalid shuffle round count")
	// ErrEmptyIndices reports an empty validator index list where one is required.
	ErrEmptyIndices = errors.New("empty validator index list")
	// ErrUnsupportedBlock reports a value BlockRoot cannot take the root of.
	ErrUnsupportedBlock = errors.New("unsupported block type")
	// ErrNilObject reports a nil object passed where a container is required.
	ErrNilObject = errors.New("nil object")
	// ErrNoProposer reports a proposer search that gave up (only with
	// effective balances that reject every candidate).
	ErrNoProposer = errors.New("no proposer selected")
)

// String returns the 0x-prefixed hex form of v.
func (v Version) String() string { return "0x" + hex.EncodeToString(v[:]) }

// String returns the 0x-prefixed hex form of r.
func (r Root) String() string { return "0x" + hex.EncodeToString(r[:]) }

// String returns the 0x-prefixed hex form of d.
func (d Domain) String() string { return "0x" + hex.EncodeToString(d[:]) }

// String returns the 0x-prefixed hex form of t.
func (t DomainType) String() string { return "0x" + hex.EncodeToString(t[:]) }
