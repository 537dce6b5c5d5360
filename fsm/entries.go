package fsm

//go:generate go run github.com/ferranbt/fastssz/sszgen@v0.1.4 --path entries.go --include types.go --objs ForkSchedule,ChainConfig,ValidatorAdd,ValidatorRemove,ValidatorIndex,ValidatorIndices,ChainView,DutyItem,Duty,SlashingImport,Halt,Resume

// Size limits of the entry bodies. They mirror the ssz-max tags below (the generated decoder enforces the tags; a
// test keeps both in step) and only ever grow.
const (
	MaxForks            = 16
	MaxShares           = 16
	MaxValidatorIndices = 16384
	MaxDutyData         = 1024
	MaxDutyItems        = 4096
	MaxInterchangeBytes = 16 << 20
	MaxHaltReason       = 256
)

// UnknownValidatorIndex marks a validator whose beacon-chain index is not known yet.
const UnknownValidatorIndex = ^uint64(0)

// Entry is one decoded log entry body. The concrete types are *ChainConfig, *ValidatorAdd, *ValidatorRemove,
// *ValidatorIndices, *ChainView, *Duty, *SlashingImport, *Halt and *Resume.
type Entry interface {
	Type() EntryType
}

// ForkSchedule is one scheduled fork: from Epoch on, signatures use Version in their domains.
type ForkSchedule struct {
	Version [4]byte `ssz-size:"4"`
	Epoch   uint64
}

// ChainConfig binds the cluster to one beacon chain. The first one applied fixes the chain; a later one must
// describe the same chain (same genesis, slot timing) and may only extend the fork schedule.
type ChainConfig struct {
	GenesisTime           uint64
	GenesisValidatorsRoot [32]byte       `ssz-size:"32"`
	GenesisForkVersion    [4]byte        `ssz-size:"4"`
	Forks                 []ForkSchedule `ssz-max:"16"`
	SecondsPerSlot        uint64
	SlotsPerEpoch         uint64
}

// ValidatorAdd registers a validator: its group public key, the signing threshold and the public key of every
// share (share i at position i-1). The state machine never sees secret shares.
type ValidatorAdd struct {
	Pubkey         [48]byte `ssz-size:"48"`
	Threshold      uint8
	SharePubkeys   [][48]byte `ssz-max:"16" ssz-size:"?,48"`
	ValidatorIndex uint64     // beacon-chain index, or UnknownValidatorIndex
}

// ValidatorRemove unregisters a validator. Its slashing-protection history is kept.
type ValidatorRemove struct {
	Pubkey [48]byte `ssz-size:"48"`
}

// ValidatorIndex pairs a group public key with its beacon-chain validator index.
type ValidatorIndex struct {
	Pubkey         [48]byte `ssz-size:"48"`
	ValidatorIndex uint64
}

// ValidatorIndices records beacon-chain indices the leader learned from its beacon node.
type ValidatorIndices struct {
	Items []ValidatorIndex `ssz-max:"16384"`
}

// ChainView is the leader's view of the beacon chain: head, justified and finalized checkpoints, and the slot and
// unix time (milliseconds) at which it observed them. A finalized epoch that advances prunes history below it.
type ChainView struct {
	HeadSlot          uint64
	HeadRoot          [32]byte `ssz-size:"32"`
	JustifiedEpoch    uint64
	JustifiedRoot     [32]byte `ssz-size:"32"`
	FinalizedEpoch    uint64
	FinalizedRoot     [32]byte `ssz-size:"32"`
	ObservedSlot      uint64
	ObservedUnixMilli uint64
}

// DutyItem is one validator's part of a Duty batch.
type DutyItem struct {
	Pubkey         [48]byte `ssz-size:"48"`
	ValidatorIndex uint64
	// Root is the hash_tree_root of the per-validator message for kinds that have one (AggregateAndProof,
	// ContributionAndProof, ValidatorRegistration); zero otherwise.
	Root [32]byte `ssz-size:"32"`
	// Aux carries a small per-validator parameter: the sync subcommittee index for SyncSelectionProof.
	Aux uint64
}

// Duty is one batch of signing work of a single kind: all cluster validators of one committee, or one proposal.
//
// Data holds the message shared by all items where the kind needs it: the SSZ of phase0.AttestationData for
// attestations, of phase0.BeaconBlockHeader for proposals, and the 32-byte beacon block root for sync-committee
// messages; it is empty for the other kinds.
type Duty struct {
	Kind  DutyKind
	Slot  uint64
	Epoch uint64
	Data  []byte     `ssz-max:"1024"`
	Items []DutyItem `ssz-max:"4096"`
}

// SlashingImport imports an EIP-3076 interchange document (JSON bytes) into the slashing-protection database,
// atomically.
type SlashingImport struct {
	Interchange []byte `ssz-max:"16777216"`
}

// Halt stops all signing: while halted every duty item is denied. Reason is free text for operators.
type Halt struct {
	Reason []byte `ssz-max:"256"`
}

// Resume lifts a Halt.
type Resume struct{}

// Type implements Entry.
func (*ChainConfig) Type() EntryType { return TypeChainConfig }

// Type implements Entry.
func (*ValidatorAdd) Type() EntryType { return TypeValidatorAdd }

// Type implements Entry.
func (*ValidatorRemove) Type() EntryType { return TypeValidatorRemove }

// Type implements Entry.
func (*ValidatorIndices) Type() EntryType { return TypeValidatorIndices }

// Type implements Entry.
func (*ChainView) Type() EntryType { return TypeChainView }

// Type implements Entry.
func (*Duty) Type() EntryType { return TypeDuty }

// Type implements Entry.
func (*SlashingImport) Type() EntryType { return TypeSlashingImport }

// Type implements Entry.
func (*Halt) Type() EntryType { return TypeHalt }

// Type implements Entry.
func (*Resume) Type() EntryType { return TypeResume }
