package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/phalanx-eth/phalanx/cluster"
	"github.com/phalanx-eth/phalanx/fsm"
	"github.com/phalanx-eth/phalanx/fsm/eth"
)

// ErrDoppelganger is returned by Scheduler.Run when the beacon chain shows a cluster validator active in a
// recent epoch without a duty the cluster itself signed: another signer holds the key.
var ErrDoppelganger = errors.New("doppelganger: a cluster validator is active on chain without the cluster signing")

// ErrNotRunning is returned by Scheduler.Exit when this node is not leading.
var ErrNotRunning = errors.New("duty scheduler is not running on this node (not the leader)")

// Cluster is what the scheduler needs of the replicated log: propose an entry and wait for its outcome, and
// read the replicated state. *cluster.Node implements it.
type Cluster interface {
	Propose(ctx context.Context, e fsm.Entry) (*cluster.Outcome, error)
	Machine() *fsm.Machine
}

// SchedulerConfig holds the scheduler's optional settings.
type SchedulerConfig struct {
	// Clock is the time source (default: SystemClock).
	Clock Clock
	// Logger receives logs (default: slog.Default()).
	Logger *slog.Logger
	// Graffiti goes into proposed blocks.
	Graffiti [32]byte
	// FeeRecipient and GasLimit go into builder validator registrations.
	FeeRecipient [20]byte
	GasLimit     uint64
	// Registrations enables builder validator registrations once per epoch.
	Registrations bool
	// DoppelgangerCheck enables the liveness check at leader start-up.
	DoppelgangerCheck bool
	// RetryInterval is how long the scheduler waits before retrying start-up steps that failed
	// (default: one slot, or 1 s before the chain is known).
	RetryInterval time.Duration
}

// Scheduler runs validator duties on the leader: it follows the slot clock, asks the beacon node for duties
// and data, proposes one log entry per batch (one per committee for attestations), and publishes the
// signatures the cluster rebuilt. Run it while this node leads; cancel its context when leadership is lost.
type Scheduler struct {
	cl     Cluster
	beacon Beacon
	lock   *Lock
	cfg    SchedulerConfig
	clock  Clock
	log    *slog.Logger

	reports *reports

	running atomic.Bool
	runMu   sync.Mutex
	runCtx  context.Context

	stateMu     sync.Mutex
	beaconErr   error
	runErr      error
	head        Event
	epochs      map[uint64]*epochDuties
	regDisabled bool
	stash       map[[32]byte]*fsm.Duty
	dropped     atomic.Uint64
	inflight    atomic.Int64
}

// NewScheduler builds a scheduler. It starts nothing.
func NewScheduler(cl Cluster, beacon Beacon, lock *Lock, cfg SchedulerConfig) *Scheduler {
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.GasLimit == 0 {
		cfg.GasLimit = 30_000_000
	}
	return &Scheduler{
		cl: cl, beacon: beacon, lock: lock, cfg: cfg, clock: cfg.Clock, log: cfg.Logger,
		reports: newReports(),
		epochs:  make(map[uint64]*epochDuties),
		stash:   make(map[[32]byte]*fsm.Duty),
	}
}

// Reports returns the recent per-slot reports, newest first.
func (s *Scheduler) Reports() []SlotReport { return s.reports.recent() }

// Running reports whether Run is active.
func (s *Scheduler) Running() bool { return s.running.Load() }

// BeaconError returns the problem that currently stops signing (unreachable, syncing, wrong chain), if any.
func (s *Scheduler) BeaconError() error {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	return s.beaconErr
}

// LastError returns the error the last Run ended with, if any.
func (s *Scheduler) LastError() error {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	return s.runErr
}

// Dropped returns how many duty items were given up because their deadline had passed.
func (s *Scheduler) Dropped() uint64 { return s.dropped.Load() }

func (s *Scheduler) setBeaconErr(err error) {
	s.stateMu.Lock()
	prev := s.beaconErr
	s.beaconErr = err
	s.stateMu.Unlock()
	switch {
	case err != nil && (prev == nil || prev.Error() != err.Error()):
		s.log.Error("beacon node not usable: signing paused until it is", "err", err)
	case err == nil && prev != nil:
		s.log.Info("beacon node usable again: signing resumes")
	}
}

// run state shared by one Run's tasks.
type runState struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	spec   *eth.Spec
	sc     SlotClock
	start  uint64
	wg     sync.WaitGroup
	// inflight counts running duty tasks (tests wait for it to drop to zero).
	inflight *atomic.Int64
}

func (rs *runState) fatal(err error) { rs.cancel(err) }

func (rs *runState) goTask(f func()) {
	rs.wg.Add(1)
	if rs.inflight != nil {
		rs.inflight.Add(1)
	}
	go func() {
		defer rs.wg.Done()
		if rs.inflight != nil {
			defer rs.inflight.Add(-1)
		}
		f()
	}()
}

// goBackground runs a long-lived task of the run (not counted as a duty task).
func (rs *runState) goBackground(f func()) {
	rs.wg.Add(1)
	go func() {
		defer rs.wg.Done()
		f()
	}()
}

// Run performs duties until ctx ends or leadership is lost, and returns why it stopped. Before any signing it
// binds the replicated state to the beacon node's chain, registers the lock's validators, and runs the
// doppelganger check; while the beacon node is unreachable, syncing or on another chain it signs nothing.
func (s *Scheduler) Run(ctx context.Context) (err error) {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("scheduler already running")
	}
	rctx, cancel := context.WithCancelCause(ctx)
	rs := &runState{ctx: rctx, cancel: cancel, inflight: &s.inflight}
	s.runMu.Lock()
	s.runCtx = rctx
	s.runMu.Unlock()
	defer func() {
		cancel(nil)
		rs.wg.Wait()
		s.runMu.Lock()
		s.runCtx = nil
		s.runMu.Unlock()
		s.running.Store(false)
		if c := context.Cause(rctx); err == nil && c != nil && !errors.Is(c, context.Canceled) {
			err = c
		}
		s.stateMu.Lock()
		s.runErr = err
		s.stateMu.Unlock()
	}()

	if err := s.prepare(rs); err != nil {
		if c := context.Cause(rctx); c != nil && !errors.Is(c, context.Canceled) {
			return c
		}
		return err
	}
	rs.goBackground(func() { s.followEvents(rs) })
	return s.loop(rs)
}

// wait blocks for d on the scheduler's clock.
func (s *Scheduler) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	select {
	case <-ctx.Done():
		return false
	case <-s.clock.After(d):
		return true
	}
}

func (s *Scheduler) retryInterval(spec *eth.Spec) time.Duration {
	if s.cfg.RetryInterval > 0 {
		return s.cfg.RetryInterval
	}
	if spec != nil {
		return time.Duration(spec.SecondsPerSlot) * time.Second
	}
	return time.Second
}

// prepare runs the start-up steps, retrying each until it succeeds or ctx ends.
func (s *Scheduler) prepare(rs *runState) error {
	ctx := rs.ctx
	for {
		err := s.bindChain(ctx)
		if err == nil {
			break
		}
		if errors.Is(err, cluster.ErrNotLeader) {
			return err
		}
		s.setBeaconErr(err)
		if !s.wait(ctx, s.retryInterval(nil)) {
			return ctx.Err()
		}
	}
	spec, _ := s.cl.Machine().Spec()
	rs.spec = spec
	rs.sc = NewSlotClock(spec)
	for {
		err := s.upkeep(rs)
		if err == nil {
			break
		}
		if errors.Is(err, cluster.ErrNotLeader) {
			return err
		}
		s.log.Warn("start-up upkeep failed; retrying", "err", err)
		if !s.wait(ctx, s.retryInterval(spec)) {
			return ctx.Err()
		}
	}
	if s.cfg.DoppelgangerCheck {
		for {
			err := s.doppelganger(rs)
			if err == nil {
				break
			}
			if errors.Is(err, ErrDoppelganger) || errors.Is(err, cluster.ErrNotLeader) {
				s.log.Error("refusing to sign", "err", err)
				return err
			}
			s.log.Warn("doppelganger check could not run; retrying before any signing", "err", err)
			if !s.wait(ctx, s.retryInterval(spec)) {
				return ctx.Err()
			}
		}
	}
	return nil
}

// bindChain makes sure the replicated ChainConfig describes the beacon node's chain: it proposes it when
// the cluster is not bound yet or the node knows more forks, and fails with ErrWrongChain when the node
// follows another chain.
func (s *Scheduler) bindChain(ctx context.Context) error {
	bound, ok := s.cl.Machine().ChainConfig()
	var want *fsm.ChainConfig
	if ok {
		want = bound
	}
	if err := s.beacon.Check(ctx, want); err != nil {
		return err
	}
	got, err := s.beacon.ChainConfig(ctx)
	if err != nil {
		return err
	}
	if ok {
		if err := CheckChain(got, bound); err != nil {
			return err
		}
		if len(got.Forks) <= len(bound.Forks) && forksEqual(got.Forks, bound.Forks[:len(got.Forks)]) {
			s.setBeaconErr(nil)
			return nil
		}
	}
	out, err := s.cl.Propose(ctx, got)
	if err != nil {
		return fmt.Errorf("propose chain config: %w", err)
	}
	if !out.Result.Applied() {
		return fmt.Errorf("%w: chain config rejected: %s", ErrWrongChain, out.Result.Reason)
	}
	s.log.Info("cluster bound to the beacon node's chain", "genesis_time", got.GenesisTime,
		"genesis_validators_root", fmt.Sprintf("%#x", got.GenesisValidatorsRoot), "forks", len(got.Forks), "log_index", out.Index)
	s.setBeaconErr(nil)
	return nil
}

func forksEqual(a, b []fsm.ForkSchedule) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// upkeep keeps the replicated registry and chain view current: ValidatorAdd for lock validators missing from
// the registry, ValidatorIndices for those the beacon node now knows, and a ChainView.
func (s *Scheduler) upkeep(rs *runState) error {
	ctx := rs.ctx
	m := s.cl.Machine()
	for _, v := range s.lock.Validators {
		pk := v.GroupPubkey()
		if _, ok := m.Validator(pk); ok {
			continue
		}
		add := &fsm.ValidatorAdd{Pubkey: pk, Threshold: uint8(s.lock.Threshold), ValidatorIndex: fsm.UnknownValidatorIndex}
		for _, sp := range v.SharePubkeys {
			var b [48]byte
			copy(b[:], sp)
			add.SharePubkeys = append(add.SharePubkeys, b)
		}
		out, err := s.cl.Propose(ctx, add)
		if err != nil {
			return fmt.Errorf("register validator %s: %w", shortHex(v.Pubkey), err)
		}
		if !out.Result.Applied() {
			s.log.Warn("validator registration rejected", "pubkey", shortHex(v.Pubkey), "reason", out.Result.Reason)
		}
	}
	var missing [][48]byte
	for _, v := range m.Validators() {
		if v.ValidatorIndex == fsm.UnknownValidatorIndex {
			missing = append(missing, v.Pubkey)
		}
	}
	if len(missing) > 0 {
		idx, err := s.beacon.ValidatorIndices(ctx, missing)
		if err != nil {
			return fmt.Errorf("validator indices: %w", err)
		}
		var items []fsm.ValidatorIndex
		for _, pk := range missing {
			if i, ok := idx[pk]; ok {
				items = append(items, fsm.ValidatorIndex{Pubkey: pk, ValidatorIndex: i})
			}
		}
		// One entry holds at most fsm.MaxValidatorIndices items; larger clusters record them in batches.
		for len(items) > 0 {
			n := min(len(items), fsm.MaxValidatorIndices)
			vi := fsm.ValidatorIndices{Items: items[:n]}
			items = items[n:]
			out, err := s.cl.Propose(ctx, &vi)
			if err != nil {
				return fmt.Errorf("record validator indices: %w", err)
			}
			if !out.Result.Applied() {
				s.log.Warn("validator indices rejected", "reason", out.Result.Reason)
			} else {
				s.log.Info("validator indices recorded", "validators", len(vi.Items), "log_index", out.Index)
			}
		}
	}
	return s.updateChainView(rs)
}

// updateChainView proposes the beacon node's current head and checkpoints as the replicated chain view.
func (s *Scheduler) updateChainView(rs *runState) error {
	h, err := s.beacon.ChainHead(rs.ctx)
	if err != nil {
		return fmt.Errorf("chain head: %w", err)
	}
	now := s.clock.Now()
	slot, _ := rs.sc.SlotAt(now)
	view := &fsm.ChainView{
		HeadSlot: h.HeadSlot, HeadRoot: h.HeadRoot,
		JustifiedEpoch: h.JustifiedEpoch, JustifiedRoot: h.JustifiedRoot,
		FinalizedEpoch: h.FinalizedEpoch, FinalizedRoot: h.FinalizedRoot,
		ObservedSlot: slot, ObservedUnixMilli: uint64(now.UnixMilli()),
	}
	if view.JustifiedEpoch < view.FinalizedEpoch {
		view.JustifiedEpoch, view.JustifiedRoot = view.FinalizedEpoch, view.FinalizedRoot
	}
	out, err := s.cl.Propose(rs.ctx, view)
	if err != nil {
		return fmt.Errorf("propose chain view: %w", err)
	}
	if !out.Result.Applied() {
		s.log.Debug("chain view not applied", "reason", out.Result.Reason)
	}
	return nil
}

// doppelganger asks the beacon node whether any cluster validator was live in the previous and current
// epochs, and refuses when one was without a duty the cluster itself committed for that epoch.
func (s *Scheduler) doppelganger(rs *runState) error {
	m := s.cl.Machine()
	byIndex := make(map[uint64][48]byte)
	var indices []uint64
	for _, v := range m.Validators() {
		if v.ValidatorIndex != fsm.UnknownValidatorIndex {
			byIndex[v.ValidatorIndex] = v.Pubkey
			indices = append(indices, v.ValidatorIndex)
		}
	}
	if len(indices) == 0 {
		return nil
	}
	now, ok := rs.sc.SlotAt(s.clock.Now())
	if !ok {
		return nil
	}
	cur := rs.sc.Epoch(now)
	epochs := []uint64{cur}
	if cur > 0 {
		epochs = []uint64{cur - 1, cur}
	}
	var found []string
	for _, ep := range epochs {
		live, err := s.beacon.Liveness(rs.ctx, ep, indices)
		if err != nil {
			return fmt.Errorf("liveness of epoch %d: %w", ep, err)
		}
		for _, l := range live {
			if l == nil || !l.IsLive {
				continue
			}
			pk, ok := byIndex[uint64(l.Index)]
			if !ok || s.signedInEpoch(rs, pk, ep) {
				continue
			}
			found = append(found, fmt.Sprintf("%d (epoch %d)", l.Index, ep))
		}
	}
	if len(found) > 0 {
		return fmt.Errorf("%w: validators %v; stop the other signer, wait two epochs and restart", ErrDoppelganger, found)
	}
	s.log.Info("doppelganger check passed", "epochs", epochs, "validators", len(indices))
	return nil
}

// signedInEpoch reports whether the cluster committed an approved duty for pk in epoch.
func (s *Scheduler) signedInEpoch(rs *runState, pk [48]byte, epoch uint64) bool {
	m := s.cl.Machine()
	first := rs.sc.EpochStart(epoch)
	for slot := first; slot < first+rs.sc.SlotsPerEpoch; slot++ {
		for _, r := range m.History(slot, pk) {
			if r.Item.Verdict.Approved {
				return true
			}
		}
	}
	return false
}

// followEvents reacts to the beacon node's events: a finalized checkpoint updates the replicated chain view
// (which prunes history); head events are kept for the status.
func (s *Scheduler) followEvents(rs *runState) {
	finalized := make(chan struct{}, 1)
	rs.goBackground(func() {
		for {
			select {
			case <-rs.ctx.Done():
				return
			case <-finalized:
			}
			if err := s.updateChainView(rs); err != nil {
				s.taskErr(rs, "chain view after finalized checkpoint", err)
			}
		}
	})
	for rs.ctx.Err() == nil {
		err := s.beacon.Events(rs.ctx, func(e Event) {
			switch e.Topic {
			case "finalized_checkpoint":
				select {
				case finalized <- struct{}{}:
				default:
				}
			case "head":
				s.stateMu.Lock()
				s.head = e
				s.stateMu.Unlock()
			}
		})
		if rs.ctx.Err() != nil {
			return
		}
		if err != nil {
			s.log.Debug("event stream ended", "err", err)
		}
		if !s.wait(rs.ctx, s.retryInterval(rs.spec)) {
			return
		}
	}
}

// taskErr handles an error of a duty task: losing leadership stops the run, anything else is logged.
func (s *Scheduler) taskErr(rs *runState, what string, err error) {
	if errors.Is(err, cluster.ErrNotLeader) {
		rs.fatal(err)
		return
	}
	if rs.ctx.Err() != nil {
		return
	}
	s.log.Warn(what+" failed", "err", err)
}

// loop fires the slot ticks: slot start (proposals, epoch work, health), 1/3 (attestations, sync committee
// messages) and 2/3 (aggregates, contributions). A leader that starts mid-slot fires the ticks of the current
// slot that already passed at once: late duties are still done while they are useful.
func (s *Scheduler) loop(rs *runState) error {
	ctx := rs.ctx
	now := s.clock.Now()
	cur, ok := rs.sc.SlotAt(now)
	if !ok {
		if !s.wait(ctx, rs.sc.Genesis.Sub(now)) {
			return context.Cause(ctx)
		}
		cur = 0
	}
	rs.start = cur
	s.log.Info("duty scheduler started", "slot", cur, "epoch", rs.sc.Epoch(cur))
	if cur > 0 && s.BeaconError() == nil {
		// A previous leader may have died before committing the last slot's attestations; those it did
		// commit are skipped (and rebuilt by the cluster's recovery), the others are still useful.
		rs.goTask(func() { s.attest(rs, cur-1, nil) })
	}
	slot, phase := cur, int64(0)
	for {
		at := rs.sc.SlotPart(slot, phase, 3)
		if !s.wait(ctx, at.Sub(s.clock.Now())) {
			return context.Cause(ctx)
		}
		s.dispatch(rs, slot, phase)
		if phase++; phase == 3 {
			slot, phase = slot+1, 0
		}
	}
}

func (s *Scheduler) dispatch(rs *runState, slot uint64, phase int64) {
	switch phase {
	case 0:
		rs.goTask(func() { s.slotStart(rs, slot) })
	case 1:
		if s.BeaconError() != nil {
			return
		}
		// Attestations go into the log first: followers sign in log order, and the slot's sync-committee
		// messages (up to 512) would otherwise delay them.
		attQueued := make(chan struct{})
		rs.goTask(func() { s.attest(rs, slot, attQueued) })
		rs.goTask(func() { s.syncMessages(rs, slot, attQueued) })
	case 2:
		if s.BeaconError() != nil {
			return
		}
		rs.goTask(func() { s.aggregate(rs, slot) })
		rs.goTask(func() { s.contributions(rs, slot) })
	}
}

func (s *Scheduler) slotStart(rs *runState, slot uint64) {
	if slot > rs.start {
		if sr, ok := s.reports.get(slot - 1); ok {
			s.log.Info(sr.Summary(), "slot", sr.Slot, "epoch", sr.Epoch)
		}
	}
	bound, _ := s.cl.Machine().ChainConfig()
	if err := s.beacon.Check(rs.ctx, bound); err != nil {
		if rs.ctx.Err() == nil {
			s.setBeaconErr(err)
		}
		return
	}
	s.setBeaconErr(nil)
	epoch := rs.sc.Epoch(slot)
	if slot == rs.start || slot%rs.sc.SlotsPerEpoch == 0 {
		s.epochWork(rs, epoch, slot == rs.start)
	}
	s.propose(rs, slot)
}

// epochWork runs once per epoch (and when a leader starts): registry and chain view upkeep, duties of this
// epoch and the next with their selection proofs and subscriptions, and builder registrations.
func (s *Scheduler) epochWork(rs *runState, epoch uint64, starting bool) {
	if !starting {
		if err := s.upkeep(rs); err != nil {
			s.taskErr(rs, "epoch upkeep", err)
		}
	}
	for _, ep := range []uint64{epoch, epoch + 1} {
		if _, err := s.duties(rs, ep); err != nil {
			s.taskErr(rs, fmt.Sprintf("duties of epoch %d", ep), err)
		}
	}
	s.pruneEpochs(epoch)
	if s.cfg.Registrations {
		s.register(rs, epoch)
	}
}

// Cluster validators with a known beacon index.
func (s *Scheduler) indexed() (indices []uint64, byIndex map[uint64][48]byte) {
	byIndex = make(map[uint64][48]byte)
	for _, v := range s.cl.Machine().Validators() {
		if v.ValidatorIndex != fsm.UnknownValidatorIndex {
			byIndex[v.ValidatorIndex] = v.Pubkey
			indices = append(indices, v.ValidatorIndex)
		}
	}
	sort.Slice(indices, func(i, j int) bool { return indices[i] < indices[j] })
	return indices, byIndex
}

// signed proposes a duty and records the outcome in the slot report. It returns the outcome (nil on error)
// and the error; a lost leadership ends the run.
func (s *Scheduler) signed(rs *runState, d *fsm.Duty) (*cluster.Outcome, error) {
	return s.signedCtx(rs.ctx, rs, d)
}

// signedCtx is signed with the context given to Propose (which may carry cluster.WithQueued).
func (s *Scheduler) signedCtx(ctx context.Context, rs *runState, d *fsm.Duty) (*cluster.Outcome, error) {
	start := s.clock.Now()
	out, err := s.cl.Propose(ctx, d)
	if err != nil {
		s.reports.update(d.Slot, d.Epoch, d.Kind, func(c *DutyCounts) {
			c.Failed += len(d.Items)
			c.reason("propose: %v", err)
		})
		if errors.Is(err, cluster.ErrNotLeader) {
			rs.fatal(err)
		}
		return nil, err
	}
	if !out.Result.Applied() {
		s.reports.update(d.Slot, d.Epoch, d.Kind, func(c *DutyCounts) {
			c.Failed += len(d.Items)
			c.reason("rejected: %s", out.Result.Reason)
		})
		return out, fmt.Errorf("%s duty at slot %d rejected: %s", d.Kind, d.Slot, out.Result.Reason)
	}
	s.reports.update(d.Slot, d.Epoch, d.Kind, func(c *DutyCounts) {
		for i, it := range out.Result.Items {
			switch {
			case !it.Verdict.Approved:
				c.Failed++
				c.reason("validator %d denied: %s %s", it.ValidatorIndex, fsm.ReasonName(it.Verdict.Reason), it.Verdict.Detail)
			case i >= len(out.Signatures) || out.Signatures[i] == nil:
				c.Signed++
				c.Failed++
				c.reason("validator %d: no group signature", it.ValidatorIndex)
			default:
				c.Signed++
				c.Verified++
			}
		}
	})
	s.log.Debug("duty signed", "duty", d.Kind.String(), "slot", d.Slot, "epoch", d.Epoch, "log_index", out.Index,
		"items", len(d.Items), "took", s.clock.Now().Sub(start))
	return out, nil
}

// sig returns item i's group signature, if the cluster produced one.
func sig(out *cluster.Outcome, i int) ([96]byte, bool) {
	var b [96]byte
	if out == nil || i >= len(out.Signatures) || out.Signatures[i] == nil || !out.Result.Items[i].Verdict.Approved {
		return b, false
	}
	copy(b[:], out.Signatures[i].Bytes())
	return b, true
}

// published records n accepted messages, or the failure to publish them.
func (s *Scheduler) published(d *fsm.Duty, n int, err error) {
	s.reports.update(d.Slot, d.Epoch, d.Kind, func(c *DutyCounts) {
		if err != nil {
			c.Failed += n
			c.reason("publish: %v", err)
			return
		}
		c.Published += n
	})
	if err != nil {
		s.log.Warn("publish failed", "duty", d.Kind.String(), "slot", d.Slot, "err", err)
	}
}

// late reports whether deadline has passed; if so the items are dropped and counted.
func (s *Scheduler) late(slot, epoch uint64, kind fsm.DutyKind, items int, deadline time.Time) bool {
	if !s.clock.Now().After(deadline) {
		return false
	}
	s.dropped.Add(uint64(items))
	s.reports.update(slot, epoch, kind, func(c *DutyCounts) {
		c.Dropped += items
		c.reason("deadline %s passed", deadline.Format(time.RFC3339Nano))
	})
	s.log.Warn("duty dropped: past its deadline", "duty", kind.String(), "slot", slot, "items", items)
	return true
}

// --- per-epoch duties ---

// epochDuties caches one epoch's duties and the aggregation selection proofs.
type epochDuties struct {
	mu     sync.Mutex
	loaded bool

	attesters map[uint64][]*apiv1.AttesterDuty // by slot
	proposers map[uint64]*apiv1.ProposerDuty   // by slot
	sync      []*apiv1.SyncCommitteeDuty
	// aggregators maps slot → validator index → selection proof, for attesters selected to aggregate.
	aggregators map[uint64]map[uint64][96]byte
}

func (s *Scheduler) epochEntry(epoch uint64) *epochDuties {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	e, ok := s.epochs[epoch]
	if !ok {
		e = &epochDuties{}
		s.epochs[epoch] = e
	}
	return e
}

func (s *Scheduler) pruneEpochs(current uint64) {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	for ep := range s.epochs {
		if ep+2 < current {
			delete(s.epochs, ep)
		}
	}
}

// duties returns the epoch's duties, fetching them (with selection proofs and subscriptions) on first use.
func (s *Scheduler) duties(rs *runState, epoch uint64) (*epochDuties, error) {
	e := s.epochEntry(epoch)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.loaded {
		return e, nil
	}
	indices, _ := s.indexed()
	if len(indices) == 0 {
		return e, nil
	}
	ctx := rs.ctx
	att, err := s.beacon.AttesterDuties(ctx, epoch, indices)
	if err != nil {
		return nil, fmt.Errorf("attester duties: %w", err)
	}
	prop, err := s.beacon.ProposerDuties(ctx, epoch, indices)
	if err != nil {
		return nil, fmt.Errorf("proposer duties: %w", err)
	}
	mine := make(map[uint64]bool, len(indices))
	for _, i := range indices {
		mine[i] = true
	}
	e.attesters = make(map[uint64][]*apiv1.AttesterDuty)
	for _, d := range att {
		if d != nil && mine[uint64(d.ValidatorIndex)] {
			e.attesters[uint64(d.Slot)] = append(e.attesters[uint64(d.Slot)], d)
		}
	}
	e.proposers = make(map[uint64]*apiv1.ProposerDuty)
	for _, d := range prop {
		if d != nil && mine[uint64(d.ValidatorIndex)] {
			e.proposers[uint64(d.Slot)] = d
		}
	}
	if rs.spec.IsForkActive(eth.ForkAltair, epoch) {
		sc, err := s.beacon.SyncCommitteeDuties(ctx, epoch, indices)
		switch {
		case errors.Is(err, ErrNotSupported):
		case err != nil:
			return nil, fmt.Errorf("sync committee duties: %w", err)
		default:
			for _, d := range sc {
				if d != nil && mine[uint64(d.ValidatorIndex)] {
					e.sync = append(e.sync, d)
				}
			}
		}
	}
	e.aggregators = s.selectionProofs(rs, epoch, e.attesters)
	s.subscribe(rs, epoch, e)
	e.loaded = true
	n := 0
	for _, l := range e.attesters {
		n += len(l)
	}
	s.log.Info("duties loaded", "epoch", epoch, "attesters", n, "proposals", len(e.proposers), "sync_committee", len(e.sync))
	return e, nil
}

// selectionProofs signs the slot selection proof of every attester of the epoch (one entry per slot) and
// returns the proofs of those selected to aggregate.
func (s *Scheduler) selectionProofs(rs *runState, epoch uint64, attesters map[uint64][]*apiv1.AttesterDuty) map[uint64]map[uint64][96]byte {
	out := make(map[uint64]map[uint64][96]byte)
	var mu sync.Mutex
	var wg sync.WaitGroup
	_, byIndex := s.indexed()
	for slot, list := range attesters {
		d := &fsm.Duty{Kind: fsm.DutySelectionProof, Slot: slot, Epoch: epoch}
		for _, a := range list {
			d.Items = append(d.Items, fsm.DutyItem{Pubkey: byIndex[uint64(a.ValidatorIndex)], ValidatorIndex: uint64(a.ValidatorIndex)})
		}
		sortItems(d.Items)
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.signed(rs, d)
			if err != nil {
				s.taskErr(rs, "selection proofs", err)
				return
			}
			lens := make(map[uint64]uint64)
			for _, a := range list {
				lens[uint64(a.ValidatorIndex)] = a.CommitteeLength
			}
			mu.Lock()
			defer mu.Unlock()
			for i, it := range d.Items {
				proof, ok := sig(res, i)
				if !ok {
					continue
				}
				if eth.IsAggregator(lens[it.ValidatorIndex], proof, rs.spec) {
					if out[slot] == nil {
						out[slot] = make(map[uint64][96]byte)
					}
					out[slot][it.ValidatorIndex] = proof
				}
			}
		}()
	}
	wg.Wait()
	return out
}

func sortItems(items []fsm.DutyItem) {
	sort.Slice(items, func(i, j int) bool { return items[i].ValidatorIndex < items[j].ValidatorIndex })
}

// subscribe sends the epoch's committee subscriptions, each with is_aggregator from the selection proofs,
// and the sync committee subscriptions.
func (s *Scheduler) subscribe(rs *runState, epoch uint64, e *epochDuties) {
	var subs []*apiv1.BeaconCommitteeSubscription
	for slot, list := range e.attesters {
		for _, a := range list {
			_, agg := e.aggregators[slot][uint64(a.ValidatorIndex)]
			subs = append(subs, &apiv1.BeaconCommitteeSubscription{
				ValidatorIndex: a.ValidatorIndex, Slot: a.Slot, CommitteeIndex: a.CommitteeIndex,
				CommitteesAtSlot: a.CommitteesAtSlot, IsAggregator: agg,
			})
		}
	}
	sort.Slice(subs, func(i, j int) bool {
		if subs[i].Slot != subs[j].Slot {
			return subs[i].Slot < subs[j].Slot
		}
		return subs[i].ValidatorIndex < subs[j].ValidatorIndex
	})
	if len(subs) > 0 {
		if err := s.beacon.SubmitBeaconCommitteeSubscriptions(rs.ctx, subs); err != nil {
			s.taskErr(rs, "beacon committee subscriptions", err)
		}
	}
	if len(e.sync) > 0 {
		period := rs.spec.SyncCommitteePeriod(epoch)
		until := (period + 1) * rs.spec.EpochsPerSyncCommitteePeriod
		var ss []*apiv1.SyncCommitteeSubscription
		for _, d := range e.sync {
			ss = append(ss, &apiv1.SyncCommitteeSubscription{ValidatorIndex: d.ValidatorIndex,
				SyncCommitteeIndices: d.ValidatorSyncCommitteeIndices, UntilEpoch: phase0.Epoch(until)})
		}
		if err := s.beacon.SubmitSyncCommitteeSubscriptions(rs.ctx, ss); err != nil && !errors.Is(err, ErrNotSupported) {
			s.taskErr(rs, "sync committee subscriptions", err)
		}
	}
}
