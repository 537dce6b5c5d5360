package fsm

import (
	"bytes"
	"slices"

	"github.com/phalanx-eth/phalanx/fsm/eth"
	"github.com/phalanx-eth/phalanx/fsm/slashing"
)

// State is all replicated state of a phalanx cluster: the chain it is bound to, the validator registry, the
// latest chain view, the halt flag, the EIP-3076 slashing-protection database and the recent duty history.
//
// A State changes only through Apply, which is a pure function of the prior state and the entry bytes, and it
// serializes deterministically (see Machine.Snapshot): nodes that applied the same log hold byte-identical
// states. A State is not safe for concurrent use; Machine wraps one with a lock.
type State struct {
	appliedIndex uint64

	config *ChainConfig // nil until the first ChainConfig entry binds the cluster to a chain
	spec   *eth.Spec    // derived from config; never serialized

	validators map[[48]byte]*validator
	byIndex    map[uint64][48]byte // derived: known beacon indices

	view       ChainView
	viewSet    bool // a ChainView entry has been applied
	halted     bool
	haltReason string

	slashing *slashing.DB

	// history holds the duty batches applied at each slot, in log order, down to the low watermark.
	history map[uint64][]*historyBatch
}

// validator is one registry record.
type validator struct {
	pubkey     [48]byte
	threshold  uint8
	shares     [][48]byte
	index      uint64
	addedIndex uint64
}

// historyBatch is one applied Duty entry as recorded for later questions.
type historyBatch struct {
	index uint64
	kind  DutyKind
	slot  uint64
	epoch uint64
	items []ItemResult
}

// ValidatorInfo describes one registered validator.
type ValidatorInfo struct {
	Pubkey       [48]byte
	Threshold    uint8
	SharePubkeys [][48]byte // share i at position i-1
	// ValidatorIndex is the beacon-chain index, or UnknownValidatorIndex.
	ValidatorIndex uint64
	// AddedIndex is the log index of the ValidatorAdd entry that registered it.
	AddedIndex uint64
}

// DutyRecord is what the cluster decided for one validator in one Duty entry.
type DutyRecord struct {
	Index uint64 // log index of the Duty entry
	Kind  DutyKind
	Slot  uint64
	Epoch uint64
	Item  ItemResult
}

// NewState returns the empty state: no chain, no validators, not halted, applied index 0.
func NewState() *State {
	return &State{
		validators: make(map[[48]byte]*validator),
		byIndex:    make(map[uint64][48]byte),
		slashing:   slashing.New(),
		history:    make(map[uint64][]*historyBatch),
	}
}

// AppliedIndex returns the log index of the last entry applied (0 for a new state).
func (s *State) AppliedIndex() uint64 { return s.appliedIndex }

// hasView reports whether a ChainView entry has been applied.
func (s *State) hasView() bool { return s.viewSet }

// lowWatermark is the first slot the cluster still signs for: the start of the finalized epoch. Everything
// below it is final and its history is pruned.
func (s *State) lowWatermark() uint64 {
	if s.config == nil {
		return 0
	}
	w, overflow := mulOverflows(s.view.FinalizedEpoch, s.config.SlotsPerEpoch)
	if overflow {
		return ^uint64(0)
	}
	return w
}

func mulOverflows(a, b uint64) (uint64, bool) {
	if a == 0 || b == 0 {
		return 0, false
	}
	p := a * b
	return p, p/b != a
}

func (v *validator) info() ValidatorInfo {
	return ValidatorInfo{
		Pubkey:         v.pubkey,
		Threshold:      v.threshold,
		SharePubkeys:   slices.Clone(v.shares),
		ValidatorIndex: v.index,
		AddedIndex:     v.addedIndex,
	}
}

// sortedValidators returns the registry sorted by group public key.
func (s *State) sortedValidators() []*validator {
	out := make([]*validator, 0, len(s.validators))
	for _, v := range s.validators {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b *validator) int { return bytes.Compare(a.pubkey[:], b.pubkey[:]) })
	return out
}

// sortedHistorySlots returns the slots that have history, ascending.
func (s *State) sortedHistorySlots() []uint64 {
	out := make([]uint64, 0, len(s.history))
	for slot := range s.history {
		out = append(out, slot)
	}
	slices.Sort(out)
	return out
}

// pruneHistory drops the duty history of every slot below watermark.
func (s *State) pruneHistory(watermark uint64) {
	for slot := range s.history {
		if slot < watermark {
			delete(s.history, slot)
		}
	}
}

// history returns the records of pk at slot, in log order.
func (s *State) historyOf(slot uint64, pk [48]byte) []DutyRecord {
	var out []DutyRecord
	for _, b := range s.history[slot] {
		for _, it := range b.items {
			if it.Pubkey == pk {
				out = append(out, DutyRecord{Index: b.index, Kind: b.kind, Slot: b.slot, Epoch: b.epoch, Item: it})
			}
		}
	}
	return out
}
