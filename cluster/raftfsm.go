package cluster

import (
	"fmt"
	"io"

	"github.com/hashicorp/raft"

	"github.com/phalanx-eth/phalanx/fsm"
)

// maxSnapshotSize bounds what Restore reads into memory.
const maxSnapshotSize = 1 << 30

// raftFSM adapts fsm.Machine to raft.FSM. It adds nothing to the machine's semantics: Apply hands the
// entry bytes and the log index to the pure transition, Snapshot captures the machine's deterministic
// bytes at the point raft asks (raft calls Snapshot on the FSM goroutine, between two Applys), and Restore
// replaces the state atomically.
type raftFSM struct {
	machine *fsm.Machine
	// onApply, if set, runs after every applied command with its result (on raft's FSM goroutine).
	onApply func(index uint64, data []byte, res *fsm.Result)
}

var _ raft.FSM = (*raftFSM)(nil)

// Apply implements raft.FSM.
func (f *raftFSM) Apply(l *raft.Log) interface{} {
	if l.Type != raft.LogCommand {
		return nil
	}
	res := f.machine.Apply(l.Index, l.Data)
	if f.onApply != nil {
		f.onApply(l.Index, l.Data, res)
	}
	return res
}

// Snapshot implements raft.FSM.
func (f *raftFSM) Snapshot() (raft.FSMSnapshot, error) {
	b, err := f.machine.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("fsm snapshot: %w", err)
	}
	return fsmSnapshot(b), nil
}

// Restore implements raft.FSM.
func (f *raftFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxSnapshotSize+1))
	if err != nil {
		return fmt.Errorf("read snapshot: %w", err)
	}
	if len(b) > maxSnapshotSize {
		return fmt.Errorf("snapshot larger than %d bytes", maxSnapshotSize)
	}
	if err := f.machine.Restore(b); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	return nil
}

type fsmSnapshot []byte

func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return fmt.Errorf("write snapshot: %w", err)
	}
	return sink.Close()
}

func (s fsmSnapshot) Release() {}

// validateSnapshot checks that b restores into a fresh machine.
func validateSnapshot(b []byte) error {
	return fsm.NewMachine().Restore(b)
}
