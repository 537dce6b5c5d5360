package transport

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// testFSM is a tiny state machine: the ordered list of applied commands.
type testFSM struct {
	mu   sync.Mutex
	data [][]byte
}

func (f *testFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data = append(f.data, bytes.Clone(l.Data))
	return len(f.data)
}

func (f *testFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &testSnapshot{data: append([][]byte(nil), f.data...)}, nil
}

func (f *testFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	var data [][]byte
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return errors.New("corrupt test snapshot")
		}
		data = append(data, b[k:k+int(n)])
		b = b[k+int(n):]
	}
	f.mu.Lock()
	f.data = data
	f.mu.Unlock()
	return nil
}

// state returns the number of applied commands and a digest of them.
func (f *testFSM) state() (int, [32]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := sha256.New()
	for _, d := range f.data {
		h.Write(binary.AppendUvarint(nil, uint64(len(d))))
		h.Write(d)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return len(f.data), sum
}

type testSnapshot struct{ data [][]byte }

func (s *testSnapshot) Persist(sink raft.SnapshotSink) error {
	for _, d := range s.data {
		if _, err := sink.Write(binary.AppendUvarint(nil, uint64(len(d)))); err != nil {
			_ = sink.Cancel()
			return err
		}
		if _, err := sink.Write(d); err != nil {
			_ = sink.Cancel()
			return err
		}
	}
	return sink.Close()
}

func (s *testSnapshot) Release() {}

const (
	extShareRequest uint16 = 1
	extShares       uint16 = 2
)

// recHooks plays both roles of the cluster layer: as leader it asks every
// target by name and records what comes back; as follower it answers each
// successful append with the list of indices it appended.
type recHooks struct {
	mu        sync.Mutex
	requested int
	attached  []string                   // follower: extension payloads attached to responses
	indices   map[uint64]bool            // follower: indices named in those payloads
	reqExt    [][]Extension              // follower: request extensions seen
	received  map[raft.ServerID][]string // leader: payloads received, by follower
}

func newRecHooks() *recHooks {
	return &recHooks{indices: map[uint64]bool{}, received: map[raft.ServerID][]string{}}
}

func (h *recHooks) RequestExtensions(target raft.ServerID, _ *raft.AppendEntriesRequest) []Extension {
	h.mu.Lock()
	h.requested++
	h.mu.Unlock()
	return []Extension{{Type: extShareRequest, Data: []byte(target)}}
}

func (h *recHooks) OnAppendEntriesHandled(req *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse, reqExt []Extension) []Extension {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reqExt = append(h.reqExt, reqExt)
	if !resp.Success || len(req.Entries) == 0 {
		return nil
	}
	var b []byte
	for _, e := range req.Entries {
		b = binary.AppendUvarint(b, e.Index)
		h.indices[e.Index] = true
	}
	h.attached = append(h.attached, string(b))
	return []Extension{{Type: extShares, Data: b}}
}

func (h *recHooks) OnResponseExtensions(from raft.ServerID, _ *raft.AppendEntriesResponse, ext []Extension) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range ext {
		if e.Type == extShares {
			h.received[from] = append(h.received[from], string(e.Data))
		}
	}
}

type testNode struct {
	id    raft.ServerID
	key   crypto.PrivKey
	trans *Transport
	raft  *raft.Raft
	fsm   *testFSM
	hooks *recHooks
	dead  bool
}

type clusterOpts struct {
	maxPipeline       int
	hooks             bool
	snapshotThreshold uint64
	trailingLogs      uint64
}

type testCluster struct {
	t             testing.TB
	opts          clusterOpts
	nodes         []*testNode
	leaderChanges atomic.Int64 // applies retried after a lost leadership
}

func testRaftConfig(id raft.ServerID, o clusterOpts) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = id
	c.HeartbeatTimeout = 400 * time.Millisecond
	c.ElectionTimeout = 400 * time.Millisecond
	c.LeaderLeaseTimeout = 250 * time.Millisecond
	c.LogOutput = io.Discard
	c.LogLevel = "ERROR"
	if o.snapshotThreshold > 0 {
		c.SnapshotThreshold = o.snapshotThreshold
		c.TrailingLogs = o.trailingLogs
	}
	return c
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func mustKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	k, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func peerIDOf(t testing.TB, k crypto.PrivKey) peer.ID {
	t.Helper()
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// newTestNode starts a transport and raft for one node; bootstrap, when
// non-empty, is the initial configuration.
func (c *testCluster) newTestNode(i int, key crypto.PrivKey, allowed []peer.ID) *testNode {
	t := c.t
	t.Helper()
	n := &testNode{id: raft.ServerID(fmt.Sprintf("node-%d", i)), key: key, fsm: &testFSM{}}
	cfg := DefaultConfig()
	cfg.PrivateKey = key
	cfg.Allowed = allowed
	cfg.MaxPipeline = c.opts.maxPipeline
	cfg.Timeout = 5 * time.Second
	cfg.Logger = quietLogger()
	if c.opts.hooks {
		n.hooks = newRecHooks()
		cfg.Hooks = n.hooks
	}
	tr, err := New(cfg)
	if err != nil {
		t.Fatalf("new transport: %v", err)
	}
	n.trans = tr
	c.nodes = append(c.nodes, n)
	return n
}

func (c *testCluster) startRaft(n *testNode, bootstrap *raft.Configuration) {
	t := c.t
	t.Helper()
	snaps, err := raft.NewFileSnapshotStore(t.TempDir(), 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	store := raft.NewInmemStore()
	conf := testRaftConfig(n.id, c.opts)
	if bootstrap != nil {
		if err := raft.BootstrapCluster(conf, store, store, snaps, n.trans, *bootstrap); err != nil {
			t.Fatalf("bootstrap %s: %v", n.id, err)
		}
	}
	r, err := raft.NewRaft(conf, n.fsm, store, store, snaps, n.trans)
	if err != nil {
		t.Fatalf("new raft %s: %v", n.id, err)
	}
	n.raft = r
}

// makeCluster starts n bootstrapped voters over the libp2p transport.
func makeCluster(t testing.TB, n int, o clusterOpts) *testCluster {
	t.Helper()
	c := &testCluster{t: t, opts: o}
	t.Cleanup(c.shutdown)
	keys := make([]crypto.PrivKey, n)
	ids := make([]peer.ID, n)
	for i := range keys {
		keys[i] = mustKey(t)
		ids[i] = peerIDOf(t, keys[i])
	}
	var conf raft.Configuration
	for i := range keys {
		node := c.newTestNode(i, keys[i], ids)
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: node.id, Address: node.trans.LocalAddr()})
	}
	for _, node := range c.nodes {
		c.startRaft(node, &conf)
	}
	return c
}

func (c *testCluster) kill(n *testNode) {
	if n.dead {
		return
	}
	n.dead = true
	if n.raft != nil {
		_ = n.raft.Shutdown().Error()
	}
	_ = n.trans.Close()
}

func (c *testCluster) shutdown() {
	for _, n := range c.nodes {
		c.kill(n)
	}
}

func (c *testCluster) alive() []*testNode {
	var out []*testNode
	for _, n := range c.nodes {
		if !n.dead {
			out = append(out, n)
		}
	}
	return out
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// leader waits until exactly one live node is leader and returns it.
func (c *testCluster) leader() *testNode {
	c.t.Helper()
	var l *testNode
	waitFor(c.t, 20*time.Second, "a leader", func() bool {
		l = nil
		for _, n := range c.alive() {
			if n.raft.State() == raft.Leader {
				if l != nil {
					return false
				}
				l = n
			}
		}
		return l != nil
	})
	return l
}

// apply commits cmd through the current leader, retrying across leader changes.
func (c *testCluster) apply(cmd []byte) uint64 {
	c.t.Helper()
	idx, err := c.tryApply(cmd)
	if err != nil {
		c.t.Fatal(err)
	}
	return idx
}

// tryApply commits cmd through the current leader. A busy machine can cost
// the leader its lease; the command is then retried on the next leader, so a
// command may be applied twice (waitConverged allows for that).
func (c *testCluster) tryApply(cmd []byte) (uint64, error) {
	for attempt := 0; attempt < 10; attempt++ {
		var l *testNode
		for _, n := range c.alive() {
			if n.raft.State() == raft.Leader {
				l = n
			}
		}
		if l == nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		f := l.raft.Apply(cmd, 10*time.Second)
		err := f.Error()
		if err == nil {
			return f.Index(), nil
		}
		if !errors.Is(err, raft.ErrNotLeader) && !errors.Is(err, raft.ErrLeadershipLost) && !errors.Is(err, raft.ErrEnqueueTimeout) {
			return 0, err
		}
		c.leaderChanges.Add(1)
	}
	return 0, errors.New("no stable leader")
}

// applyMany commits count commands from workers goroutines and returns their indices.
func (c *testCluster) applyMany(count, workers, size int) []uint64 {
	c.t.Helper()
	var (
		mu      sync.Mutex
		indices []uint64
		wg      sync.WaitGroup
		errs    = make(chan error, workers)
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < count; i += workers {
				cmd := make([]byte, size)
				copy(cmd, fmt.Sprintf("cmd-%06d", i))
				idx, err := c.tryApply(cmd)
				if err != nil {
					errs <- fmt.Errorf("apply %d: %w", i, err)
					return
				}
				mu.Lock()
				indices = append(indices, idx)
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		c.t.Fatal(err)
	}
	return indices
}

// waitConverged waits until every live node applied the same commands, at
// least want of them (exactly want unless an apply was retried), and
// returns how many.
func (c *testCluster) waitConverged(want int) int {
	c.t.Helper()
	var count int
	waitFor(c.t, 30*time.Second, fmt.Sprintf("every FSM to hold %d commands", want), func() bool {
		var first [32]byte
		for i, n := range c.alive() {
			got, sum := n.fsm.state()
			if i == 0 {
				first, count = sum, got
			} else if sum != first || got != count {
				return false
			}
		}
		return count >= want && (count == want || c.leaderChanges.Load() > 0)
	})
	return count
}
