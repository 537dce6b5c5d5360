package cluster

import (
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
)

// ErrStateNotDurable reports that raft's term or vote could not be written to the data directory. Raft cannot
// continue safely without it (a vote it cannot remember could be cast twice), so the member stops: through
// Config.OnFatal when set, otherwise hashicorp/raft panics.
var ErrStateNotDurable = errors.New("raft term or vote could not be made durable")

// stableStore passes raft's term and vote through to the store and reports a failed write before raft sees it.
type stableStore struct {
	raft.StableStore
	fail func(error)
}

func (s stableStore) Set(key, val []byte) error {
	if err := s.StableStore.Set(key, val); err != nil {
		return s.failed(key, err)
	}
	return nil
}

func (s stableStore) SetUint64(key []byte, val uint64) error {
	if err := s.StableStore.SetUint64(key, val); err != nil {
		return s.failed(key, err)
	}
	return nil
}

func (s stableStore) failed(key []byte, err error) error {
	err = fmt.Errorf("%w: %s: %w", ErrStateNotDurable, key, err)
	if s.fail != nil {
		s.fail(err)
	}
	return err
}

// ErrLogNotDurable reports that raft's log could not be written to the data directory. The member stops
// signing (as when its signed-by-me record fails): it steps down if it leads, reports the error in its status
// and readiness, and signs again only after a restart.
var ErrLogNotDurable = errors.New("raft log could not be written")

// logStore passes raft's log through to the store and disables signing when a write fails. Raft itself steps
// a leader down on such a failure, and a follower answers the leader with failures; without this, the member
// would look healthy while it can append nothing.
type logStore struct {
	raft.LogStore
	fail func(error)
}

func (s logStore) StoreLog(l *raft.Log) error {
	if err := s.LogStore.StoreLog(l); err != nil {
		return s.failed(err)
	}
	return nil
}

func (s logStore) StoreLogs(logs []*raft.Log) error {
	if err := s.LogStore.StoreLogs(logs); err != nil {
		return s.failed(err)
	}
	return nil
}

func (s logStore) DeleteRange(min, max uint64) error {
	if err := s.LogStore.DeleteRange(min, max); err != nil {
		return s.failed(err)
	}
	return nil
}

func (s logStore) failed(err error) error {
	err = fmt.Errorf("%w: %w", ErrLogNotDurable, err)
	if s.fail != nil {
		s.fail(err)
	}
	return err
}

// stateNotDurable stops signing and hands the failure to Config.OnFatal.
func (n *Node) stateNotDurable(err error) {
	n.disableSigning(err)
	n.log.Error("this member cannot continue safely: its data directory refused raft's term or vote", "err", err)
	if n.cfg.OnFatal != nil {
		n.cfg.OnFatal(err)
	}
}
