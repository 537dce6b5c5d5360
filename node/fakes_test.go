package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/phalanx-eth/phalanx/cluster"
	"github.com/phalanx-eth/phalanx/fsm"
	"github.com/phalanx-eth/phalanx/fsm/eth"
	"github.com/phalanx-eth/phalanx/threshold"
	"github.com/phalanx-eth/phalanx/threshold/keys"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// --- fake clock ---

type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{now: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch})
	return ch
}

// set moves the clock to t and fires every waiter due by then.
func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// next returns the earliest waiter's time.
func (c *fakeClock) next() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.waiters) == 0 {
		return time.Time{}, false
	}
	min := c.waiters[0].at
	for _, w := range c.waiters[1:] {
		if w.at.Before(min) {
			min = w.at
		}
	}
	return min, true
}

// eventually polls cond (test code only) until it holds or the test's patience runs out.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// --- test validators and lock ---

type testValidator struct {
	index uint64
	sk    *threshold.SecretKey
	pk    [48]byte
}

func testValidators(t testing.TB, indices ...uint64) []testValidator {
	t.Helper()
	var out []testValidator
	for _, i := range indices {
		sk, err := keys.InteropSecretKey(i)
		if err != nil {
			t.Fatal(err)
		}
		var pk [48]byte
		copy(pk[:], sk.PublicKey().Bytes())
		out = append(out, testValidator{index: i, sk: sk, pk: pk})
	}
	return out
}

// testLock splits each validator's key t-of-n and returns the lock and the shares (shares[v][i] is share i+1).
func testLock(t testing.TB, vals []testValidator, tt, n int) (*Lock, [][]threshold.SecretShare) {
	t.Helper()
	l := &Lock{Version: LockVersion, Name: "test", Threshold: tt}
	for i := 1; i <= n; i++ {
		peer := fmt.Sprintf("12D3KooWPeer%d", i)
		l.Members = append(l.Members, LockMember{ID: fmt.Sprintf("node-%d", i), PeerID: peer,
			Address: fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", 9000+i, peer)})
	}
	var shares [][]threshold.SecretShare
	for _, v := range vals {
		sh, comms, err := threshold.Split(v.sk, tt, n, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		lv, err := NewLockValidator(comms, n)
		if err != nil {
			t.Fatal(err)
		}
		l.Validators = append(l.Validators, lv)
		shares = append(shares, sh)
	}
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	return l, shares
}

// --- fake cluster: a real state machine, signatures made with the whole interop keys ---

type fakeCluster struct {
	mu      sync.Mutex
	machine *fsm.Machine
	index   uint64
	keys    map[[48]byte]*threshold.SecretKey
	entries []fsm.Entry
	// notLeader makes Propose fail as a node that lost leadership does.
	notLeader bool
}

func newFakeCluster(vals []testValidator) *fakeCluster {
	c := &fakeCluster{machine: fsm.NewMachine(), keys: make(map[[48]byte]*threshold.SecretKey)}
	for _, v := range vals {
		c.keys[v.pk] = v.sk
	}
	return c
}

func (c *fakeCluster) Machine() *fsm.Machine { return c.machine }

func (c *fakeCluster) setNotLeader(v bool) {
	c.mu.Lock()
	c.notLeader = v
	c.mu.Unlock()
}

func (c *fakeCluster) Propose(ctx context.Context, e fsm.Entry) (*cluster.Outcome, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer cluster.NotifyQueued(ctx)
	if c.notLeader {
		return nil, &cluster.NotLeaderError{LeaderID: "node-2"}
	}
	data, err := fsm.Encode(e)
	if err != nil {
		return nil, err
	}
	c.index++
	res := c.machine.Apply(c.index, data)
	c.entries = append(c.entries, e)
	out := &cluster.Outcome{Index: c.index, Result: res}
	if _, ok := e.(*fsm.Duty); ok && res.Applied() {
		out.Signatures = make([]*threshold.Signature, len(res.Items))
		for i, it := range res.Items {
			if it.Verdict.Approved {
				out.Signatures[i] = c.keys[it.Pubkey].Sign(it.SigningRoot[:])
			}
		}
	}
	return out, nil
}

// duties returns the committed duty entries of kind.
func (c *fakeCluster) duties(kind fsm.DutyKind) []*fsm.Duty {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*fsm.Duty
	for _, e := range c.entries {
		if d, ok := e.(*fsm.Duty); ok && d.Kind == kind {
			out = append(out, d)
		}
	}
	return out
}

func (c *fakeCluster) dutyCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, e := range c.entries {
		if _, ok := e.(*fsm.Duty); ok {
			n++
		}
	}
	return n
}

// --- fake beacon node ---

const fakeGenesis = 1_700_000_000

// fakeChainConfig is a minimal-preset chain with electra from genesis and 12 s slots.
func fakeChainConfig() *fsm.ChainConfig {
	c := &fsm.ChainConfig{GenesisTime: fakeGenesis, SecondsPerSlot: 12, SlotsPerEpoch: 8}
	c.GenesisValidatorsRoot[0] = 0x42
	ms := eth.MinimalSpec()
	c.GenesisForkVersion = ms.Forks[0].Version
	for i, f := range ms.Forks {
		ep := uint64(0)
		if f.Name == eth.ForkFulu {
			ep = eth.FarFutureEpoch
		}
		_ = i
		c.Forks = append(c.Forks, fsm.ForkSchedule{Version: f.Version, Epoch: ep})
	}
	return c
}

type fakeBeacon struct {
	mu    sync.Mutex
	chain *fsm.ChainConfig
	vals  []testValidator
	// checkErr is what Check returns (syncing, unreachable).
	checkErr error
	// live marks validator indices live in epoch 0.
	live map[uint64]bool
	// dataGate, when set, blocks AttestationData until it is closed.
	dataGate chan struct{}
	// committees per slot (2 by default).
	committees uint64

	atts []*spec.VersionedAttestation
	subs []*apiv1.BeaconCommitteeSubscription
	aggs []*spec.VersionedSignedAggregateAndProof
	sync []*altair.SyncCommitteeMessage
	regs int
}

func newFakeBeacon(vals []testValidator) *fakeBeacon {
	return &fakeBeacon{chain: fakeChainConfig(), vals: vals, live: map[uint64]bool{}, committees: 2}
}

func (b *fakeBeacon) Name() string { return "fake" }

func (b *fakeBeacon) Check(_ context.Context, want *fsm.ChainConfig) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.checkErr != nil {
		return b.checkErr
	}
	if want != nil {
		return CheckChain(b.chain, want)
	}
	return nil
}

func (b *fakeBeacon) ChainConfig(context.Context) (*fsm.ChainConfig, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.checkErr != nil {
		return nil, b.checkErr
	}
	c := *b.chain
	return &c, nil
}

func (b *fakeBeacon) ChainHead(context.Context) (ChainHead, error) {
	return ChainHead{HeadSlot: 1, HeadRoot: [32]byte{1}}, nil
}

func (b *fakeBeacon) ValidatorIndices(_ context.Context, pks [][48]byte) (map[[48]byte]uint64, error) {
	out := map[[48]byte]uint64{}
	for _, v := range b.vals {
		out[v.pk] = v.index
	}
	return out, nil
}

// Each validator attests once per epoch at slot (index mod 8) in committee (index mod committees).
func (b *fakeBeacon) AttesterDuties(_ context.Context, epoch uint64, idx []uint64) ([]*apiv1.AttesterDuty, error) {
	var out []*apiv1.AttesterDuty
	sorted := append([]uint64(nil), idx...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	pos := map[[2]uint64]uint64{}
	for _, vi := range sorted {
		slot := epoch*8 + vi%8
		ci := (vi / 8) % b.committees
		k := [2]uint64{slot, ci}
		out = append(out, &apiv1.AttesterDuty{ValidatorIndex: phase0.ValidatorIndex(vi), Slot: phase0.Slot(slot),
			CommitteeIndex: phase0.CommitteeIndex(ci), CommitteeLength: 64, CommitteesAtSlot: b.committees, ValidatorCommitteeIndex: pos[k]})
		pos[k]++
	}
	return out, nil
}

func (b *fakeBeacon) ProposerDuties(context.Context, uint64, []uint64) ([]*apiv1.ProposerDuty, error) {
	return nil, nil
}

func (b *fakeBeacon) SyncCommitteeDuties(_ context.Context, _ uint64, idx []uint64) ([]*apiv1.SyncCommitteeDuty, error) {
	if len(idx) == 0 {
		return nil, nil
	}
	return []*apiv1.SyncCommitteeDuty{{ValidatorIndex: phase0.ValidatorIndex(idx[0]), ValidatorSyncCommitteeIndices: []phase0.CommitteeIndex{1, 9}}}, nil
}

func (b *fakeBeacon) SubmitBeaconCommitteeSubscriptions(_ context.Context, subs []*apiv1.BeaconCommitteeSubscription) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs = append(b.subs, subs...)
	return nil
}

func (b *fakeBeacon) SubmitSyncCommitteeSubscriptions(context.Context, []*apiv1.SyncCommitteeSubscription) error {
	return nil
}

func (b *fakeBeacon) Liveness(_ context.Context, epoch uint64, idx []uint64) ([]*apiv1.ValidatorLiveness, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*apiv1.ValidatorLiveness
	for _, i := range idx {
		out = append(out, &apiv1.ValidatorLiveness{Index: phase0.ValidatorIndex(i), IsLive: epoch == 0 && b.live[i]})
	}
	return out, nil
}

func (b *fakeBeacon) AttestationData(ctx context.Context, slot, ci uint64) (*phase0.AttestationData, error) {
	b.mu.Lock()
	gate := b.dataGate
	b.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	ep := phase0.Epoch(slot / 8)
	return &phase0.AttestationData{Slot: phase0.Slot(slot), Index: 0, BeaconBlockRoot: phase0.Root{byte(slot)},
		Source: &phase0.Checkpoint{Epoch: 0}, Target: &phase0.Checkpoint{Epoch: ep, Root: phase0.Root{byte(ep)}}}, nil
}

func (b *fakeBeacon) AggregateAttestation(ctx context.Context, slot uint64, _ [32]byte, ci uint64) (*spec.VersionedAttestation, error) {
	d, _ := b.AttestationData(ctx, slot, ci)
	att, err := buildAttestation(spec.DataVersionElectra, d, ci, 64, 0, 0, [96]byte{0xc0})
	att.ValidatorIndex = nil
	return att, err
}

func (b *fakeBeacon) Proposal(context.Context, uint64, [96]byte, [32]byte) (*api.VersionedProposal, error) {
	return nil, errors.New("fake beacon: no block production")
}

func (b *fakeBeacon) BlockRoot(context.Context, string) ([32]byte, error) { return [32]byte{7}, nil }

func (b *fakeBeacon) SyncCommitteeContribution(context.Context, uint64, uint64, [32]byte) (*altair.SyncCommitteeContribution, error) {
	return nil, ErrNotSupported
}

func (b *fakeBeacon) SubmitAttestations(_ context.Context, atts []*spec.VersionedAttestation) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.atts = append(b.atts, atts...)
	return nil
}

func (b *fakeBeacon) SubmitAggregateAttestations(_ context.Context, aggs []*spec.VersionedSignedAggregateAndProof) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.aggs = append(b.aggs, aggs...)
	return nil
}

func (b *fakeBeacon) SubmitProposal(context.Context, *api.VersionedSignedProposal) error { return nil }
func (b *fakeBeacon) SubmitBlindedProposal(context.Context, *api.VersionedSignedBlindedProposal) error {
	return nil
}

func (b *fakeBeacon) SubmitSyncCommitteeMessages(_ context.Context, msgs []*altair.SyncCommitteeMessage) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sync = append(b.sync, msgs...)
	return nil
}

func (b *fakeBeacon) SubmitSyncCommitteeContributions(context.Context, []*altair.SignedContributionAndProof) error {
	return nil
}

func (b *fakeBeacon) SubmitValidatorRegistrations(context.Context, []*api.VersionedSignedValidatorRegistration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.regs++
	return fmt.Errorf("fake: %w", ErrNotSupported)
}

func (b *fakeBeacon) SubmitVoluntaryExit(context.Context, *phase0.SignedVoluntaryExit) error {
	return nil
}

func (b *fakeBeacon) Events(ctx context.Context, _ func(Event)) error {
	<-ctx.Done()
	return ctx.Err()
}

func (b *fakeBeacon) attestations() []*spec.VersionedAttestation {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*spec.VersionedAttestation(nil), b.atts...)
}
