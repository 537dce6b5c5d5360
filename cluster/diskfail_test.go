package cluster

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestFailedRecordReleasesNoShare: a follower whose signed-by-me record can no longer be written appends
// entries but releases no share. With the other follower down, the leader's own share is then the only one:
// if the failed follower released a share it could not record, the leader would rebuild a group signature
// and this test would see it.
func TestFailedRecordReleasesNoShare(t *testing.T) {
	h := makeCluster(t, 3, 2, 2)
	h.mustPropose(h.attestation(8, 0, 1, 1, h.allValidators()...))
	li, _ := h.leader()
	f, other := (li+1)%3, (li+2)%3
	if err := h.nodes[f].record.db.Close(); err != nil { // the disk fails under the follower
		t.Fatal(err)
	}
	h.kill(other)

	out, err := h.propose(h.attestation(16, 1, 2, 2, h.allValidators()...))
	if err == nil || !errors.Is(err, ErrIncomplete) {
		t.Fatalf("propose with one healthy signer: err = %v, want ErrIncomplete", err)
	}
	for i, s := range out.Signatures {
		if s != nil {
			t.Fatalf("item %d got a group signature: a share left the node with the failed record", i)
		}
	}
	if !errors.Is(h.nodes[f].SigningError(), ErrRecordFailed) {
		t.Fatalf("%s SigningError = %v, want ErrRecordFailed", nodeName(f), h.nodes[f].SigningError())
	}
	st, err := h.nodes[f].Status()
	if err != nil || st.SigningError == "" {
		t.Fatalf("status of %s does not say signing failed: %+v %v", nodeName(f), st, err)
	}
}

// TestLeaderWithFailedRecordStepsDown: a leader whose record fails says so, hands leadership over, and the
// two healthy members keep signing without it.
func TestLeaderWithFailedRecordStepsDown(t *testing.T) {
	h := makeCluster(t, 3, 2, 2)
	h.mustPropose(h.attestation(8, 0, 1, 1, h.allValidators()...))
	li, leader := h.leader()
	if err := leader.record.db.Close(); err != nil {
		t.Fatal(err)
	}
	// The leader signs its own shares first; the record write fails there.
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	_, _ = leader.Propose(ctx, h.attestation(16, 1, 2, 2, h.allValidators()...))
	cancel()
	if !errors.Is(leader.SigningError(), ErrRecordFailed) {
		t.Fatalf("leader SigningError = %v, want ErrRecordFailed", leader.SigningError())
	}
	h.waitFor("leadership to leave the failed node", 20*time.Second, func() bool {
		i, _ := h.leader()
		return i >= 0 && i != li
	})
	out := h.mustPropose(h.attestation(24, 2, 3, 3, h.allValidators()...))
	if !out.Complete() {
		t.Fatalf("the healthy members did not sign: %+v", out.Refusals)
	}
	// The duty the failed leader committed but could not sign is rebuilt by the new leader.
	ni, nl := h.leader()
	var idx uint64
	for i, d := range h.committedDuties(ni) {
		if d.Slot == 16 {
			idx = i
		}
	}
	if idx == 0 {
		t.Fatal("the failed leader's duty is not in the log")
	}
	h.waitFor("the new leader to sign the failed leader's committed duty", 20*time.Second, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		n := 0
		for _, s := range h.signed {
			if s.index == idx {
				n++
			}
		}
		return n == len(h.validators)
	})
	h.checkSignatures(h.committedDuties(ni))
	h.checkAllPublished(h.committedDuties(ni), nl.Machine())
}
