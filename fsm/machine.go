package fsm

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/phalanx-eth/phalanx/fsm/eth"
	"github.com/phalanx-eth/phalanx/fsm/slashing"
)

// ErrNoChainConfig is returned by read methods that need the chain the cluster is bound to before a ChainConfig
// entry has been applied.
var ErrNoChainConfig = errors.New("no chain config: the cluster is not bound to a chain yet")

// Machine is a goroutine-safe wrapper around a State: writers (Apply, Restore) take an exclusive lock, readers
// (Check, Snapshot and the queries) a shared one.
//
// It maps onto hashicorp/raft's FSM interface, which cluster/ adapts with a thin wrapper so that this package
// does not import raft:
//
//   - raft.FSM.Apply(log)     → Machine.Apply(log.Index, log.Data); the *Result is the response raft hands back
//     to the proposer through ApplyFuture.Response.
//   - raft.FSM.Snapshot()     → Machine.Snapshot(), taken synchronously (raft calls Snapshot on the FSM goroutine,
//     between Applies); FSMSnapshot.Persist writes the returned bytes, Release does nothing.
//   - raft.FSM.Restore(rc)    → read rc fully, then Machine.Restore(bytes).
//
// Apply is deterministic (see Apply); the same log gives the same state and byte-identical snapshots on every
// node.
type Machine struct {
	mu sync.RWMutex
	s  *State
}

// NewMachine returns a machine holding NewState().
func NewMachine() *Machine { return &Machine{s: NewState()} }

// Apply applies the log entry at index; see the package function Apply.
func (m *Machine) Apply(index uint64, data []byte) *Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Apply(m.s, index, data)
}

// Check returns what Apply would decide for data now, changing nothing; see the package function Check.
func (m *Machine) Check(data []byte) *Result {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return Check(m.s, data)
}

// AppliedIndex returns the log index of the last applied entry.
func (m *Machine) AppliedIndex() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.s.appliedIndex
}

// Snapshot returns the whole state as bytes: a version byte followed by the snappy-compressed, deterministic
// SSZ body. Machines that applied the same log return identical bytes.
func (m *Machine) Snapshot() ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	b, err := marshalState(m.s)
	if err != nil {
		return nil, fmt.Errorf("snapshot at index %d: %w", m.s.appliedIndex, err)
	}
	return b, nil
}

// Restore replaces the state with the one in b, a Snapshot result. It is atomic: if b is not a valid snapshot
// the error wraps ErrSnapshotVersion or ErrSnapshotCorrupt and the state is unchanged.
func (m *Machine) Restore(b []byte) error {
	s, err := unmarshalState(b)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.s = s
	return nil
}

// ChainConfig returns a copy of the chain config the cluster is bound to.
func (m *Machine) ChainConfig() (*ChainConfig, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.s.config == nil {
		return nil, false
	}
	return cloneConfig(m.s.config), true
}

// Spec returns a copy of the eth.Spec derived from the chain config (see ChainConfig for what it carries).
func (m *Machine) Spec() (*eth.Spec, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.s.spec == nil {
		return nil, false
	}
	return cloneSpec(m.s.spec), true
}

// Validator returns the registry record of the validator with group public key pk.
func (m *Machine) Validator(pk [48]byte) (ValidatorInfo, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.s.validators[pk]
	if !ok {
		return ValidatorInfo{}, false
	}
	return v.info(), true
}

// Validators returns every registered validator, sorted by group public key.
func (m *Machine) Validators() []ValidatorInfo {
	m.mu.RLock()
	defer m.mu.RUnlock()
	vals := m.s.sortedValidators()
	out := make([]ValidatorInfo, len(vals))
	for i, v := range vals {
		out[i] = v.info()
	}
	return out
}

// ChainView returns the last applied chain view (the zero value before the first one).
func (m *Machine) ChainView() ChainView {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.s.view
}

// Halted reports whether the cluster is halted, and why.
func (m *Machine) Halted() (bool, string) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.s.halted, m.s.haltReason
}

// ExportInterchange returns the EIP-3076 interchange JSON of the slashing-protection history of pubkeys (all
// validators with history when pubkeys is empty), for the bound chain. complete selects the complete format
// (every record) rather than the minimal one.
func (m *Machine) ExportInterchange(pubkeys [][48]byte, complete bool) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.s.config == nil {
		return nil, fmt.Errorf("export slashing protection: %w", ErrNoChainConfig)
	}
	var pks []slashing.Pubkey // nil: every validator with history
	for _, pk := range pubkeys {
		pks = append(pks, slashing.Pubkey(pk))
	}
	ic, err := m.s.slashing.Export(slashing.Root(m.s.config.GenesisValidatorsRoot), pks, complete)
	if err != nil {
		return nil, fmt.Errorf("export slashing protection: %w", err)
	}
	b, err := json.Marshal(ic)
	if err != nil {
		return nil, fmt.Errorf("export slashing protection: encode interchange: %w", err)
	}
	return b, nil
}

// History returns what the cluster decided for validator pk in the duties at slot, in log order. History is
// kept down to the start of the finalized epoch; older slots return nothing.
func (m *Machine) History(slot uint64, pk [48]byte) []DutyRecord {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.s.historyOf(slot, pk)
}
