package fsm

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/phalanx-eth/phalanx/fsm/eth"
	"github.com/phalanx-eth/phalanx/fsm/slashing"
	"github.com/phalanx-eth/phalanx/threshold"
)

// ItemResult is the decision for one validator of a Duty entry.
type ItemResult struct {
	Pubkey         [48]byte
	ValidatorIndex uint64
	// SigningRoot is the root the validator signs, derived by the state machine from the entry and the chain
	// config; zero when no chain config is bound.
	SigningRoot [32]byte
	Verdict     slashing.Verdict
}

// Result is the typed outcome of one entry. It is never an error: a malformed or disallowed entry is
// StatusRejected with a Reason, and a Duty entry is StatusApplied with one ItemResult per item, in item order,
// each approved or denied.
type Result struct {
	Index  uint64 // log index (0 for Check)
	Type   EntryType
	Status Status
	Reason string // why the entry was rejected; empty when applied
	Items  []ItemResult
}

// Applied reports whether the entry took effect.
func (r *Result) Applied() bool { return r != nil && r.Status == StatusApplied }

// Apply applies the log entry data at index to s and returns what happened.
//
// Apply is the state transition of the replicated state machine and is a pure function of the prior state and
// (index, data): it reads no clock, does no I/O, draws no randomness and produces nothing in map order, so every
// node that applies the same log reaches the same state. Anything time-like an entry needs is stamped into it by
// the proposer. Every index greater than the applied index advances the applied index, whether the entry is
// applied or rejected; an index at or below it is rejected and changes nothing.
func Apply(s *State, index uint64, data []byte) *Result {
	if index <= s.appliedIndex {
		return &Result{Index: index, Status: StatusRejected,
			Reason: fmt.Sprintf("log index %d is not after the applied index %d", index, s.appliedIndex)}
	}
	s.appliedIndex = index
	r := s.run(index, data, true)
	r.Index = index
	return r
}

// Check returns what Apply would decide for data against the current state, without changing it. The leader
// uses it as a pre-check before proposing, and a follower's share signer before signing. Result.Index is 0.
func Check(s *State, data []byte) *Result {
	return s.run(0, data, false)
}

// run decodes and dispatches one entry. With commit false nothing in s changes.
func (s *State) run(index uint64, data []byte, commit bool) *Result {
	e, err := Decode(data)
	if err != nil {
		t := EntryType(0)
		if len(data) >= envelopeHeader && EntryType(data[1]).Known() {
			t = EntryType(data[1])
		}
		return reject(t, "%v", err)
	}
	switch e := e.(type) {
	case *ChainConfig:
		return s.applyChainConfig(e, commit)
	case *ValidatorAdd:
		return s.applyValidatorAdd(e, index, commit)
	case *ValidatorRemove:
		return s.applyValidatorRemove(e, commit)
	case *ValidatorIndices:
		return s.applyValidatorIndices(e, commit)
	case *ChainView:
		return s.applyChainView(e, commit)
	case *Duty:
		return s.applyDuty(e, index, commit)
	case *SlashingImport:
		return s.applySlashingImport(e, commit)
	case *Halt:
		return s.applyHalt(e, commit)
	case *Resume:
		return s.applyResume(commit)
	}
	return reject(e.Type(), "entry type %s has no transition", e.Type()) // unreachable: Decode knows every type
}

func reject(t EntryType, format string, args ...any) *Result {
	return &Result{Type: t, Status: StatusRejected, Reason: fmt.Sprintf(format, args...)}
}

func applied(t EntryType) *Result { return &Result{Type: t, Status: StatusApplied} }

// shortKey renders a public key for reasons and logs: the first 8 bytes in hex.
func shortKey(pk [48]byte) string { return "0x" + hex.EncodeToString(pk[:8]) + "…" }

// --- chain config ---

func (s *State) applyChainConfig(c *ChainConfig, commit bool) *Result {
	spec, err := specFromConfig(c)
	if err != nil {
		return reject(TypeChainConfig, "chain config: %v", err)
	}
	if old := s.config; old != nil {
		switch {
		case old.GenesisValidatorsRoot != c.GenesisValidatorsRoot:
			return reject(TypeChainConfig, "cluster is bound to the chain with genesis validators root 0x%x; this config is for 0x%x",
				old.GenesisValidatorsRoot, c.GenesisValidatorsRoot)
		case old.GenesisTime != c.GenesisTime, old.GenesisForkVersion != c.GenesisForkVersion,
			old.SecondsPerSlot != c.SecondsPerSlot, old.SlotsPerEpoch != c.SlotsPerEpoch:
			return reject(TypeChainConfig, "chain config changes genesis or slot timing of the bound chain; only fork-schedule additions are allowed")
		}
		if err := forkScheduleExtends(old.Forks, c.Forks); err != nil {
			return reject(TypeChainConfig, "chain config: %v", err)
		}
	}
	if commit {
		s.config = cloneConfig(c)
		s.spec = spec
	}
	return applied(TypeChainConfig)
}

// forkScheduleExtends checks that next keeps every fork of prev, only scheduling forks prev left unscheduled
// (FarFutureEpoch) and appending new ones.
func forkScheduleExtends(prev, next []ForkSchedule) error {
	if len(next) < len(prev) {
		return fmt.Errorf("fork schedule drops forks (%d scheduled, %d given)", len(prev), len(next))
	}
	for i, f := range prev {
		n := next[i]
		if n.Version != f.Version {
			return fmt.Errorf("fork %d changes version 0x%x to 0x%x", i, f.Version, n.Version)
		}
		if n.Epoch != f.Epoch && f.Epoch != eth.FarFutureEpoch {
			return fmt.Errorf("fork %d moves scheduled epoch %d to %d", i, f.Epoch, n.Epoch)
		}
	}
	return nil
}

func cloneConfig(c *ChainConfig) *ChainConfig {
	out := *c
	out.Forks = slices.Clone(c.Forks)
	return &out
}

// --- validator registry ---

func (s *State) applyValidatorAdd(a *ValidatorAdd, index uint64, commit bool) *Result {
	n := len(a.SharePubkeys)
	if n == 0 || n > MaxShares {
		return reject(TypeValidatorAdd, "validator %s has %d shares; want 1..%d", shortKey(a.Pubkey), n, MaxShares)
	}
	if t := int(a.Threshold); t < n/2+1 || t > n {
		return reject(TypeValidatorAdd, "validator %s threshold %d out of range for %d shares: want a majority, %d..%d",
			shortKey(a.Pubkey), a.Threshold, n, n/2+1, n)
	}
	if _, dup := s.validators[a.Pubkey]; dup {
		return reject(TypeValidatorAdd, "validator %s is already registered", shortKey(a.Pubkey))
	}
	if a.ValidatorIndex != UnknownValidatorIndex {
		if other, taken := s.byIndex[a.ValidatorIndex]; taken {
			return reject(TypeValidatorAdd, "beacon index %d already belongs to validator %s", a.ValidatorIndex, shortKey(other))
		}
	}
	for i, sh := range a.SharePubkeys {
		if sh == a.Pubkey {
			return reject(TypeValidatorAdd, "validator %s share %d equals the group key", shortKey(a.Pubkey), i+1)
		}
		for _, prev := range a.SharePubkeys[:i] {
			if prev == sh {
				return reject(TypeValidatorAdd, "validator %s share %d is a duplicate", shortKey(a.Pubkey), i+1)
			}
		}
	}
	if _, err := threshold.PublicKeyFromBytes(a.Pubkey[:]); err != nil {
		return reject(TypeValidatorAdd, "validator %s group key: %v", shortKey(a.Pubkey), err)
	}
	for i, sh := range a.SharePubkeys {
		if _, err := threshold.PublicKeyFromBytes(sh[:]); err != nil {
			return reject(TypeValidatorAdd, "validator %s share %d key: %v", shortKey(a.Pubkey), i+1, err)
		}
	}
	if commit {
		s.validators[a.Pubkey] = &validator{
			pubkey:     a.Pubkey,
			threshold:  a.Threshold,
			shares:     slices.Clone(a.SharePubkeys),
			index:      a.ValidatorIndex,
			addedIndex: index,
		}
		if a.ValidatorIndex != UnknownValidatorIndex {
			s.byIndex[a.ValidatorIndex] = a.Pubkey
		}
	}
	return applied(TypeValidatorAdd)
}

func (s *State) applyValidatorRemove(r *ValidatorRemove, commit bool) *Result {
	v, ok := s.validators[r.Pubkey]
	if !ok {
		return reject(TypeValidatorRemove, "validator %s is not registered", shortKey(r.Pubkey))
	}
	if commit {
		delete(s.validators, r.Pubkey)
		if v.index != UnknownValidatorIndex {
			delete(s.byIndex, v.index)
		}
	}
	return applied(TypeValidatorRemove)
}

func (s *State) applyValidatorIndices(vi *ValidatorIndices, commit bool) *Result {
	if len(vi.Items) == 0 {
		return reject(TypeValidatorIndices, "no validator indices")
	}
	seenKey := make(map[[48]byte]struct{}, len(vi.Items))
	seenIdx := make(map[uint64]struct{}, len(vi.Items))
	for _, it := range vi.Items {
		if it.ValidatorIndex == UnknownValidatorIndex {
			return reject(TypeValidatorIndices, "validator %s: index %d is the unknown-index marker", shortKey(it.Pubkey), it.ValidatorIndex)
		}
		if _, dup := seenKey[it.Pubkey]; dup {
			return reject(TypeValidatorIndices, "validator %s listed twice", shortKey(it.Pubkey))
		}
		if _, dup := seenIdx[it.ValidatorIndex]; dup {
			return reject(TypeValidatorIndices, "beacon index %d listed twice", it.ValidatorIndex)
		}
		seenKey[it.Pubkey], seenIdx[it.ValidatorIndex] = struct{}{}, struct{}{}
		v, ok := s.validators[it.Pubkey]
		if !ok {
			return reject(TypeValidatorIndices, "validator %s is not registered", shortKey(it.Pubkey))
		}
		if v.index != UnknownValidatorIndex && v.index != it.ValidatorIndex {
			return reject(TypeValidatorIndices, "validator %s already has beacon index %d, not %d", shortKey(it.Pubkey), v.index, it.ValidatorIndex)
		}
		if other, taken := s.byIndex[it.ValidatorIndex]; taken && other != it.Pubkey {
			return reject(TypeValidatorIndices, "beacon index %d already belongs to validator %s", it.ValidatorIndex, shortKey(other))
		}
	}
	if commit {
		for _, it := range vi.Items {
			s.validators[it.Pubkey].index = it.ValidatorIndex
			s.byIndex[it.ValidatorIndex] = it.Pubkey
		}
	}
	return applied(TypeValidatorIndices)
}

// --- chain view ---

func (s *State) applyChainView(v *ChainView, commit bool) *Result {
	if s.config == nil {
		return reject(TypeChainView, "no chain config: bind the cluster to a chain first")
	}
	if v.JustifiedEpoch < v.FinalizedEpoch {
		return reject(TypeChainView, "justified epoch %d is below finalized epoch %d", v.JustifiedEpoch, v.FinalizedEpoch)
	}
	if _, overflow := mulOverflows(v.FinalizedEpoch, s.config.SlotsPerEpoch); overflow {
		return reject(TypeChainView, "finalized epoch %d is out of range", v.FinalizedEpoch)
	}
	old := s.view
	if v.FinalizedEpoch < old.FinalizedEpoch {
		return reject(TypeChainView, "finalized epoch %d is behind the finalized epoch %d; finality never moves backwards",
			v.FinalizedEpoch, old.FinalizedEpoch)
	}
	if s.hasView() && v.FinalizedEpoch == old.FinalizedEpoch && v.FinalizedRoot != old.FinalizedRoot {
		return reject(TypeChainView, "finalized checkpoint of epoch %d conflicts with the recorded one (root 0x%x, recorded 0x%x)",
			v.FinalizedEpoch, v.FinalizedRoot, old.FinalizedRoot)
	}
	if commit {
		s.view = *v
		s.viewSet = true
		if v.FinalizedEpoch > old.FinalizedEpoch {
			s.slashing.Prune(v.FinalizedEpoch, s.config.SlotsPerEpoch)
			s.pruneHistory(s.lowWatermark())
		}
	}
	return applied(TypeChainView)
}

// --- slashing import ---

func (s *State) applySlashingImport(si *SlashingImport, commit bool) *Result {
	if s.config == nil {
		return reject(TypeSlashingImport, "no chain config: bind the cluster to a chain before importing slashing protection")
	}
	ic, err := slashing.ParseInterchange(si.Interchange)
	if err != nil {
		return reject(TypeSlashingImport, "slashing import: %v", err)
	}
	db := s.slashing
	if !commit {
		db = db.Clone()
	}
	if _, err := db.Import(ic, slashing.Root(s.config.GenesisValidatorsRoot)); err != nil {
		return reject(TypeSlashingImport, "slashing import: %v", err)
	}
	return applied(TypeSlashingImport)
}

// --- halt / resume ---

func (s *State) applyHalt(h *Halt, commit bool) *Result {
	if commit {
		s.halted = true
		s.haltReason = string(bytes.ToValidUTF8(h.Reason, []byte("?")))
	}
	return applied(TypeHalt)
}

func (s *State) applyResume(commit bool) *Result {
	if !s.halted {
		return reject(TypeResume, "cluster is not halted")
	}
	if commit {
		s.halted = false
		s.haltReason = ""
	}
	return applied(TypeResume)
}
