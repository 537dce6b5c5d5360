package cluster

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestReadinessRoundTrip(t *testing.T) {
	for _, r := range []Readiness{{Ready: true}, {Reason: "beacon node unreachable"}, {Reason: strings.Repeat("x", 300)}} {
		got, err := UnmarshalReadiness(r.Marshal())
		if err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		want := r
		if len(want.Reason) > maxReasonLen {
			want.Reason = want.Reason[:maxReasonLen]
		}
		if *got != want {
			t.Fatalf("round trip: got %+v, want %+v", *got, want)
		}
	}
	good := (&Readiness{Reason: "syncing"}).Marshal()
	for name, bad := range map[string][]byte{
		"empty":             nil,
		"version":           {2, 0, 0, 0},
		"flags":             {1, 2, 0, 0},
		"short length":      {1, 0, 0},
		"reason too long":   append([]byte{1, 0, 0x01, 0x01}, make([]byte, 257)...),
		"truncated reason":  good[:len(good)-1],
		"trailing":          append(append([]byte(nil), good...), 0),
		"ready with reason": {1, 1, 0, 1, 'x'},
	} {
		if _, err := UnmarshalReadiness(bad); !errors.Is(err, ErrExtension) {
			t.Errorf("%s: UnmarshalReadiness(%x) err = %v, want ErrExtension", name, bad, err)
		}
	}
}

func FuzzUnmarshalReadiness(f *testing.F) {
	f.Add((&Readiness{Ready: true}).Marshal())
	f.Add((&Readiness{Reason: "beacon node syncing"}).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := UnmarshalReadiness(b)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Marshal(), b) {
			t.Fatal("readiness re-encodes differently")
		}
	})
}

// TestReadinessReachesLeader: members report their readiness on AppendEntries responses; the leader sees
// which voters are ready, a change within a few heartbeats, and a member whose signing failed as not ready
// whatever it said before.
func TestReadinessReachesLeader(t *testing.T) {
	h := makeCluster(t, 3, 2, 1)
	li, leader := h.leader()
	a, b := (li+1)%3, (li+2)%3
	if got := leader.ReadyVoters(); len(got) != 0 {
		t.Fatalf("before any report, ReadyVoters = %v", got)
	}
	for _, nd := range h.nodes {
		nd.SetReadiness(true, "")
	}
	h.waitFor("both followers reported ready", 10*time.Second, func() bool { return len(leader.ReadyVoters()) == 2 })

	h.nodes[a].SetReadiness(false, "beacon node unreachable")
	h.waitFor("the leader to see the follower not ready", 10*time.Second, func() bool {
		got := leader.ReadyVoters()
		return len(got) == 1 && got[0] == nodeName(b)
	})
	var reason string
	for _, m := range leader.Readiness() {
		if m.ID == nodeName(a) {
			reason = m.Reason
		}
	}
	if reason != "beacon node unreachable" {
		t.Fatalf("leader has reason %q for %s", reason, nodeName(a))
	}

	// The other follower's disk fails: it reports not ready although nothing told it its beacon changed.
	if err := h.nodes[b].record.db.Close(); err != nil {
		t.Fatal(err)
	}
	h.nodes[b].disableSigning(ErrRecordFailed)
	h.waitFor("the leader to see the failed follower not ready", 10*time.Second, func() bool {
		return len(leader.ReadyVoters()) == 0
	})

	// A member the leader stops hearing from is no longer a target once its report is stale.
	h.nodes[a].SetReadiness(true, "")
	h.waitFor("the follower ready again", 10*time.Second, func() bool { return len(leader.ReadyVoters()) == 1 })
	h.partition(a)
	h.waitFor("the cut-off follower's report to go stale", 10*time.Second, func() bool {
		return len(leader.ReadyVoters()) == 0 || !leader.IsLeader()
	})
}

// TestProposeReportsQueued: Propose calls the WithQueued function exactly once, before it returns, whether
// the entry was queued (and then committed and signed) or refused because the node does not lead.
func TestProposeReportsQueued(t *testing.T) {
	h := makeCluster(t, 3, 2, 1)
	li, leader := h.leader()
	calls := 0
	out, err := leader.Propose(WithQueued(context.Background(), func() { calls++ }), h.attestation(8, 0, 1, 1, h.allValidators()...))
	if err != nil || !out.Complete() {
		t.Fatalf("propose: %v", err)
	}
	if calls != 1 {
		t.Fatalf("queued hook called %d times on the leader, want 1", calls)
	}
	calls = 0
	if _, err := h.nodes[(li+1)%3].Propose(WithQueued(context.Background(), func() { calls++ }), h.attestation(16, 1, 2, 2, 0)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("propose on a follower: %v", err)
	}
	if calls != 1 {
		t.Fatalf("queued hook called %d times on a follower, want 1", calls)
	}
}
