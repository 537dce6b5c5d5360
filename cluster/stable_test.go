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

// failingLog is a log store whose writes fail as on a full disk.
type failingLog struct{ *raft.InmemStore }

func (failingLog) StoreLog(*raft.Log) error      { return syscall.ENOSPC }
func (failingLog) StoreLogs([]*raft.Log) error   { return syscall.ENOSPC }
func (failingLog) DeleteRange(_, _ uint64) error { return syscall.ENOSPC }

// TestLogStoreFailureDisablesSigning: a raft log write that fails disables signing, named as such, before raft
// sees the error.
func TestLogStoreFailureDisablesSigning(t *testing.T) {
	var got []error
	s := logStore{LogStore: failingLog{raft.NewInmemStore()}, fail: func(err error) { got = append(got, err) }}
	for _, err := range []error{
		s.StoreLog(&raft.Log{Index: 1}),
		s.StoreLogs([]*raft.Log{{Index: 2}}),
		s.DeleteRange(1, 2),
	} {
		if !errors.Is(err, ErrLogNotDurable) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("err = %v", err)
		}
	}
	if len(got) != 3 {
		t.Fatalf("failure hook called %d times, want 3", len(got))
	}
	if last, _ := s.LastIndex(); last != 0 {
		t.Fatalf("failed writes left last index %d", last)
	}
}
