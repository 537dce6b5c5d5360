package cluster

import (
	"errors"
	"syscall"
	"testing"

	"github.com/hashicorp/raft"
)

// failingStable is a stable store whose writes fail as on a read-only file system.
type failingStable struct{ *raft.InmemStore }

func (failingStable) Set([]byte, []byte) error       { return syscall.EROFS }
func (failingStable) SetUint64([]byte, uint64) error { return syscall.EROFS }

// TestStableStoreFailureIsFatal: a term or vote that cannot be written reaches the fatal hook, named as such,
// before raft sees the error; nothing is reported as written.
func TestStableStoreFailureIsFatal(t *testing.T) {
	var got []error
	s := stableStore{StableStore: failingStable{raft.NewInmemStore()}, fail: func(err error) { got = append(got, err) }}
	if err := s.SetUint64([]byte("CurrentTerm"), 3); !errors.Is(err, ErrStateNotDurable) || !errors.Is(err, syscall.EROFS) {
		t.Fatalf("SetUint64 err = %v", err)
	}
	if err := s.Set([]byte("LastVoteCand"), []byte("node-2")); !errors.Is(err, ErrStateNotDurable) {
		t.Fatalf("Set err = %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("fatal hook called %d times, want 2", len(got))
	}
	if v, _ := s.GetUint64([]byte("CurrentTerm")); v != 0 {
		t.Fatalf("a failed term write reads back as %d", v)
	}
	ok := stableStore{StableStore: raft.NewInmemStore(), fail: func(err error) { t.Fatalf("hook called on success: %v", err) }}
	if err := ok.SetUint64([]byte("CurrentTerm"), 4); err != nil {
		t.Fatal(err)
	}
}
