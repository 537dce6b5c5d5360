package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	eth2spec "github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/phalanx-eth/phalanx/cluster"
	"github.com/phalanx-eth/phalanx/fsm"
	"github.com/phalanx-eth/phalanx/fsm/eth"
	"github.com/phalanx-eth/phalanx/threshold"
)

type harness struct {
	t     *testing.T
	clock *fakeClock
	cl    *fakeCluster
	b     *fakeBeacon
	s     *Scheduler
	lock  *Lock
	vals  []testValidator
	sc    SlotClock

	cancel context.CancelFunc
	done   chan error
}

func seq(n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(i)
	}
	return out
}

func newHarness(t *testing.T, nvals int, startSlot uint64) *harness {
	t.Helper()
	vals := testValidators(t, seq(nvals)...)
	lock, _ := testLock(t, vals, 2, 3)
	sc := SlotClock{Genesis: time.Unix(fakeGenesis, 0), SlotDuration: 12 * time.Second, SlotsPerEpoch: 8}
	h := &harness{t: t, clock: newFakeClock(sc.SlotStart(startSlot)), cl: newFakeCluster(vals), b: newFakeBeacon(vals),
		lock: lock, vals: vals, sc: sc}
	h.s = NewScheduler(h.cl, h.b, lock, SchedulerConfig{Clock: h.clock, Logger: quietLogger(), Registrations: true, DoppelgangerCheck: true})
	return h
}

func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.s.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(20 * time.Second):
			h.t.Error("scheduler did not stop after cancel")
		}
	})
}

// idle waits until every duty task finished and the scheduler waits on the clock (or Run returned).
func (h *harness) idle() (stopped bool) {
	h.t.Helper()
	eventually(h.t, "scheduler idle", func() bool {
		select {
		case err := <-h.done:
			h.done <- err
			stopped = true
			return true
		default:
		}
		_, waiting := h.clock.next()
		return waiting && h.s.inflight.Load() == 0
	})
	return stopped
}

// runTo steps the clock tick by tick up to t, letting every task finish at each tick.
func (h *harness) runTo(t time.Time) {
	h.t.Helper()
	for {
		if h.idle() {
			return
		}
		next, _ := h.clock.next()
		if next.After(t) {
			h.clock.set(t)
			h.idle()
			return
		}
		h.clock.set(next)
	}
}

func TestSchedulerAttestsOneEntryPerCommittee(t *testing.T) {
	h := newHarness(t, 24, 8)
	h.start()
	h.runTo(h.sc.SlotStart(16))

	spec, _ := h.cl.Machine().Spec()
	atts := h.cl.duties(fsm.DutyAttestation)
	perSlot := map[uint64]int{}
	for _, d := range atts {
		perSlot[d.Slot]++
		// All cluster validators of one committee share the entry.
		var ad = mustAttData(t, d)
		if ad.Index != 0 {
			t.Errorf("slot %d: electra attestation data index %d, want 0", d.Slot, ad.Index)
		}
		ci := (d.Items[0].ValidatorIndex / 8) % 2
		for _, it := range d.Items {
			if (it.ValidatorIndex/8)%2 != ci || it.ValidatorIndex%8 != d.Slot%8 {
				t.Errorf("slot %d entry mixes committees: validator %d", d.Slot, it.ValidatorIndex)
			}
		}
	}
	for slot := uint64(8); slot < 16; slot++ {
		if perSlot[slot] != 2 {
			t.Errorf("slot %d: %d attestation entries, want 2 (one per committee)", slot, perSlot[slot])
		}
	}
	var published []*eth2spec.VersionedAttestation
	for _, a := range h.b.attestations() {
		// The scheduler also catches up on the slot before it started (slot 7).
		if a.Electra.Data.Slot >= 8 {
			published = append(published, a)
		}
	}
	if len(published) != 24 {
		t.Fatalf("%d attestations published, want 24", len(published))
	}
	seen := map[uint64]bool{}
	for _, a := range published {
		if a.ValidatorIndex == nil || a.Electra == nil {
			t.Fatalf("attestation is not an electra single attestation: %+v", a)
		}
		vi := uint64(*a.ValidatorIndex)
		if seen[vi] {
			t.Errorf("validator %d published twice", vi)
		}
		seen[vi] = true
		ci := (vi / 8) % 2
		if !a.Electra.CommitteeBits.BitAt(ci) || a.Electra.CommitteeBits.Count() != 1 {
			t.Errorf("validator %d: committee bits %x, want only bit %d", vi, a.Electra.CommitteeBits, ci)
		}
		root, err := spec.AttestationSigningRoot(a.Electra.Data)
		if err != nil {
			t.Fatal(err)
		}
		pk := h.vals[vi].sk.PublicKey()
		s, err := threshold.SignatureFromBytes(a.Electra.Signature[:])
		if err != nil || !pk.Verify(root[:], s) {
			t.Errorf("validator %d: attestation signature does not verify", vi)
		}
	}

	// Every subscription carries is_aggregator as the selection proof decides.
	h.b.mu.Lock()
	subs := append(h.b.subs[:0:0], h.b.subs...)
	nAggs := len(h.b.aggs)
	h.b.mu.Unlock()
	if len(subs) < 48 {
		t.Fatalf("%d subscriptions, want the 24 duties of epochs 1 and 2 each", len(subs))
	}
	wantAggs := 0
	for _, sub := range subs {
		sr := spec.SelectionProofSigningRoot(uint64(sub.Slot))
		var proof [96]byte
		copy(proof[:], h.vals[sub.ValidatorIndex].sk.Sign(sr[:]).Bytes())
		want := eth.IsAggregator(64, proof, spec)
		if sub.IsAggregator != want {
			t.Errorf("validator %d slot %d: is_aggregator %t, want %t", sub.ValidatorIndex, sub.Slot, sub.IsAggregator, want)
		}
		if want && sub.Slot >= 8 && sub.Slot < 16 {
			wantAggs++
		}
	}
	if nAggs != wantAggs {
		t.Errorf("%d aggregates published, want %d (one per aggregator of epoch 1)", nAggs, wantAggs)
	}
	h.b.mu.Lock()
	nsync := len(h.b.sync)
	h.b.mu.Unlock()
	if nsync != 8 {
		t.Errorf("%d sync committee messages, want 8 (one member, 8 slots)", nsync)
	}
	// Registrations were tried once and then skipped quietly.
	h.b.mu.Lock()
	regs := h.b.regs
	h.b.mu.Unlock()
	if regs != 1 {
		t.Errorf("validator registrations sent %d times, want once before the beacon node said it does not support them", regs)
	}
	sr, ok := h.s.reports.get(9)
	if !ok || !strings.Contains(sr.Summary(), "3 attestations signed and published") {
		t.Errorf("slot 9 summary %q", sr.Summary())
	}
}

func mustAttData(t *testing.T, d *fsm.Duty) *phase0AttData {
	t.Helper()
	var ad phase0AttData
	if err := ad.UnmarshalSSZ(d.Data); err != nil {
		t.Fatal(err)
	}
	return &ad
}

func TestSchedulerBeaconFaultsStopSigning(t *testing.T) {
	cases := []struct {
		name string
		set  func(h *harness)
		want error
	}{
		{"syncing", func(h *harness) { h.b.checkErr = fmt.Errorf("%w: 100 slots behind", ErrBeaconSyncing) }, ErrBeaconSyncing},
		{"unreachable", func(h *harness) { h.b.checkErr = fmt.Errorf("%w: connection refused", ErrBeaconUnreachable) }, ErrBeaconUnreachable},
		{"other chain", func(h *harness) {
			other := fakeChainConfig()
			other.GenesisValidatorsRoot[0] = 0x99
			if out, err := h.cl.Propose(context.Background(), other); err != nil || !out.Result.Applied() {
				t.Fatalf("bind: %v", err)
			}
		}, ErrWrongChain},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 8, 8)
			tc.set(h)
			h.start()
			h.runTo(h.sc.SlotStart(11))
			if n := h.cl.dutyCount(); n != 0 {
				t.Fatalf("%d duty entries proposed while the beacon node is not usable", n)
			}
			if err := h.s.BeaconError(); !errors.Is(err, tc.want) {
				t.Fatalf("BeaconError() = %v, want %v", err, tc.want)
			}
		})
	}

	t.Run("resumes once synced, pauses when syncing again", func(t *testing.T) {
		h := newHarness(t, 8, 8)
		h.b.checkErr = ErrBeaconSyncing
		h.start()
		h.runTo(h.sc.SlotStart(9))
		if h.cl.dutyCount() != 0 {
			t.Fatal("signed while syncing")
		}
		h.b.mu.Lock()
		h.b.checkErr = nil
		h.b.mu.Unlock()
		h.runTo(h.sc.SlotStart(12))
		if len(h.cl.duties(fsm.DutyAttestation)) == 0 {
			t.Fatal("no attestation after the beacon node synced")
		}
		h.b.mu.Lock()
		h.b.checkErr = ErrBeaconSyncing
		h.b.mu.Unlock()
		// Slot 12 passed its health check before the node fell behind; slot 13 did not.
		h.runTo(h.sc.SlotStart(14))
		for _, d := range h.cl.duties(fsm.DutyAttestation) {
			if d.Slot == 13 {
				t.Fatalf("attestation for slot 13 signed while syncing again")
			}
		}
		if !errors.Is(h.s.BeaconError(), ErrBeaconSyncing) {
			t.Fatalf("BeaconError() = %v", h.s.BeaconError())
		}
	})
}

func TestSchedulerStopsOnLeadershipLoss(t *testing.T) {
	h := newHarness(t, 8, 8)
	h.start()
	h.runTo(h.sc.SlotStart(10))
	if len(h.cl.duties(fsm.DutyAttestation)) == 0 {
		t.Fatal("no attestations while leading")
	}
	h.cl.setNotLeader(true)
	h.runTo(h.sc.SlotStart(12))
	select {
	case err := <-h.done:
		h.done <- err
		if !errors.Is(err, cluster.ErrNotLeader) {
			t.Fatalf("Run returned %v, want ErrNotLeader", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("scheduler kept running after leadership was lost")
	}
	if h.s.Running() {
		t.Fatal("Running() after leadership loss")
	}
	if err := h.s.Exit(context.Background(), h.vals[0].pk); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Exit on a stopped scheduler: %v", err)
	}
}

func TestSchedulerDoppelganger(t *testing.T) {
	t.Run("refuses", func(t *testing.T) {
		h := newHarness(t, 8, 8)
		h.b.live[3] = true
		h.start()
		h.idle()
		err := <-h.done
		h.done <- err
		if !errors.Is(err, ErrDoppelganger) || !strings.Contains(err.Error(), "3 (epoch") {
			t.Fatalf("Run returned %v, want a doppelganger refusal naming validator 3", err)
		}
		if n := h.cl.dutyCount(); n != 0 {
			t.Fatalf("%d duty entries despite the doppelganger", n)
		}
	})
	t.Run("ignores liveness the cluster explains", func(t *testing.T) {
		h := newHarness(t, 8, 8)
		// The cluster itself attested for validator 3 in epoch 0.
		ctx := context.Background()
		mustApply(t, h.cl, fakeChainConfig())
		for _, v := range h.lock.Validators {
			add := &fsm.ValidatorAdd{Pubkey: v.GroupPubkey(), Threshold: 2, ValidatorIndex: fsm.UnknownValidatorIndex}
			for _, sp := range v.SharePubkeys {
				var b [48]byte
				copy(b[:], sp)
				add.SharePubkeys = append(add.SharePubkeys, b)
			}
			mustApply(t, h.cl, add)
		}
		att, _ := h.b.AttestationData(ctx, 3, 0)
		raw, _ := att.MarshalSSZ()
		mustApply(t, h.cl, &fsm.Duty{Kind: fsm.DutyAttestation, Slot: 3, Epoch: 0, Data: raw,
			Items: []fsm.DutyItem{{Pubkey: h.vals[3].pk, ValidatorIndex: 3}}})
		h.b.live[3] = true
		h.start()
		h.runTo(h.sc.SlotStart(9))
		if len(h.cl.duties(fsm.DutyAttestation)) < 2 {
			t.Fatal("scheduler refused although the cluster explains the liveness")
		}
	})
}

func mustApply(t *testing.T, cl *fakeCluster, e fsm.Entry) {
	t.Helper()
	out, err := cl.Propose(context.Background(), e)
	if err != nil || !out.Result.Applied() {
		t.Fatalf("apply %T: %v %+v", e, err, out)
	}
}

func TestSchedulerDeadlines(t *testing.T) {
	h := newHarness(t, 8, 8)
	gate := make(chan struct{})
	h.b.dataGate = gate
	h.start()
	// Let start-up finish: the first attestation task blocks on the gate.
	eventually(t, "attestation task waiting", func() bool { return h.s.inflight.Load() > 0 && len(h.cl.duties(fsm.DutySelectionProof)) > 0 })
	// A whole epoch passes while the beacon node holds the attestation data back.
	h.clock.set(h.sc.SlotPart(16, 1, 3).Add(time.Second))
	eventually(t, "ticks caught up", func() bool {
		n, ok := h.clock.next()
		return ok && n.After(h.sc.SlotStart(16))
	})
	close(gate)
	h.idle()
	// Slot 8's attestation is past its deadline (one epoch): dropped and counted, never signed.
	for _, d := range h.cl.duties(fsm.DutyAttestation) {
		if d.Slot == 8 {
			t.Fatalf("slot 8 attestation signed after its deadline")
		}
	}
	if h.s.Dropped() == 0 {
		t.Fatal("no dropped duty counted")
	}
	sr, _ := h.s.reports.get(8)
	if c := sr.Duties["attestation"]; c == nil || c.Dropped != 1 {
		t.Fatalf("slot 8 report %+v, want 1 dropped attestation", sr)
	}
	// Later slots were late (past 1/3) but still useful: signed and published.
	var late int
	for _, a := range h.b.attestations() {
		if a.Electra.Data.Slot >= 9 {
			late++
		}
	}
	if late == 0 {
		t.Fatal("late but useful attestations were not published")
	}
}

type phase0AttData = phase0.AttestationData

// TestSchedulerAttestationsBeforeSyncMessages: a slot's attestations enter the log before its sync-committee
// messages, even when the beacon node answers the attestation data later than the head block root, so that
// followers (which sign in log order) sign the attestations first.
func TestSchedulerAttestationsBeforeSyncMessages(t *testing.T) {
	h := newHarness(t, 24, 8)
	h.start()
	h.runTo(h.sc.SlotStart(9))
	gate := make(chan struct{})
	h.b.mu.Lock()
	h.b.dataGate = gate
	h.b.mu.Unlock()
	h.clock.set(h.sc.SlotPart(9, 1, 3))
	eventually(t, "attestation tasks waiting for their data", func() bool { return h.s.inflight.Load() >= 2 })
	time.Sleep(100 * time.Millisecond) // room for a sync-message entry that should not come
	for _, d := range h.cl.duties(fsm.DutySyncCommitteeMessage) {
		if d.Slot == 9 {
			t.Fatal("slot 9's sync-committee messages were proposed while its attestations waited for data")
		}
	}
	close(gate)
	h.runTo(h.sc.SlotStart(11))

	h.cl.mu.Lock()
	defer h.cl.mu.Unlock()
	lastAtt, syncAt := map[uint64]int{}, map[uint64]int{}
	for i, e := range h.cl.entries {
		d, ok := e.(*fsm.Duty)
		if !ok {
			continue
		}
		switch d.Kind {
		case fsm.DutyAttestation:
			lastAtt[d.Slot] = i
		case fsm.DutySyncCommitteeMessage:
			syncAt[d.Slot] = i
		}
	}
	for _, slot := range []uint64{9, 10} {
		a, okA := lastAtt[slot]
		m, okM := syncAt[slot]
		if !okA || !okM {
			t.Fatalf("slot %d: attestation entry %t, sync-message entry %t", slot, okA, okM)
		}
		if a > m {
			t.Errorf("slot %d: sync messages at log position %d before the attestations at %d", slot, m, a)
		}
	}
}
