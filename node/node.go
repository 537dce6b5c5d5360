package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/phalanx-eth/phalanx/cluster"
	"github.com/phalanx-eth/phalanx/fsm"
)

// Node is one phalanx node: a cluster member (raft log, share signer, combiner) and, while it leads, the duty
// scheduler that drives the validators through its beacon nodes. New builds it and starts nothing; Run runs it
// until its context ends.
type Node struct {
	cfg     Config
	log     *slog.Logger
	lock    *Lock
	index   uint32
	beacon  Beacon
	cl      *cluster.Node
	sched   *Scheduler
	metrics *Metrics

	mu       sync.Mutex
	schedErr error
}

// Run builds a node from cfg and runs it until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	n, err := New(cfg)
	if err != nil {
		return err
	}
	return n.Run(ctx)
}

// New validates cfg, loads the lock file, this node's identity and its share keystores (each checked against
// the lock), and builds the cluster member, the beacon client and the scheduler. It starts nothing.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	lock, err := LoadLock(cfg.LockFile)
	if err != nil {
		return nil, err
	}
	index, ok := lock.MemberIndex(cfg.ID)
	if !ok {
		return nil, fmt.Errorf("%w: member %q is not in lock file %s", ErrInvalidConfig, cfg.ID, cfg.LockFile)
	}
	self := lock.Members[index-1]
	id, err := cluster.LoadIdentity(cfg.IdentityFile)
	if err != nil {
		return nil, err
	}
	if id.PeerID() != self.PeerID {
		return nil, fmt.Errorf("%w: identity %s has peer ID %s; the lock file gives member %q peer ID %s", ErrInvalidConfig,
			cfg.IdentityFile, id.PeerID(), cfg.ID, self.PeerID)
	}
	password, err := ReadPasswordFile(cfg.PasswordFile)
	if err != nil {
		return nil, err
	}
	ring, err := LoadShares(cfg.KeysDir, password, lock, index)
	if err != nil {
		return nil, err
	}
	beacon := cfg.Beacon
	if beacon == nil {
		var bs []Beacon
		for _, u := range cfg.BeaconURLs {
			bs = append(bs, NewHTTPBeacon(u, cfg.BeaconTimeout))
		}
		beacon = NewFallback(bs...)
	}
	n := &Node{cfg: cfg, log: log.With("node", cfg.ID), lock: lock, index: index, beacon: beacon}

	cc := cluster.DefaultConfig()
	cc.ID = cfg.ID
	cc.DataDir = cfg.DataDir
	cc.Identity = id
	cc.ListenAddr = cfg.ListenAddr
	cc.SlotDuration = cfg.SlotDuration
	cc.ProposeTimeout = cfg.ProposeTimeout
	cc.Keys = ring
	cc.Logger = log
	cc.OnFatal = cfg.OnFatal
	if cfg.SnapshotThreshold > 0 {
		cc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.TrailingLogs > 0 {
		cc.TrailingLogs = cfg.TrailingLogs
	}
	if cfg.SnapshotInterval > 0 {
		cc.SnapshotInterval = cfg.SnapshotInterval
	}
	for _, m := range lock.Members {
		cc.Bootstrap = append(cc.Bootstrap, cluster.Member{ID: m.ID, Address: m.Address, Voter: true})
		cc.AllowedPeers = append(cc.AllowedPeers, m.PeerID)
	}
	var graffiti [32]byte
	copy(graffiti[:], cfg.Graffiti)
	// The scheduler is created before the cluster node so the recovery hooks can point at it.
	var sched *Scheduler
	opts := []cluster.Option{
		cluster.WithRecovered(func(o *cluster.Outcome) { sched.Recovered(o) }),
		cluster.WithRecoverFilter(func(d *fsm.Duty) bool { return sched.RecoverFilter(d) }),
	}
	var metrics *Metrics
	if cfg.Registry != nil {
		opts = append(opts, cluster.WithMetrics(cluster.NewMetrics(cfg.Registry)))
		metrics = NewMetrics(cfg.Registry)
		if f, ok := beacon.(*Fallback); ok {
			f.metrics = metrics
		}
	}
	cl, err := cluster.New(cc, opts...)
	if err != nil {
		return nil, fmt.Errorf("cluster member: %w", err)
	}
	sched = NewScheduler(cl, beacon, lock, SchedulerConfig{
		Clock: cfg.Clock, Logger: n.log, Graffiti: graffiti, FeeRecipient: cfg.FeeRecipient, GasLimit: cfg.GasLimit,
		Registrations: cfg.Registrations, DoppelgangerCheck: cfg.DoppelgangerCheck,
	})
	sched.reports.setMetrics(metrics)
	n.cl, n.sched, n.metrics = cl, sched, metrics
	return n, nil
}

// Cluster returns the cluster member (for the admin API).
func (n *Node) Cluster() *cluster.Node { return n.cl }

// Scheduler returns the duty scheduler.
func (n *Node) Scheduler() *Scheduler { return n.sched }

// Lock returns the cluster lock the node runs.
func (n *Node) Lock() *Lock { return n.lock }

// Run starts the cluster member and runs the scheduler whenever this node leads, until ctx ends; then it
// stops the scheduler and closes the cluster member.
func (n *Node) Run(ctx context.Context) error {
	leader, unsubscribe := n.cl.SubscribeLeadership()
	defer unsubscribe()
	if err := n.cl.Start(); err != nil {
		return fmt.Errorf("start cluster member: %w", err)
	}
	n.log.Info("phalanx node running", "member", n.cfg.ID, "share_index", n.index, "validators", len(n.lock.Validators),
		"beacon", n.beacon.Name())
	rctx, rcancel := context.WithCancel(ctx)
	rdone := make(chan struct{})
	go func() {
		defer close(rdone)
		n.readinessLoop(rctx)
	}()

	var (
		cancel context.CancelFunc
		done   chan struct{}
	)
	stop := func() {
		if cancel != nil {
			cancel()
			<-done
			cancel, done = nil, nil
		}
	}
	start := func() {
		if cancel != nil {
			return
		}
		var sctx context.Context
		sctx, cancel = context.WithCancel(ctx)
		done = make(chan struct{})
		go func(d chan struct{}) {
			defer close(d)
			err := n.sched.Run(sctx)
			n.mu.Lock()
			n.schedErr = err
			n.mu.Unlock()
			switch {
			case err == nil || errors.Is(err, context.Canceled):
			case errors.Is(err, cluster.ErrNotLeader):
				n.log.Info("duty scheduler stopped: leadership lost")
			default:
				n.log.Error("duty scheduler stopped", "err", err)
			}
		}(done)
	}
	if n.cl.IsLeader() {
		start()
	}
	for {
		select {
		case <-ctx.Done():
			stop()
			rcancel()
			<-rdone
			if err := n.cl.Close(); err != nil {
				return fmt.Errorf("close cluster member: %w", err)
			}
			n.log.Info("phalanx node stopped")
			return nil
		case l := <-leader:
			if l {
				// A scheduler that ended on its own (refusal, lost leadership before the notification) is
				// restarted only on a new leadership, never while this one lasts.
				if done != nil {
					select {
					case <-done:
						cancel()
						cancel, done = nil, nil
					default:
					}
				}
				start()
			} else {
				stop()
			}
		}
	}
}

// Exit signs and publishes a voluntary exit for the validator with group public key pubkey. It must run on
// the leader.
func (n *Node) Exit(ctx context.Context, pubkey [48]byte) error {
	if !n.cl.IsLeader() {
		id, addr := n.cl.Leader()
		return &cluster.NotLeaderError{LeaderID: id, LeaderAddress: addr}
	}
	return n.sched.Exit(ctx, pubkey)
}

// Status is the operator's view of one node.
type Status struct {
	ID       string `json:"id"`
	Leader   bool   `json:"leader"`
	LeaderID string `json:"leader_id"`
	// SchedulerRunning is true while this node runs duties (it leads and passed its start-up checks).
	SchedulerRunning bool `json:"scheduler_running"`
	// SchedulerError is why the scheduler last stopped (doppelganger refusal, lost leadership).
	SchedulerError string `json:"scheduler_error,omitempty"`
	// BeaconError is the beacon-node problem that currently stops signing, if any.
	BeaconError string         `json:"beacon_error,omitempty"`
	Beacons     []BeaconHealth `json:"beacons,omitempty"`
	// Slots are the recent slot reports, newest first.
	Slots []SlotReport `json:"slots"`
	// Dropped counts duty items given up because their deadline passed.
	Dropped uint64 `json:"dropped"`
}

// Status returns the node's status.
func (n *Node) Status() Status {
	lid, _ := n.cl.Leader()
	st := Status{
		ID: n.cfg.ID, Leader: n.cl.IsLeader(), LeaderID: lid,
		SchedulerRunning: n.sched.Running(), Slots: n.sched.Reports(), Dropped: n.sched.Dropped(),
	}
	n.mu.Lock()
	if n.schedErr != nil {
		st.SchedulerError = n.schedErr.Error()
	}
	n.mu.Unlock()
	if err := n.sched.BeaconError(); err != nil {
		st.BeaconError = err.Error()
	}
	if f, ok := n.beacon.(interface{ Health() []BeaconHealth }); ok {
		st.Beacons = f.Health()
	}
	return st
}
