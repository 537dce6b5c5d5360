package fsm

//go:generate go run github.com/ferranbt/fastssz/sszgen@v0.1.4 --path snapshot_types.go --include entries.go,types.go --objs snapValidator,snapItem,snapBatch,snapshotBody

// The snapshot body is SSZ too, so that its decoder is generated, bounded and canonical. These types are the
// on-disk layout of snapshot version 1; a layout change needs a new SnapshotVersion.

// snapValidator is one registry record.
type snapValidator struct {
	Pubkey         [48]byte `ssz-size:"48"`
	Threshold      uint8
	SharePubkeys   [][48]byte `ssz-max:"16" ssz-size:"?,48"`
	ValidatorIndex uint64
	AddedIndex     uint64
}

// snapItem is one item of a recorded duty.
type snapItem struct {
	Pubkey         [48]byte `ssz-size:"48"`
	ValidatorIndex uint64
	SigningRoot    [32]byte `ssz-size:"32"`
	Approved       uint8
	Reason         uint8
	Detail         []byte `ssz-max:"256"`
}

// snapBatch is one recorded Duty entry.
type snapBatch struct {
	Index uint64
	Kind  DutyKind
	Slot  uint64
	Epoch uint64
	Items []snapItem `ssz-max:"4096"`
}

// snapshotBody is the whole state. Flags are uint8 0/1 (anything else is rejected on restore).
type snapshotBody struct {
	AppliedIndex uint64
	HasConfig    uint8
	Config       ChainConfig
	ViewSet      uint8
	View         ChainView
	Halted       uint8
	HaltReason   []byte          `ssz-max:"256"`
	Validators   []snapValidator `ssz-max:"1048576"`
	Slashing     []byte          `ssz-max:"1073741824"`
	History      []snapBatch     `ssz-max:"16777216"`
}
