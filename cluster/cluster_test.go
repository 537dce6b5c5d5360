package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phalanx-eth/phalanx/fsm"
)

// TestClusterSignsAttestations: a 3-node 2-of-3 cluster turns duty entries into group signatures that equal
// the unsplit keys' signatures, and all nodes end with identical state.
func TestClusterSignsAttestations(t *testing.T) {
	h := makeCluster(t, 3, 2, 8)
	for epoch := uint64(1); epoch <= 6; epoch++ {
		out := h.mustPropose(h.attestation(epoch*8, epoch-1, epoch, byte(epoch), h.allValidators()...))
		if !out.Complete() {
			t.Fatalf("epoch %d: not every approved item has a group signature: %+v", epoch, out.Refusals)
		}
		for i, it := range out.Result.Items {
			if !it.Verdict.Approved {
				t.Fatalf("epoch %d item %d denied: %v", epoch, i, it.Verdict)
			}
		}
	}
	h.checkSnapshotsEqual()
	li, leader := h.leader()
	h.checkSignatures(h.committedDuties(li))
	h.checkAllPublished(h.committedDuties(li), leader.Machine())
	if got := len(h.signed); got != 6*8 {
		t.Fatalf("got %d group signatures, want %d", got, 6*8)
	}
}

// TestSlashableDutyGetsNoSignature: a double vote is denied by the state machine and no node signs it.
func TestSlashableDutyGetsNoSignature(t *testing.T) {
	h := makeCluster(t, 3, 2, 2)
	first := h.mustPropose(h.attestation(16, 1, 2, 0xaa, 0, 1))
	if !first.Complete() {
		t.Fatal("first attestation not signed")
	}
	second, err := h.propose(h.attestation(17, 1, 2, 0xbb, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range second.Result.Items {
		if it.Verdict.Approved {
			t.Fatalf("item %d of a double vote approved", i)
		}
	}
	for _, s := range second.Signatures {
		if s != nil {
			t.Fatal("a double vote got a group signature")
		}
	}
	// An identical request is approved again and yields the identical signature.
	again := h.mustPropose(h.attestation(16, 1, 2, 0xaa, 0, 1))
	for i := range again.Signatures {
		if again.Signatures[i] == nil || !again.Signatures[i].Equal(first.Signatures[i]) {
			t.Fatalf("item %d: identical request did not give the identical signature", i)
		}
	}
	li, _ := h.leader()
	h.checkSignatures(h.committedDuties(li))
}

// TestLeaderFailoverKeepsSigning kills the leader between duties; the new leader keeps signing, and the
// killed node catches up after a restart.
func TestLeaderFailoverKeepsSigning(t *testing.T) {
	h := makeCluster(t, 3, 2, 4)
	h.mustPropose(h.attestation(8, 0, 1, 1, h.allValidators()...))
	old, _ := h.leader()
	h.kill(old)
	start := time.Now()
	out := h.mustPropose(h.attestation(16, 1, 2, 2, h.allValidators()...))
	if !out.Complete() {
		t.Fatal("duty after failover not fully signed")
	}
	t.Logf("failover to the next group signature took %s", time.Since(start))
	h.restart(old)
	h.mustPropose(h.attestation(24, 2, 3, 3, h.allValidators()...))
	h.checkSnapshotsEqual()
	li, leader := h.leader()
	h.checkSignatures(h.committedDuties(li))
	h.checkAllPublished(h.committedDuties(li), leader.Machine())
}

// TestFollowerRestartInstallsSnapshot: a follower that misses more entries than the leader keeps gets a
// snapshot and ends with the same state.
func TestFollowerRestartInstallsSnapshot(t *testing.T) {
	h := makeCluster(t, 3, 2, 2, func(h *harness) {
		h.cfgHook = func(i int, c *Config) {
			c.SnapshotThreshold = 16
			c.TrailingLogs = 4
			c.SnapshotInterval = 200 * time.Millisecond
		}
	})
	li, _ := h.leader()
	follower := (li + 1) % 3
	h.kill(follower)
	for epoch := uint64(1); epoch <= 40; epoch++ {
		h.mustPropose(h.attestation(epoch*8, epoch-1, epoch, byte(epoch), 0, 1))
	}
	// Make sure the leader has compacted past what the follower has.
	_, leader := h.leader()
	if err := leader.r().Snapshot().Error(); err != nil {
		t.Logf("snapshot: %v", err)
	}
	h.restart(follower)
	h.checkSnapshotsEqual()
	if first, _ := h.nodes[follower].store.FirstIndex(); first <= 1 {
		t.Logf("follower log starts at %d", first)
	}
	h.checkSignatures(h.committedDuties(li))
}

// TestNotLeader: followers refuse proposals and name the leader.
func TestNotLeader(t *testing.T) {
	h := makeCluster(t, 3, 2, 1)
	li, _ := h.leader()
	f := h.nodes[(li+1)%3]
	_, err := f.Propose(context.Background(), h.attestation(8, 0, 1, 1, 0))
	var nl *NotLeaderError
	if !errors.As(err, &nl) || !errors.Is(err, ErrNotLeader) {
		t.Fatalf("follower Propose error = %v, want NotLeaderError", err)
	}
	if nl.LeaderID != nodeName(li) {
		t.Fatalf("follower names leader %q, want %q", nl.LeaderID, nodeName(li))
	}
}

// TestMembershipChanges grows the cluster from 3 to 5 voters, transfers leadership, and shrinks it back,
// while duties keep being signed.
func TestMembershipChanges(t *testing.T) {
	h := makeCluster(t, 5, 3, 2, func(h *harness) {
		// Nodes 4 and 5 start outside the configuration: bootstrap only the first three.
		h.cfgHook = func(i int, c *Config) {
			c.Bootstrap = h.members[:3]
			if i >= 3 {
				c.Bootstrap = nil
			}
			c.AllowedPeers = []string{h.ids[0].PeerID(), h.ids[1].PeerID(), h.ids[2].PeerID(), h.ids[3].PeerID(), h.ids[4].PeerID()}
		}
	})
	_, leader := h.leader()
	for i := 3; i < 5; i++ {
		if err := leader.AddVoter(h.members[i].ID, h.members[i].Address); err != nil {
			t.Fatal(err)
		}
	}
	st, err := leader.Status()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Members) != 5 {
		t.Fatalf("members after growth: %d, want 5", len(st.Members))
	}
	out := h.mustPropose(h.attestation(8, 0, 1, 1, 0, 1))
	if !out.Complete() {
		t.Fatal("3-of-5 duty not signed after growth")
	}
	li, leader := h.leader()
	target := (li + 1) % 5
	if err := leader.TransferLeadership(h.members[target].ID); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the transfer target to lead", 10*time.Second, func() bool { return h.nodes[target].IsLeader() })
	_, leader = h.leader()
	for _, i := range []int{3, 4} {
		if h.nodes[i] == leader {
			continue
		}
		if err := leader.RemoveServer(h.members[i].ID); err != nil {
			t.Fatal(err)
		}
	}
	out = h.mustPropose(h.attestation(16, 1, 2, 2, 0, 1))
	if !out.Complete() {
		t.Fatal("duty not signed after shrinking")
	}
	_, leader = h.leader()
	h.checkSignatures(h.committedDuties(indexOf(h, leader)))
}

func indexOf(h *harness, nd *Node) int {
	for i, x := range h.nodes {
		if x == nd {
			return i
		}
	}
	return -1
}

// TestHaltDeniesDuties: a halted cluster signs nothing until resumed.
func TestHaltDeniesDuties(t *testing.T) {
	h := makeCluster(t, 3, 2, 1)
	h.mustPropose(&fsm.Halt{Reason: []byte("maintenance")})
	out, err := h.propose(h.attestation(8, 0, 1, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if out.Result.Items[0].Verdict.Approved || out.Signatures != nil && out.Signatures[0] != nil {
		t.Fatal("halted cluster signed a duty")
	}
	h.mustPropose(&fsm.Resume{})
	if out := h.mustPropose(h.attestation(8, 0, 1, 1, 0)); !out.Complete() {
		t.Fatal("resumed cluster did not sign")
	}
}

// TestIntruderCannotJoin: a node whose peer ID is not in the cluster's allowlist, posing as a member with the
// member's ID and address book, gets no connection: it never learns a leader and the cluster never sees it.
func TestIntruderCannotJoin(t *testing.T) {
	h := makeCluster(t, 3, 2, 1)
	li, leader := h.leader()
	before, err := leader.Status()
	if err != nil {
		t.Fatal(err)
	}
	intruderID, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	victim := (li + 1) % 3
	cfg := h.config(victim)
	cfg.Identity = intruderID
	cfg.DataDir = t.TempDir()
	cfg.ListenAddr = "/ip4/127.0.0.1/tcp/0"
	// It claims the victim's server ID and bootstraps with the real members' addresses.
	members := append([]Member(nil), h.members...)
	members[victim].Address = "/ip4/127.0.0.1/tcp/1/p2p/" + intruderID.PeerID()
	cfg.Bootstrap = members
	intruder, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := intruder.Start(); err != nil {
		t.Fatal(err)
	}
	defer intruder.Close()
	// Let it try for several election timeouts, while the cluster keeps working.
	for epoch := uint64(1); epoch <= 5; epoch++ {
		h.mustPropose(h.attestation(epoch*8, epoch-1, epoch, byte(epoch), 0))
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if id, _ := intruder.Leader(); id != "" {
			t.Fatalf("intruder learned leader %q", id)
		}
		if intruder.Machine().AppliedIndex() > 0 {
			t.Fatal("intruder received log entries")
		}
		time.Sleep(50 * time.Millisecond)
	}
	after, err := leader.Status()
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Members) != len(before.Members) || !leader.IsLeader() {
		t.Fatalf("cluster changed: before %+v after %+v", before.Members, after.Members)
	}
}

// TestPartitionedLeaderCannotSign: the leader is cut off with a conflicting duty in its log; the majority
// elects a new leader and signs the other vote for the same target; after healing, the stale entry is gone,
// no conflicting group signature exists, and all nodes agree.
func TestPartitionedLeaderCannotSign(t *testing.T) {
	h := makeCluster(t, 3, 2, 2)
	h.mustPropose(h.attestation(8, 0, 1, 1, 0, 1))
	old, oldLeader := h.leader()
	h.partition(old)
	// The isolated leader accepts the entry into its log but cannot commit it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	out, err := oldLeader.Propose(ctx, h.attestation(16, 1, 2, 0xaa, 0, 1))
	cancel()
	if err == nil && out != nil {
		h.recordOutcome(out)
		for _, s := range out.Signatures {
			if s != nil {
				t.Fatal("isolated leader produced a group signature")
			}
		}
	}
	h.waitFor("a new leader in the majority", 20*time.Second, func() bool {
		for i, nd := range h.nodes {
			if i != old && nd.IsLeader() {
				return true
			}
		}
		return false
	})
	var majority *Node
	for i, nd := range h.nodes {
		if i != old && nd.IsLeader() {
			majority = nd
		}
	}
	ctx, cancel = context.WithTimeout(context.Background(), 8*time.Second)
	res, err := majority.Propose(ctx, h.attestation(17, 1, 2, 0xbb, 0, 1))
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	h.recordOutcome(res)
	if !res.Complete() {
		t.Fatalf("majority could not sign: %+v", res.Refusals)
	}
	h.heal()
	h.waitFor("the old leader to step down", 20*time.Second, func() bool { return !oldLeader.IsLeader() })
	h.mustPropose(h.attestation(24, 2, 3, 3, 0, 1))
	h.checkSnapshotsEqual()
	li, _ := h.leader()
	h.checkSignatures(h.committedDuties(li))
}

// TestNewLeaderRebuildsCommittedDuties: a leader commits a duty and dies before rebuilding its signature
// (the entry goes in through raft directly, as if the process crashed right after commit). The next leader
// rebuilds it from the committed log, with shares its followers sign again.
func TestNewLeaderRebuildsCommittedDuties(t *testing.T) {
	h := makeCluster(t, 3, 2, 3)
	li, leader := h.leader()
	d := h.attestation(8, 0, 1, 7, 0, 1, 2)
	b, err := fsm.Encode(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.r().Apply(b, 5*time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	duties := h.committedDuties(li)
	h.kill(li)
	_, nl := h.waitLeader()
	h.waitFor("the new leader to rebuild the duty", 20*time.Second, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.signed) >= 3
	})
	h.checkAllPublished(duties, nl.Machine())
	h.checkSignatures(duties)
}

// TestMetrics: the leader counts the group signatures it rebuilt and the commit latency it observed.
func TestMetrics(t *testing.T) {
	regs := make([]*prometheus.Registry, 3)
	h := makeCluster(t, 3, 2, 4, func(h *harness) {
		h.opts = func(i int) []Option {
			regs[i] = prometheus.NewRegistry()
			return []Option{WithMetrics(NewMetrics(regs[i]))}
		}
	})
	li, _ := h.leader()
	h.mustPropose(h.attestation(8, 0, 1, 1, h.allValidators()...))
	if li2, _ := h.leader(); li2 != li {
		t.Skip("leadership changed during the test; counts are per node")
	}
	mfs, err := regs[li].Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				got[mf.GetName()] += m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				got[mf.GetName()] += float64(m.GetHistogram().GetSampleCount())
			case m.GetGauge() != nil && mf.GetName() == "phalanx_raft_term":
				got[mf.GetName()] = m.GetGauge().GetValue()
			}
		}
	}
	if got["phalanx_group_signatures_total"] != 4 {
		t.Errorf("group signatures = %v, want 4", got["phalanx_group_signatures_total"])
	}
	if got["phalanx_raft_commit_seconds"] < 1 || got["phalanx_duty_signature_seconds"] != 1 {
		t.Errorf("latency samples: commit %v, sign %v", got["phalanx_raft_commit_seconds"], got["phalanx_duty_signature_seconds"])
	}
	if got["phalanx_share_latency_seconds"] < 1 || got["phalanx_raft_term"] < 1 {
		t.Errorf("share latency samples %v, term %v", got["phalanx_share_latency_seconds"], got["phalanx_raft_term"])
	}
}
