package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/golang/snappy"

	"github.com/phalanx-eth/phalanx/fsm/eth"
	"github.com/phalanx-eth/phalanx/fsm/slashing"
)

// SnapshotVersion is the first byte of every snapshot; the rest is snappy(SSZ body). Restore accepts exactly
// the versions it knows.
const SnapshotVersion byte = 1

// Snapshot errors, wrapped with context by Restore; compare with errors.Is.
var (
	// ErrSnapshotVersion means the snapshot's version byte is unknown (or the snapshot is empty).
	ErrSnapshotVersion = errors.New("unknown snapshot version")
	// ErrSnapshotCorrupt means the snapshot bytes do not decode to a valid state.
	ErrSnapshotCorrupt = errors.New("corrupt snapshot")
)

// maxSnappyRatio bounds how much a snappy block can expand (a 3-byte copy emits at most 64 bytes), so a forged
// length header cannot make Restore allocate more than the input justifies.
const maxSnappyRatio = 22

// marshalState serializes s deterministically: maps are written in sorted order, and nothing depends on the
// order of map iteration, on time or on the host.
func marshalState(s *State) ([]byte, error) {
	body := snapshotBody{AppliedIndex: s.appliedIndex}
	if s.config != nil {
		body.HasConfig = 1
		body.Config = *s.config
	}
	if s.viewSet {
		body.ViewSet = 1
		body.View = s.view
	}
	if s.halted {
		body.Halted = 1
		body.HaltReason = []byte(s.haltReason)
	}
	vals := s.sortedValidators()
	body.Validators = make([]snapValidator, len(vals))
	for i, v := range vals {
		body.Validators[i] = snapValidator{
			Pubkey: v.pubkey, Threshold: v.threshold, SharePubkeys: v.shares,
			ValidatorIndex: v.index, AddedIndex: v.addedIndex,
		}
	}
	db, err := s.slashing.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("marshal slashing database: %w", err)
	}
	body.Slashing = db
	for _, slot := range s.sortedHistorySlots() {
		for _, b := range s.history[slot] {
			sb := snapBatch{Index: b.index, Kind: b.kind, Slot: b.slot, Epoch: b.epoch, Items: make([]snapItem, len(b.items))}
			for i, it := range b.items {
				sb.Items[i] = snapItem{
					Pubkey: it.Pubkey, ValidatorIndex: it.ValidatorIndex, SigningRoot: it.SigningRoot,
					Approved: boolByte(it.Verdict.Approved), Reason: uint8(it.Verdict.Reason), Detail: []byte(it.Verdict.Detail),
				}
			}
			body.History = append(body.History, sb)
		}
	}
	raw, err := body.MarshalSSZ()
	if err != nil {
		return nil, fmt.Errorf("marshal state: %w", err)
	}
	out := make([]byte, 1, 1+snappy.MaxEncodedLen(len(raw)))
	out[0] = SnapshotVersion
	return append(out, snappy.Encode(nil, raw)...), nil
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// unmarshalState decodes and validates a snapshot into a new State. It never panics and never returns a state
// that a log could not have produced in shape (sorted, bounded, consistent indices).
func unmarshalState(b []byte) (*State, error) {
	if len(b) == 0 || b[0] != SnapshotVersion {
		v := -1
		if len(b) > 0 {
			v = int(b[0])
		}
		return nil, fmt.Errorf("restore snapshot: %w %d (this node understands %d)", ErrSnapshotVersion, v, SnapshotVersion)
	}
	comp := b[1:]
	n, err := snappy.DecodedLen(comp)
	if err != nil {
		return nil, fmt.Errorf("restore snapshot: %w: %v", ErrSnapshotCorrupt, err)
	}
	if n > maxSnappyRatio*len(comp)+64 {
		return nil, fmt.Errorf("restore snapshot: %w: claims %d bytes from %d compressed", ErrSnapshotCorrupt, n, len(comp))
	}
	raw, err := snappy.Decode(nil, comp)
	if err != nil {
		return nil, fmt.Errorf("restore snapshot: %w: %v", ErrSnapshotCorrupt, err)
	}
	var body snapshotBody
	if err := body.UnmarshalSSZ(raw); err != nil {
		return nil, fmt.Errorf("restore snapshot: %w: %v", ErrSnapshotCorrupt, err)
	}
	s, err := stateFromBody(&body)
	if err != nil {
		return nil, fmt.Errorf("restore snapshot: %w: %v", ErrSnapshotCorrupt, err)
	}
	return s, nil
}

func boolFlag(name string, v uint8) (bool, error) {
	switch v {
	case 0:
		return false, nil
	case 1:
		return true, nil
	}
	return false, fmt.Errorf("%s flag is %d", name, v)
}

// stateFromBody rebuilds a State from a decoded body, checking every invariant Apply maintains.
func stateFromBody(body *snapshotBody) (*State, error) {
	s := NewState()
	s.appliedIndex = body.AppliedIndex
	hasConfig, err := boolFlag("config", body.HasConfig)
	if err != nil {
		return nil, err
	}
	if s.viewSet, err = boolFlag("view", body.ViewSet); err != nil {
		return nil, err
	}
	if s.halted, err = boolFlag("halted", body.Halted); err != nil {
		return nil, err
	}
	if hasConfig {
		spec, err := specFromConfig(&body.Config)
		if err != nil {
			return nil, fmt.Errorf("chain config: %w", err)
		}
		s.config, s.spec = cloneConfig(&body.Config), spec
	} else if !isZeroConfig(&body.Config) {
		return nil, errors.New("chain config present without its flag")
	}
	if s.viewSet {
		if !hasConfig {
			return nil, errors.New("chain view without chain config")
		}
		if body.View.JustifiedEpoch < body.View.FinalizedEpoch {
			return nil, errors.New("chain view justified below finalized")
		}
		if _, overflow := mulOverflows(body.View.FinalizedEpoch, s.config.SlotsPerEpoch); overflow {
			return nil, errors.New("chain view finalized epoch out of range")
		}
		s.view = body.View
	} else if body.View != (ChainView{}) {
		return nil, errors.New("chain view present without its flag")
	}
	if !s.halted && len(body.HaltReason) != 0 {
		return nil, errors.New("halt reason without halt")
	}
	s.haltReason = string(body.HaltReason)
	if !utf8.Valid(body.HaltReason) {
		return nil, errors.New("halt reason is not valid UTF-8")
	}

	for i := range body.Validators {
		v := &body.Validators[i]
		if i > 0 && bytes.Compare(body.Validators[i-1].Pubkey[:], v.Pubkey[:]) >= 0 {
			return nil, fmt.Errorf("validators not strictly sorted at %d", i)
		}
		n := len(v.SharePubkeys)
		if n == 0 || int(v.Threshold) < n/2+1 || int(v.Threshold) > n {
			return nil, fmt.Errorf("validator %d: threshold %d of %d shares", i, v.Threshold, n)
		}
		if v.AddedIndex > s.appliedIndex {
			return nil, fmt.Errorf("validator %d added after the applied index", i)
		}
		if v.ValidatorIndex != UnknownValidatorIndex {
			if _, dup := s.byIndex[v.ValidatorIndex]; dup {
				return nil, fmt.Errorf("beacon index %d used twice", v.ValidatorIndex)
			}
			s.byIndex[v.ValidatorIndex] = v.Pubkey
		}
		s.validators[v.Pubkey] = &validator{
			pubkey: v.Pubkey, threshold: v.Threshold, shares: v.SharePubkeys,
			index: v.ValidatorIndex, addedIndex: v.AddedIndex,
		}
	}

	db := slashing.New()
	if err := db.UnmarshalBinary(body.Slashing); err != nil {
		return nil, fmt.Errorf("slashing database: %w", err)
	}
	s.slashing = db

	watermark := s.lowWatermark()
	for i := range body.History {
		b := &body.History[i]
		if i > 0 {
			p := &body.History[i-1]
			if p.Slot > b.Slot || (p.Slot == b.Slot && p.Index >= b.Index) {
				return nil, fmt.Errorf("history not sorted at %d", i)
			}
		}
		if !hasConfig || b.Slot < watermark || b.Index == 0 || b.Index > s.appliedIndex || !b.Kind.Known() || len(b.Items) == 0 {
			return nil, fmt.Errorf("history batch %d is out of range", i)
		}
		hb := &historyBatch{index: b.Index, kind: b.Kind, slot: b.Slot, epoch: b.Epoch, items: make([]ItemResult, len(b.Items))}
		for j := range b.Items {
			it := &b.Items[j]
			approved, err := boolFlag("approved", it.Approved)
			if err != nil {
				return nil, fmt.Errorf("history batch %d item %d: %w", i, j, err)
			}
			if approved && (it.Reason != 0 || len(it.Detail) != 0) {
				return nil, fmt.Errorf("history batch %d item %d: approved with a reason", i, j)
			}
			hb.items[j] = ItemResult{
				Pubkey: it.Pubkey, ValidatorIndex: it.ValidatorIndex, SigningRoot: it.SigningRoot,
				Verdict: slashing.Verdict{Approved: approved, Reason: slashing.Reason(it.Reason), Detail: string(it.Detail)},
			}
		}
		s.history[b.Slot] = append(s.history[b.Slot], hb)
	}
	return s, nil
}

func isZeroConfig(c *ChainConfig) bool {
	return c.GenesisTime == 0 && c.GenesisValidatorsRoot == [32]byte{} && c.GenesisForkVersion == [4]byte{} &&
		len(c.Forks) == 0 && c.SecondsPerSlot == 0 && c.SlotsPerEpoch == 0
}

// cloneSpec returns a deep copy of spec for callers outside the lock.
func cloneSpec(spec *eth.Spec) *eth.Spec {
	out := *spec
	out.Forks = append([]eth.Fork(nil), spec.Forks...)
	return &out
}
