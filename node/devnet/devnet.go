package devnet

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/phalanx-eth/phalanx/fsm/eth"
)

// Errors of the devnet's lifecycle.
var (
	// ErrStarted is returned by Start on a devnet that was started before.
	ErrStarted = errors.New("devnet already started")
	// ErrNotStarted is returned by URL-dependent calls before Start.
	ErrNotStarted = errors.New("devnet not started")
)

// Devnet is an in-process beacon chain serving the Beacon API. Create it
// with New, serve with Run (or Start and Close).
type Devnet struct {
	cfg     Config
	log     *slog.Logger
	spec    *eth.Spec
	version spec.DataVersion
	cluster map[uint64]bool
	now     func() time.Time

	mu       sync.Mutex
	c        *chain
	produced map[eth.Root]*builtBlock   // blocks handed to cluster proposers, by root
	aggSubs  map[uint64]map[uint64]bool // slot -> committee index -> an aggregator subscribed
	syncSubs map[uint64]uint64          // validator -> subscribed until epoch
	prepared map[uint64]string          // validator -> fee recipient
	regs     map[phase0.BLSPubKey]bool  // validators registered with builders
	exits    []*phase0.SignedVoluntaryExit
	st       statsState
	pub      published // every slashable message cluster validators submitted (published.go)

	syncing     atomic.Bool
	unavailable atomic.Bool
	slow        atomic.Int64 // time.Duration

	events *broker

	started  atomic.Bool
	listener net.Listener
	srv      *http.Server
	cancel   context.CancelFunc
	done     chan struct{}
}

// New builds the genesis of a devnet with cfg (zero values take the
// defaults of DefaultConfig). It starts nothing.
func New(cfg Config) (*Devnet, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults(time.Now())
	vals, err := interopValidators(cfg.NumValidators)
	if err != nil {
		return nil, fmt.Errorf("devnet genesis: %w", err)
	}
	gvr, err := registryRoot(vals)
	if err != nil {
		return nil, fmt.Errorf("devnet genesis: %w", err)
	}
	s := buildSpec(cfg, gvr)
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("devnet spec: %w", err)
	}
	version, err := spec.DataVersionFromString(cfg.Fork)
	if err != nil {
		return nil, fmt.Errorf("devnet fork %q: %w", cfg.Fork, err)
	}
	c, err := newChain(s, version, vals)
	if err != nil {
		return nil, fmt.Errorf("devnet genesis: %w", err)
	}
	d := &Devnet{
		cfg:      cfg,
		log:      cfg.Logger,
		spec:     s,
		version:  version,
		cluster:  make(map[uint64]bool, len(cfg.ClusterValidators)),
		now:      time.Now,
		c:        c,
		produced: make(map[eth.Root]*builtBlock),
		aggSubs:  make(map[uint64]map[uint64]bool),
		syncSubs: make(map[uint64]uint64),
		prepared: make(map[uint64]string),
		regs:     make(map[phase0.BLSPubKey]bool),
		st:       newStatsState(),
		events:   newBroker(),
		done:     make(chan struct{}),
	}
	for _, v := range cfg.ClusterValidators {
		d.cluster[v] = true
	}
	return d, nil
}

// Spec returns a copy of the chain parameters (genesis time, fork schedule,
// genesis validators root, presets).
func (d *Devnet) Spec() eth.Spec {
	s := *d.spec
	s.Forks = append([]eth.Fork(nil), d.spec.Forks...)
	return s
}

// GenesisTime returns the chain's genesis time.
func (d *Devnet) GenesisTime() time.Time { return d.cfg.GenesisTime }

// SlotDuration returns the slot length.
func (d *Devnet) SlotDuration() time.Duration { return d.cfg.SlotDuration }

// Run serves the devnet until ctx ends, then shuts it down.
func (d *Devnet) Run(ctx context.Context) error {
	if err := d.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	return d.Close()
}

// Start listens on Config.ListenAddr and starts the chain and the HTTP
// server in the background. Stop with Close.
func (d *Devnet) Start() error {
	if !d.started.CompareAndSwap(false, true) {
		return ErrStarted
	}
	l, err := net.Listen("tcp", d.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("devnet listen on %s: %w", d.cfg.ListenAddr, err)
	}
	d.listener = l
	d.srv = &http.Server{Handler: d.handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := d.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("devnet http server stopped", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		d.runSlots(ctx)
	}()
	go func() {
		wg.Wait()
		close(d.done)
	}()
	d.log.Info("devnet started", "url", d.URL(), "genesis_time", d.cfg.GenesisTime.Unix(),
		"validators", d.cfg.NumValidators, "cluster_validators", len(d.cluster), "fork", d.cfg.Fork,
		"slot_duration", d.cfg.SlotDuration)
	return nil
}

// Close stops the chain, closes event streams and shuts the HTTP server
// down, in that order.
func (d *Devnet) Close() error {
	if !d.started.Load() || d.cancel == nil {
		return nil
	}
	d.cancel()
	d.events.close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := d.srv.Shutdown(sctx)
	<-d.done
	if err != nil {
		return fmt.Errorf("devnet shutdown: %w", err)
	}
	return nil
}

// URL returns the base URL of the Beacon API (http://host:port), or "" before Start.
func (d *Devnet) URL() string {
	if d.listener == nil {
		return ""
	}
	return "http://" + d.listener.Addr().String()
}

// SetSyncing makes the node report that it is syncing (is_syncing true on
// /eth/v1/node/syncing, 206 on health) and refuse validator endpoints with
// 503, as beacon nodes do while they catch up.
func (d *Devnet) SetSyncing(syncing bool) { d.syncing.Store(syncing) }

// SetUnavailable makes every endpoint answer 503 Service Unavailable, as a
// beacon node that is down behind a proxy does.
func (d *Devnet) SetUnavailable(unavailable bool) { d.unavailable.Store(unavailable) }

// SlowResponses delays every response by delay (0 turns it off), so that
// clients' timeouts and fallbacks can be exercised.
func (d *Devnet) SlowResponses(delay time.Duration) { d.slow.Store(int64(delay)) }

// slotStart returns the start time of slot.
func (d *Devnet) slotStart(slot uint64) time.Time {
	return d.cfg.GenesisTime.Add(time.Duration(slot) * d.cfg.SlotDuration)
}

// wallSlot returns the slot at the current time (0 before genesis).
func (d *Devnet) wallSlot() uint64 {
	since := d.now().Sub(d.cfg.GenesisTime)
	if since < 0 {
		return 0
	}
	return uint64(since / d.cfg.SlotDuration)
}

// waitUntil blocks until t or until ctx ends; it reports whether t came.
func waitUntil(ctx context.Context, now func() time.Time, t time.Time) bool {
	d := t.Sub(now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// runSlots drives the chain: per slot, the proposal at its start, the
// built-in attestations and sync messages at one third, the deadline for a
// cluster block at two thirds.
func (d *Devnet) runSlots(ctx context.Context) {
	third := d.cfg.SlotDuration / 3
	for slot := d.wallSlot(); ; slot++ {
		if !waitUntil(ctx, d.now, d.slotStart(slot)) {
			return
		}
		d.onSlotStart(slot)
		if !waitUntil(ctx, d.now, d.slotStart(slot).Add(third)) {
			return
		}
		d.onAttestationTime(slot)
		if !waitUntil(ctx, d.now, d.slotStart(slot).Add(2*third)) {
			return
		}
		d.onProposalDeadline(slot)
	}
}

// onSlotStart advances the chain to slot and lets a built-in proposer propose.
func (d *Devnet) onSlotStart(slot uint64) {
	d.mu.Lock()
	evs := d.advanceLocked(slot)
	if slot > 0 {
		proposer, err := d.c.proposer(slot)
		switch {
		case err != nil:
			d.log.Error("devnet proposer selection failed", "slot", slot, "err", err)
		case d.cluster[proposer]:
			d.st.slot(slot).setProposer(proposer, true)
		default:
			d.st.slot(slot).setProposer(proposer, false)
			ev, err := d.proposeBuiltinLocked(slot, proposer)
			if err != nil {
				d.log.Error("devnet built-in proposal failed", "slot", slot, "validator_index", proposer, "err", err)
			}
			evs = append(evs, ev...)
		}
	}
	d.mu.Unlock()
	d.events.publish(evs...)
}

// advanceLocked processes empty slots up to slot and returns the events of
// a new finalized checkpoint, if any.
func (d *Devnet) advanceLocked(slot uint64) []event {
	if slot <= d.c.currentSlot() {
		return nil
	}
	before := d.c.state(d.c.currentSlot()).finalized
	d.c.advance(slot)
	st := d.c.state(slot)
	d.st.prune(slot)
	var evs []event
	if st.finalized != before {
		d.log.Info("devnet finalized", "epoch", st.finalized.Epoch, "slot", slot)
		evs = append(evs, d.finalizedEvent(st))
	}
	return evs
}

// onProposalDeadline closes the slot for a cluster block.
func (d *Devnet) onProposalDeadline(slot uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ss := d.st.slot(slot)
	if ss.ProposerIsCluster && ss.Block == "" {
		ss.Block = blockMissed
		d.st.totals.ClusterBlocksMissed++
		d.log.Info("devnet cluster proposer missed its slot", "slot", slot, "validator_index", ss.Proposer)
	}
}

// proposeBuiltinLocked builds, signs and imports the block of a built-in proposer.
func (d *Devnet) proposeBuiltinLocked(slot, proposer uint64) ([]event, error) {
	v := d.c.vals[proposer]
	epoch := d.spec.EpochAtSlot(slot)
	randaoRoot := d.spec.RandaoSigningRoot(epoch)
	var randao phase0.BLSSignature
	copy(randao[:], v.sk.Sign(randaoRoot[:]).Bytes())
	var graffiti [32]byte
	copy(graffiti[:], "phalanx devnet")
	b, err := d.buildLocked(slot, proposer, randao, graffiti)
	if err != nil {
		return nil, err
	}
	sroot := d.spec.BlockSigningRoot(slot, b.root)
	var sig phase0.BLSSignature
	copy(sig[:], v.sk.Sign(sroot[:]).Bytes())
	signed, err := signProposal(b.proposal, sig)
	if err != nil {
		return nil, err
	}
	return d.importLocked(signed, b, false)
}

// buildLocked builds an unsigned block for slot on the current head.
func (d *Devnet) buildLocked(slot, proposer uint64, randao phase0.BLSSignature, graffiti [32]byte) (*builtBlock, error) {
	c := d.c
	st := c.state(slot)
	parent := st.head
	bits, ssig, _ := c.syncAggregateFor(slot, parent.root)
	mix := c.mix
	rh := sha256.Sum256(randao[:])
	for i := range mix {
		mix[i] ^= rh[i]
	}
	p := &blockParts{
		slot: slot, proposer: proposer, parent: parent.root, prevState: st.stateRoot,
		randao: randao, graffiti: graffiti, atts: c.attestationsForBlock(slot, st),
		syncBits: bits, syncSig: ssig,
		execParent: c.execHash, execNumber: c.execNum + 1,
		timestamp: uint64(d.slotStart(slot).Unix()), prevRandao: mix,
	}
	return buildBlock(d.version, p)
}

// importLocked verifies nothing further and applies a signed block whose
// checks passed: RANDAO mix, attestations, sync participation, head. It
// returns the block and head events.
func (d *Devnet) importLocked(signed *spec.VersionedSignedBeaconBlock, b *builtBlock, byCluster bool) ([]event, error) {
	c := d.c
	slot, _ := signed.Slot()
	proposer, _ := signed.ProposerIndex()
	parent, _ := signed.ParentRoot()
	randao, err := signed.RandaoReveal()
	if err != nil {
		return nil, fmt.Errorf("import block: %w", err)
	}
	atts, err := c.onchainAttsOf(signed)
	if err != nil {
		return nil, fmt.Errorf("import block: %w", err)
	}
	sa, err := signed.SyncAggregate()
	if err != nil {
		return nil, fmt.Errorf("import block: %w", err)
	}
	sig, err := blockSignature(signed)
	if err != nil {
		return nil, fmt.Errorf("import block: %w", err)
	}
	rec := &blockRecord{
		slot: uint64(slot), proposer: uint64(proposer), root: b.root, parentRoot: eth.Root(parent),
		stateRoot: b.stateRoot, bodyRoot: b.bodyRoot, signature: sig, byCluster: byCluster, signed: signed,
		atts: atts, syncBits: int(sa.SyncCommitteeBits.Count()), execHash: b.execHash, execNumber: c.execNum + 1,
	}
	rh := sha256.Sum256(randao[:])
	for i := range c.mix {
		c.mix[i] ^= rh[i]
	}
	ss := d.st.slot(rec.slot)
	for _, a := range atts {
		vs, err := c.attesters(a)
		if err != nil {
			continue
		}
		target := uint64(a.data.Target.Epoch)
		correct := eth.Root(a.data.Target.Root) == c.blockRootAtEpoch(target)
		inc := c.included[target]
		if inc == nil {
			inc = make(map[uint64]bool)
			c.included[target] = inc
		}
		votes := c.votes[target]
		if votes == nil {
			votes = make(map[uint64]bool)
			c.votes[target] = votes
		}
		attSlot := d.st.slot(uint64(a.data.Slot))
		for _, v := range vs {
			if inc[v] {
				continue
			}
			inc[v] = true
			if correct {
				votes[v] = true
			}
			if d.cluster[v] {
				attSlot.ClusterAttestationsIncluded++
				d.st.totals.ClusterAttestationsIncluded++
			}
		}
	}
	c.markLive(d.spec.EpochAtSlot(rec.slot), rec.proposer)
	c.execHash, c.execNum = b.execHash, c.execNum+1
	c.blocks[rec.root] = rec
	st := &c.slots[rec.slot]
	st.head, st.stateRoot = rec, rec.stateRoot
	ss.Block = blockProposed
	ss.BlockRoot = rec.root.String()
	ss.SyncParticipants = rec.syncBits
	if byCluster {
		d.st.totals.ClusterBlocks++
	} else {
		d.st.totals.BuiltinBlocks++
	}
	d.log.Debug("devnet block imported", "slot", rec.slot, "validator_index", rec.proposer,
		"by_cluster", byCluster, "attestations", len(atts), "sync_participants", rec.syncBits)
	return []event{d.blockEvent(rec), d.headEvent(rec)}, nil
}

// dependentRoot returns the block root at the last slot before epoch
// (the genesis block root for epoch 0): the root a duty of epoch depends on.
func (d *Devnet) dependentRoot(epoch uint64) eth.Root {
	if epoch == 0 {
		return d.c.genesis.root
	}
	return d.c.state(d.spec.EpochStartSlot(epoch) - 1).head.root
}
