package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/phalanx-eth/phalanx/cluster/transport"
	"github.com/phalanx-eth/phalanx/fsm"
)

// ErrNotLeader is returned by operations only the leader can perform. errors.As with *NotLeaderError gives
// the current leader, if known.
var ErrNotLeader = errors.New("not the leader")

// NotLeaderError names the leader a caller should go to.
type NotLeaderError struct {
	LeaderID, LeaderAddress string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return "not the leader; no leader is known"
	}
	return fmt.Sprintf("not the leader; the leader is %s (%s)", e.LeaderID, e.LeaderAddress)
}

// Unwrap makes errors.Is(err, ErrNotLeader) hold.
func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }

// ErrSigningDisabled is returned when this node's signed-by-me record or raft log failed: it releases no share and
// refuses to lead until restarted with a working disk.
var ErrSigningDisabled = errors.New("signing disabled on this node: a write to its data directory failed")

// Option configures optional collaborators of a Node.
type Option func(*Node)

// WithRecovered sets the function that receives duties a new leader rebuilt after an election (committed
// entries whose signatures the previous leader may not have published). Re-publishing an identical
// signature is harmless.
func WithRecovered(f func(*Outcome)) Option { return func(n *Node) { n.onRecovered = f } }

// WithRecoverFilter chooses which committed duties a new leader rebuilds (for example, only those whose
// slot is still timely). The default takes every duty among the last 256 committed entries.
func WithRecoverFilter(f func(*fsm.Duty) bool) Option { return func(n *Node) { n.recoverFilter = f } }

// WithMachine supplies the state machine (for tests that inspect it); New creates one otherwise.
func WithMachine(m *fsm.Machine) Option { return func(n *Node) { n.machine = m } }

// Node is one phalanx cluster member: hashicorp/raft over the libp2p transport, the replicated state
// machine, this node's share signer and, while it leads, the combiner. New builds it and starts nothing;
// Start opens the stores and joins the cluster; Close shuts down in reverse order.
type Node struct {
	cfg Config
	log *slog.Logger

	machine  *fsm.Machine
	signer   *Signer
	combiner *Combiner
	record   *SignedByMe

	trans *transport.Transport
	store *raftboltdb.BoltStore
	snaps raft.SnapshotStore
	raft  atomic.Pointer[raft.Raft]

	metrics *Metrics

	onRecovered   func(*Outcome)
	recoverFilter func(*fsm.Duty) bool

	notifyCh chan bool
	subsMu   sync.Mutex
	subs     map[chan bool]struct{}

	pruneCh      chan struct{}
	lastFinal    atomic.Uint64
	signingError atomic.Pointer[error]

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	leaderMu     sync.Mutex
	leaderCancel context.CancelFunc

	// blocked peers are kept off the allowlist whatever the configuration says (fault injection in tests).
	blockedMu sync.Mutex
	blocked   map[peer.ID]bool
	lastCfg   *raft.Configuration

	closeOnce sync.Once

	appliedMu sync.Mutex
	appliedCh chan struct{}

	// resignCh carries the leader's requests for shares of committed entries to resignLoop; outbox holds
	// the results until the next AppendEntries response carries them.
	resignCh chan []uint64
	outboxMu sync.Mutex
	outbox   SharesMessage

	// presignCh carries appended-but-not-yet-durable entries to presignLoop, which checks, records and signs
	// them while raft fsyncs its log; presigned holds the jobs until the response that releases them.
	presignCh chan []*presignJob
	presignMu sync.Mutex
	presigned map[presignKey]*presignJob

	// ready is this node's readiness to lead and, on the leader, the members' reports (see SetReadiness).
	ready readiness
}

type presignKey struct{ index, term uint64 }

// presignJob is one entry signed ahead of raft's append; its results are released only with the response that
// reports the append durable.
type presignJob struct {
	key      presignKey
	data     []byte
	commit   uint64
	done     chan struct{}
	shares   []Share
	refusals []Refusal
	err      error
	skipped  bool // not signed ahead; the response path signs it
}

// New validates cfg and builds a node. It starts nothing.
func New(cfg Config, opts ...Option) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{
		cfg:       cfg,
		log:       cfg.Logger,
		notifyCh:  make(chan bool, 16),
		subs:      make(map[chan bool]struct{}),
		pruneCh:   make(chan struct{}, 1),
		appliedCh: make(chan struct{}),
		resignCh:  make(chan []uint64, 16),
		presignCh: make(chan []*presignJob, 64),
		presigned: make(map[presignKey]*presignJob),
	}
	if n.log == nil {
		n.log = slog.Default()
	}
	n.log = n.log.With("node", cfg.ID)
	for _, o := range opts {
		o(n)
	}
	if n.machine == nil {
		n.machine = fsm.NewMachine()
	}
	if n.recoverFilter == nil {
		n.recoverFilter = func(*fsm.Duty) bool { return true }
	}
	n.combiner = NewCombiner(n.machine, n.log)
	if n.metrics != nil {
		n.combiner.OnBadShare(func(b BadShare) { n.metrics.badShare(b.From) })
		n.combiner.onShare = n.metrics.observeShare
	}
	return n, nil
}

// Machine returns the replicated state machine (read it; never apply to it directly).
func (n *Node) Machine() *fsm.Machine { return n.machine }

// ID returns this node's server ID.
func (n *Node) ID() string { return n.cfg.ID }

// Address returns this node's full multiaddr (with /p2p/), valid after Start.
func (n *Node) Address() string { return string(n.trans.LocalAddr()) }

// PeerID returns this node's peer ID.
func (n *Node) PeerID() string { return n.cfg.Identity.PeerID() }

// TransportStats returns the transport's frame counters (valid after Start).
func (n *Node) TransportStats() transport.Stats { return n.trans.Stats() }

// Combiner exposes the leader's combiner (for metrics and bad-share callbacks).
func (n *Node) Combiner() *Combiner { return n.combiner }

// Start opens the data directory, starts the transport and raft, and bootstraps the cluster if the data
// directory is new and a bootstrap configuration is given.
func (n *Node) Start() error {
	if err := os.MkdirAll(n.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	rec, err := OpenSignedByMe(filepath.Join(n.cfg.DataDir, "signed-by-me.db"))
	if err != nil {
		return err
	}
	n.record = rec
	n.signer = NewSigner(n.machine, n.cfg.Keys, rec, n.log)

	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(n.cfg.DataDir, "raft.db")})
	if err != nil {
		rec.Close()
		return fmt.Errorf("open raft log: %w", err)
	}
	n.store = store
	snaps, err := raft.NewFileSnapshotStoreWithLogger(filepath.Join(n.cfg.DataDir, "snapshots"), 3, hclog.NewNullLogger())
	if err != nil {
		n.closeStores()
		return fmt.Errorf("open snapshot store: %w", err)
	}
	n.snaps = snaps

	tc := transport.DefaultConfig()
	tc.PrivateKey = n.cfg.Identity.key
	tc.ListenAddrs = []string{n.cfg.ListenAddr}
	tc.Hooks = hooks{n}
	tc.Logger = n.log
	tc.MaxFrameSize = 64 << 20
	tc.Allowed, err = n.allowedPeers(nil)
	if err != nil {
		n.closeStores()
		return err
	}
	trans, err := transport.New(tc)
	if err != nil {
		n.closeStores()
		return fmt.Errorf("start transport: %w", err)
	}
	n.trans = trans

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(n.cfg.ID)
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = RaftTimeouts(n.cfg.SlotDuration)
	if n.cfg.HeartbeatTimeout > 0 {
		rc.HeartbeatTimeout = n.cfg.HeartbeatTimeout
	}
	if n.cfg.ElectionTimeout > 0 {
		rc.ElectionTimeout = n.cfg.ElectionTimeout
	}
	if n.cfg.LeaderLeaseTimeout > 0 {
		rc.LeaderLeaseTimeout = n.cfg.LeaderLeaseTimeout
	}
	rc.CommitTimeout = 5 * time.Millisecond
	rc.SnapshotThreshold = n.cfg.SnapshotThreshold
	rc.TrailingLogs = n.cfg.TrailingLogs
	if n.cfg.SnapshotInterval > 0 {
		rc.SnapshotInterval = n.cfg.SnapshotInterval
	}
	rc.NotifyCh = n.notifyCh
	rc.Logger = newRaftLogger(n.log)
	rc.NoLegacyTelemetry = true
	if err := raft.ValidateConfig(rc); err != nil {
		n.closeAll()
		return fmt.Errorf("raft config: %w", err)
	}

	if len(n.cfg.Bootstrap) > 0 {
		has, err := raft.HasExistingState(store, store, snaps)
		if err != nil {
			n.closeAll()
			return fmt.Errorf("inspect raft state: %w", err)
		}
		if !has {
			var servers []raft.Server
			for _, m := range n.cfg.Bootstrap {
				suff := raft.Voter
				if !m.Voter {
					suff = raft.Nonvoter
				}
				servers = append(servers, raft.Server{Suffrage: suff, ID: raft.ServerID(m.ID), Address: raft.ServerAddress(m.Address)})
			}
			if err := raft.BootstrapCluster(rc, store, store, snaps, trans, raft.Configuration{Servers: servers}); err != nil {
				n.closeAll()
				return fmt.Errorf("bootstrap cluster: %w", err)
			}
		}
	}

	fsmAdapter := &raftFSM{machine: n.machine, onApply: n.afterApply}
	r, err := raft.NewRaft(rc, fsmAdapter, logStore{LogStore: store, fail: n.disableSigning}, stableStore{StableStore: store, fail: n.stateNotDurable}, snaps, trans)
	if err != nil {
		n.closeAll()
		return fmt.Errorf("start raft: %w", err)
	}
	n.raft.Store(r)

	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.wg.Add(6)
	go func() {
		defer n.wg.Done()
		n.combiner.Run(n.ctx)
	}()
	go n.leadershipLoop()
	go n.pruneLoop()
	go n.maintenanceLoop()
	go n.resignLoop()
	go n.presignLoop()
	n.log.Info("cluster node started", "address", string(trans.LocalAddr()), "peer_id", n.PeerID(),
		"heartbeat_timeout", rc.HeartbeatTimeout, "election_timeout", rc.ElectionTimeout)
	return nil
}

func (n *Node) closeStores() {
	if n.store != nil {
		n.store.Close()
	}
	if n.record != nil {
		n.record.Close()
	}
}

func (n *Node) closeAll() {
	if n.trans != nil {
		n.trans.Close()
	}
	n.closeStores()
}

// Close leaves the cluster's traffic (without removing itself from the configuration) and closes every
// store: raft first, then the transport, then the log and the signed-by-me record.
func (n *Node) Close() error {
	var errs []error
	n.closeOnce.Do(func() {
		if n.cancel != nil {
			n.cancel()
		}
		if r := n.raft.Load(); r != nil {
			if err := r.Shutdown().Error(); err != nil {
				errs = append(errs, fmt.Errorf("raft shutdown: %w", err))
			}
		}
		n.wg.Wait()
		if n.trans != nil {
			if err := n.trans.Close(); err != nil {
				errs = append(errs, fmt.Errorf("transport close: %w", err))
			}
		}
		if n.store != nil {
			if err := n.store.Close(); err != nil {
				errs = append(errs, fmt.Errorf("raft log close: %w", err))
			}
		}
		if n.record != nil {
			if err := n.record.Close(); err != nil {
				errs = append(errs, fmt.Errorf("signed-by-me close: %w", err))
			}
		}
	})
	return errors.Join(errs...)
}

func (n *Node) r() *raft.Raft { return n.raft.Load() }

// IsLeader reports whether this node currently leads.
func (n *Node) IsLeader() bool {
	r := n.r()
	return r != nil && r.State() == raft.Leader
}

// Leader returns the current leader's server ID and address, empty if unknown.
func (n *Node) Leader() (id, address string) {
	r := n.r()
	if r == nil {
		return "", ""
	}
	addr, lid := r.LeaderWithID()
	return string(lid), string(addr)
}

func (n *Node) notLeader() error {
	id, addr := n.Leader()
	return &NotLeaderError{LeaderID: id, LeaderAddress: addr}
}

// SubscribeLeadership returns a channel that receives true when this node becomes leader and false when it
// stops; the channel keeps only the latest value. Call the returned function to unsubscribe.
func (n *Node) SubscribeLeadership() (<-chan bool, func()) {
	ch := make(chan bool, 1)
	n.subsMu.Lock()
	n.subs[ch] = struct{}{}
	n.subsMu.Unlock()
	return ch, func() {
		n.subsMu.Lock()
		delete(n.subs, ch)
		n.subsMu.Unlock()
	}
}

// Propose appends an entry to the log and waits for it to commit. For a duty entry it also waits (until ctx
// ends or ProposeTimeout) for the group signature of every approved item. An entry the state machine would
// reject outright is not appended; its Outcome has Index 0 and the rejection.
func (n *Node) Propose(ctx context.Context, e fsm.Entry) (*Outcome, error) {
	queued := queuedHook(ctx)
	defer queued()
	r := n.r()
	if r == nil || r.State() != raft.Leader {
		return nil, n.notLeader()
	}
	if p := n.signingError.Load(); p != nil {
		return nil, fmt.Errorf("%w: %v", ErrSigningDisabled, *p)
	}
	data, err := fsm.Encode(e)
	if err != nil {
		return nil, fmt.Errorf("encode entry: %w", err)
	}
	pre := n.machine.Check(data)
	if pre.Status != fsm.StatusApplied || (e.Type() == fsm.TypeDuty && !anyApproved(pre)) {
		return &Outcome{Result: pre}, nil
	}
	// The leader's own shares never leave the node except inside a group signature, so its signed-by-me
	// record only has to be durable before the combiner publishes anything: record and sign while the entry
	// replicates, and wait for both.
	type ownResult struct {
		shares []Share
		err    error
	}
	isDuty := e.Type() == fsm.TypeDuty
	ownCh := make(chan ownResult, 1)
	if isDuty {
		go func() {
			shares, _, err := n.signer.SignEntry(0, data)
			ownCh <- ownResult{shares, err}
		}()
	} else {
		ownCh <- ownResult{}
	}
	timeout := n.cfg.ProposeTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	start := time.Now()
	fut := r.Apply(data, timeout)
	queued()
	ownRes := <-ownCh
	if ownRes.err != nil {
		n.disableSigning(ownRes.err)
		return nil, fmt.Errorf("%w: %v", ErrSigningDisabled, ownRes.err)
	}
	own := ownRes.shares
	if err := fut.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrLeadershipTransferInProgress) {
			return nil, fmt.Errorf("propose: %w (%v)", n.notLeader(), err)
		}
		return nil, fmt.Errorf("propose: %w", err)
	}
	res, _ := fut.Response().(*fsm.Result)
	if res == nil {
		return nil, fmt.Errorf("propose: log index %d produced no result", fut.Index())
	}
	n.metrics.observeCommit(time.Since(start))
	out := &Outcome{Index: fut.Index(), Result: res}
	if !isDuty || res.Status != fsm.StatusApplied {
		return out, nil
	}
	n.combiner.Committed(fut.Index(), res, own, n.cfg.ID)
	wctx, cancel := context.WithTimeout(ctx, n.cfg.ProposeTimeout)
	defer cancel()
	out, err = n.combiner.Wait(wctx, fut.Index())
	if err != nil {
		n.metrics.incIncomplete()
	}
	n.metrics.observeSigned(time.Since(start), out)
	return out, err
}

type queuedKey struct{}

// WithQueued returns a context that makes Propose call f once, as soon as the entry is queued for the log
// (an entry proposed after that comes after it in the log, so followers sign it later) or Propose gave up
// before that. The scheduler uses it to put a slot's attestations ahead of its other duties.
func WithQueued(ctx context.Context, f func()) context.Context {
	return context.WithValue(ctx, queuedKey{}, f)
}

// NotifyQueued calls the WithQueued function of ctx, if any. Implementations of the scheduler's Cluster
// other than Node call it when they have queued an entry.
func NotifyQueued(ctx context.Context) { queuedHook(ctx)() }

// queuedHook returns the WithQueued function of ctx wrapped to run at most once, or a no-op.
func queuedHook(ctx context.Context) func() {
	f, _ := ctx.Value(queuedKey{}).(func())
	if f == nil {
		return func() {}
	}
	var once sync.Once
	return func() { once.Do(f) }
}

func anyApproved(r *fsm.Result) bool {
	for _, it := range r.Items {
		if it.Verdict.Approved {
			return true
		}
	}
	return false
}

func (n *Node) disableSigning(err error) {
	if n.signingError.CompareAndSwap(nil, &err) {
		n.log.Error("a write to the data directory failed: this node stops signing and steps down", "err", err)
		if r := n.r(); r != nil && r.State() == raft.Leader {
			go func() {
				if err := r.LeadershipTransfer().Error(); err != nil {
					n.log.Error("leadership transfer after record failure", "err", err)
				}
			}()
		}
	}
}

// SigningError returns the record failure that disabled signing on this node, if any.
func (n *Node) SigningError() error {
	if p := n.signingError.Load(); p != nil {
		return *p
	}
	return nil
}

// afterApply runs on raft's FSM goroutine after each command.
func (n *Node) afterApply(index uint64, data []byte, res *fsm.Result) {
	n.notifyApplied()
	if res == nil || res.Type != fsm.TypeChainView || res.Status != fsm.StatusApplied {
		return
	}
	if f := n.machine.ChainView().FinalizedEpoch; f > n.lastFinal.Load() {
		n.lastFinal.Store(f)
		select {
		case n.pruneCh <- struct{}{}:
		default:
		}
	}
}

func (n *Node) pruneLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.pruneCh:
		}
		spec, ok := n.machine.Spec()
		if !ok {
			continue
		}
		f := n.lastFinal.Load()
		if err := n.record.Prune(f, spec.SlotsPerEpoch); err != nil {
			n.disableSigning(err)
			continue
		}
		n.log.Debug("pruned signed-by-me record", "finalized_epoch", f)
	}
}

func (n *Node) maintenanceLoop() {
	defer n.wg.Done()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	var lastConfigIndex uint64
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		n.combiner.Expire()
		// Keep the transport allowlist in step with the replicated configuration.
		if r := n.r(); r != nil {
			cf := r.GetConfiguration()
			if cf.Error() == nil && cf.Index() != lastConfigIndex {
				lastConfigIndex = cf.Index()
				n.refreshAllowlist(cf.Configuration())
			}
		}
	}
}

// allowedPeers is the lock file's list plus the bootstrap and current members.
func (n *Node) allowedPeers(cfg *raft.Configuration) ([]peer.ID, error) {
	set := make(map[peer.ID]bool)
	for _, p := range n.cfg.AllowedPeers {
		id, err := decodePeerID(p)
		if err != nil {
			return nil, fmt.Errorf("allowed peer %q: %w", p, err)
		}
		set[id] = true
	}
	for _, m := range n.cfg.Bootstrap {
		id, err := peerIDOfAddress(m.Address)
		if err != nil {
			return nil, err
		}
		set[id] = true
	}
	if cfg != nil {
		for _, s := range cfg.Servers {
			if id, err := peerIDOfAddress(string(s.Address)); err == nil {
				set[id] = true
			}
		}
	}
	n.blockedMu.Lock()
	for id := range n.blocked {
		delete(set, id)
	}
	n.blockedMu.Unlock()
	out := make([]peer.ID, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

func (n *Node) refreshAllowlist(cfg raft.Configuration) {
	n.blockedMu.Lock()
	n.lastCfg = &cfg
	n.blockedMu.Unlock()
	ids, err := n.allowedPeers(&cfg)
	if err != nil {
		n.log.Warn("allowlist refresh", "err", err)
		return
	}
	n.trans.SetAllowed(ids)
}

func (n *Node) leadershipLoop() {
	defer n.wg.Done()
	for {
		var leader bool
		select {
		case <-n.ctx.Done():
			n.stopLeading()
			return
		case leader = <-n.notifyCh:
		}
		n.subsMu.Lock()
		for ch := range n.subs {
			select {
			case <-ch:
			default:
			}
			ch <- leader
		}
		n.subsMu.Unlock()
		if r := n.r(); r != nil {
			n.metrics.setState(r.State())
		}
		if leader {
			n.log.Info("became leader", "term", n.r().CurrentTerm())
			n.startLeading()
		} else {
			n.log.Info("lost leadership")
			n.stopLeading()
		}
	}
}

func (n *Node) startLeading() {
	n.leaderMu.Lock()
	defer n.leaderMu.Unlock()
	if n.leaderCancel != nil {
		n.leaderCancel()
	}
	ctx, cancel := context.WithCancel(n.ctx)
	n.leaderCancel = cancel
	if p := n.signingError.Load(); p != nil {
		go n.disableSigning(*p)
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.recoverCommitted(ctx)
	}()
}

func (n *Node) stopLeading() {
	n.leaderMu.Lock()
	defer n.leaderMu.Unlock()
	if n.leaderCancel != nil {
		n.leaderCancel()
		n.leaderCancel = nil
	}
	n.combiner.Reset()
}

// recoverWindow is how many committed entries a new leader looks back through for duties to rebuild.
const recoverWindow = 256

// recoverCommitted runs when this node becomes leader: a barrier makes sure every entry committed in earlier
// terms is applied here, then duties among the recent committed entries are signed again (BLS is
// deterministic: the shares are identical) and their shares requested from the followers, so that whatever
// the previous leader did not publish is rebuilt and handed to the recovered callback.
func (n *Node) recoverCommitted(ctx context.Context) {
	r := n.r()
	if err := r.Barrier(n.cfg.ProposeTimeout).Error(); err != nil {
		n.log.Warn("barrier after election failed", "err", err)
		return
	}
	last := r.AppliedIndex()
	first, err := n.store.FirstIndex()
	if err != nil {
		n.log.Warn("recover: first log index", "err", err)
		return
	}
	if last > recoverWindow && last-recoverWindow+1 > first {
		first = last - recoverWindow + 1
	}
	var waiting []uint64
	for idx := first; idx <= last && idx > 0; idx++ {
		var l raft.Log
		if err := n.store.GetLog(idx, &l); err != nil || l.Type != raft.LogCommand {
			continue
		}
		e, err := fsm.Decode(l.Data)
		if err != nil {
			continue
		}
		duty, ok := e.(*fsm.Duty)
		if !ok || !n.recoverFilter(duty) {
			continue
		}
		res := n.machine.Check(l.Data)
		if res.Status != fsm.StatusApplied || !anyApproved(res) {
			continue
		}
		own, _, err := n.signer.SignEntry(idx, l.Data)
		if err != nil {
			n.disableSigning(err)
			return
		}
		n.combiner.Committed(idx, res, own, n.cfg.ID)
		waiting = append(waiting, idx)
	}
	if len(waiting) == 0 {
		return
	}
	n.log.Info("rebuilding committed duties after election", "entries", len(waiting), "from_index", waiting[0], "to_index", waiting[len(waiting)-1])
	for _, idx := range waiting {
		wctx, cancel := context.WithTimeout(ctx, n.cfg.ProposeTimeout)
		out, err := n.combiner.Wait(wctx, idx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil && out.Result == nil {
			continue
		}
		if n.onRecovered != nil {
			n.onRecovered(out)
		}
	}
}

// hooks connects the transport's extension points to the signer and the combiner.
type hooks struct{ n *Node }

func (h hooks) RequestExtensions(target raft.ServerID, _ *raft.AppendEntriesRequest) []transport.Extension {
	idx := h.n.combiner.Requests(string(target))
	if len(idx) == 0 {
		return nil
	}
	h.n.log.Debug("requesting shares", "peer", string(target), "indices", idx)
	return []transport.Extension{{Type: ExtShareRequest, Data: (&ShareRequest{Indices: idx}).Marshal()}}
}

// BeforeAppendEntries queues the request's new commands for presignLoop, so that checking, recording and
// signing overlap raft's own append and fsync. Nothing is released here: OnAppendEntriesHandled hands the
// results out only when raft has answered Success. If raft refuses the entries, the signed-by-me record may
// hold a message that never left the node, which only makes it stricter.
func (h hooks) BeforeAppendEntries(req *raft.AppendEntriesRequest) {
	n := h.n
	if n.signingError.Load() != nil || n.signer == nil || n.ctx == nil {
		return
	}
	var jobs []*presignJob
	for _, l := range req.Entries {
		if l.Index <= req.LeaderCommitIndex || l.Type != raft.LogCommand {
			continue
		}
		if t, ok := fsm.TypeOf(l.Data); !ok || t != fsm.TypeDuty {
			continue
		}
		jobs = append(jobs, &presignJob{key: presignKey{l.Index, l.Term}, data: l.Data, commit: req.LeaderCommitIndex, done: make(chan struct{})})
	}
	if len(jobs) == 0 {
		return
	}
	n.presignMu.Lock()
	for _, j := range jobs {
		n.presigned[j.key] = j
	}
	n.presignMu.Unlock()
	// Never hold the request back: when the worker is behind, these entries are signed on the response path.
	select {
	case n.presignCh <- jobs:
	default:
		n.presignMu.Lock()
		for _, j := range jobs {
			delete(n.presigned, j.key)
		}
		n.presignMu.Unlock()
	}
}

func (n *Node) countRefusals(refusals []Refusal) {
	for _, r := range refusals {
		if strings.HasPrefix(r.Reason, "signed-by-me") {
			n.metrics.refused("signed_by_me")
		} else {
			n.metrics.refused("state_machine")
		}
	}
}

// takePresigned removes and returns the job prepared for l, if any.
func (n *Node) takePresigned(l *raft.Log) *presignJob {
	n.presignMu.Lock()
	defer n.presignMu.Unlock()
	k := presignKey{l.Index, l.Term}
	j, ok := n.presigned[k]
	if !ok {
		return nil
	}
	delete(n.presigned, k)
	if !bytes.Equal(j.data, l.Data) {
		return nil
	}
	return j
}

func (h hooks) OnAppendEntriesHandled(req *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse, reqExt []transport.Extension) []transport.Extension {
	ext := h.shares(req, resp, reqExt)
	if r := h.n.readinessExtension(); r != nil {
		ext = append(ext, *r)
	}
	return ext
}

// shares signs the entries raft accepted and returns them, with any re-requested shares, as an ExtShares
// extension.
func (h hooks) shares(req *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse, reqExt []transport.Extension) []transport.Extension {
	n := h.n
	if n.signingError.Load() != nil || n.signer == nil {
		return nil
	}
	var msg SharesMessage
	sign := func(index uint64, data []byte) bool {
		shares, refusals, err := n.signer.SignEntry(index, data)
		if err != nil {
			n.disableSigning(err)
			return false
		}
		msg.Shares = append(msg.Shares, shares...)
		msg.Refusals = append(msg.Refusals, refusals...)
		n.countRefusals(refusals)
		return true
	}
	if !resp.Success {
		// Raft refused the entries: drop whatever was prepared for them.
		for _, l := range req.Entries {
			n.takePresigned(l)
		}
	}
	if resp.Success && len(req.Entries) > 0 {
		// Judge the entries against the state as the leader had committed it when it sent them: raft hands
		// newly committed entries to the state machine asynchronously, so wait (briefly) until they are
		// applied here. Otherwise a validator registered just before its first duty would look unknown.
		want := req.LeaderCommitIndex
		if last := req.Entries[len(req.Entries)-1].Index; last-1 < want {
			want = last - 1
		}
		n.waitApplied(want)
		for _, l := range req.Entries {
			// Entries the leader already committed (a lagging follower catching up) are not signed: the
			// leader had its shares from others, and asks for any it still misses. Signing a backlog here
			// would only delay this response and load the machine when it can least afford it.
			if l.Index <= req.LeaderCommitIndex {
				continue
			}
			if j := n.takePresigned(l); j != nil {
				select {
				case <-j.done:
				case <-n.ctx.Done():
					return nil
				}
				if j.err != nil {
					n.disableSigning(j.err)
					return nil
				}
				if j.skipped {
					n.waitApplied(want)
					if !sign(l.Index, l.Data) {
						return nil
					}
					continue
				}
				msg.Shares = append(msg.Shares, j.shares...)
				msg.Refusals = append(msg.Refusals, j.refusals...)
				n.countRefusals(j.refusals)
				continue
			}
			if l.Type == raft.LogCommand && !sign(l.Index, l.Data) {
				return nil
			}
		}
	}
	// Requests for shares of committed entries are signed off the replication path, so that heartbeat
	// responses (and with them the leader's lease) never wait for BLS work; the shares ride on a later
	// response.
	for _, ext := range reqExt {
		if ext.Type != ExtShareRequest {
			continue
		}
		q, err := UnmarshalShareRequest(ext.Data)
		if err != nil {
			n.log.Warn("malformed share request from leader", "err", err)
			continue
		}
		select {
		case n.resignCh <- q.Indices:
		default: // busy: the leader asks again
		}
	}
	n.outboxMu.Lock()
	msg.Shares = append(msg.Shares, n.outbox.Shares...)
	msg.Refusals = append(msg.Refusals, n.outbox.Refusals...)
	n.outbox = SharesMessage{}
	n.outboxMu.Unlock()
	if len(msg.Shares) == 0 && len(msg.Refusals) == 0 {
		return nil
	}
	n.log.Debug("sending shares", "shares", len(msg.Shares), "refusals", len(msg.Refusals), "entries", len(req.Entries))
	for _, r := range msg.Refusals {
		n.log.Debug("refused", "log_index", r.Index, "item", r.Item, "reason", r.Reason)
	}
	return []transport.Extension{{Type: ExtShares, Data: msg.Marshal()}}
}

func (h hooks) OnResponseExtensions(from raft.ServerID, _ *raft.AppendEntriesResponse, ext []transport.Extension) {
	for _, e := range ext {
		if e.Type == ExtReadiness {
			r, err := UnmarshalReadiness(e.Data)
			if err != nil {
				h.n.log.Warn("malformed readiness report from member", "peer", string(from), "err", err)
				continue
			}
			h.n.recordReadiness(string(from), r)
			continue
		}
		if e.Type != ExtShares {
			continue
		}
		msg, err := UnmarshalSharesMessage(e.Data)
		if err != nil {
			h.n.log.Warn("malformed shares from member", "peer", string(from), "err", err)
			continue
		}
		h.n.combiner.Enqueue(string(from), msg)
	}
}

// newRaftLogger routes hashicorp/raft's logs into slog at warn level and above.
func newRaftLogger(log *slog.Logger) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:   "raft",
		Level:  hclog.Warn,
		Output: slogWriter{log},
	})
}

type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Warn("raft", "msg", string(trimNewline(p)))
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}

var _ io.Writer = slogWriter{}

// setBlocked cuts this node off from the given peers (both directions, at the transport) until called again
// without them. It injects network partitions in tests.
func (n *Node) setBlocked(peers []string) {
	n.blockedMu.Lock()
	n.blocked = make(map[peer.ID]bool)
	for _, p := range peers {
		if id, err := decodePeerID(p); err == nil {
			n.blocked[id] = true
		}
	}
	cfg := n.lastCfg
	n.blockedMu.Unlock()
	if cfg == nil {
		if r := n.r(); r != nil {
			if cf := r.GetConfiguration(); cf.Error() == nil {
				c := cf.Configuration()
				cfg = &c
			}
		}
	}
	if cfg != nil {
		n.refreshAllowlist(*cfg)
	}
}

// presignLoop signs, in arrival (log) order, the entries BeforeAppendEntries queued.
func (n *Node) presignLoop() {
	defer n.wg.Done()
	for {
		var jobs []*presignJob
		select {
		case <-n.ctx.Done():
			return
		case jobs = <-n.presignCh:
		}
		for _, j := range jobs {
			want := j.commit
			if j.key.index-1 < want {
				want = j.key.index - 1
			}
			switch {
			case n.signingError.Load() != nil:
				j.err = ErrSigningDisabled
			case n.machine.AppliedIndex() < n.lastCommandAtOrBelow(want):
				// The state the entry must be judged against is not applied here yet, and may only be once raft
				// has handled this very request: never wait for it here (that would hold the request back);
				// the response path signs it instead.
				j.skipped = true
			default:
				j.shares, j.refusals, j.err = n.signer.SignEntry(j.key.index, j.data)
			}
			close(j.done)
		}
	}
}

// maxOutbox bounds the shares waiting for a response to carry them.
const maxOutbox = 1 << 14

// resignLoop signs again, off the replication path, the committed entries the leader asked for.
func (n *Node) resignLoop() {
	defer n.wg.Done()
	for {
		var indices []uint64
		select {
		case <-n.ctx.Done():
			return
		case indices = <-n.resignCh:
		}
		r := n.r()
		if r == nil || n.signingError.Load() != nil {
			continue
		}
		// Only committed entries: an uncommitted entry at that index may still be replaced, and signing it
		// would put a stale message in the signed-by-me record.
		commit := r.CommitIndex()
		for _, idx := range indices {
			if idx > commit {
				continue
			}
			data, ok := n.logEntry(idx)
			if !ok {
				continue
			}
			n.waitApplied(idx - 1)
			shares, refusals, err := n.signer.SignEntry(idx, data)
			if err != nil {
				n.disableSigning(err)
				break
			}
			n.outboxMu.Lock()
			if len(n.outbox.Shares)+len(shares) <= maxOutbox {
				n.outbox.Shares = append(n.outbox.Shares, shares...)
				n.outbox.Refusals = append(n.outbox.Refusals, refusals...)
			}
			n.outboxMu.Unlock()
		}
	}
}

// waitApplied waits, at most 50 ms, until the state machine has applied the last command at or below index
// (raft never hands no-op entries to the state machine, so those are skipped).
func (n *Node) waitApplied(index uint64) {
	index = n.lastCommandAtOrBelow(index)
	timer := time.NewTimer(50 * time.Millisecond)
	defer timer.Stop()
	for {
		n.appliedMu.Lock()
		ch := n.appliedCh
		n.appliedMu.Unlock()
		if n.machine.AppliedIndex() >= index {
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			return
		}
	}
}

// lastCommandAtOrBelow returns the index of the last command entry at or below index in the local log (0 if
// none): raft hands only commands to the state machine.
func (n *Node) lastCommandAtOrBelow(index uint64) uint64 {
	first, _ := n.store.FirstIndex()
	for ; index > 0 && index >= first; index-- {
		if _, ok := n.logEntry(index); ok {
			return index
		}
	}
	return index
}

// notifyApplied wakes waitApplied callers.
func (n *Node) notifyApplied() {
	n.appliedMu.Lock()
	close(n.appliedCh)
	n.appliedCh = make(chan struct{})
	n.appliedMu.Unlock()
}

// logEntry returns the command stored at a log index of this node's log.
func (n *Node) logEntry(idx uint64) ([]byte, bool) {
	var l raft.Log
	if err := n.store.GetLog(idx, &l); err != nil || l.Type != raft.LogCommand {
		return nil, false
	}
	return l.Data, true
}
