package cluster

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/phalanx-eth/phalanx/threshold"
)

// TestCombinerFindsBadShare: a member sending a share made with the wrong key is named, and the signature is
// rebuilt from the good shares.
func TestCombinerFindsBadShare(t *testing.T) {
	f := newSignerFixture(t)
	data := f.attestation(t, 1, 2, 0xaa)
	res := f.machine.Check(data)
	root := res.Items[0].SigningRoot
	h := threshold.HashMessage(root[:])

	share := func(i int) Share {
		p := f.val.shares[i].SignHashed(h)
		s := Share{Index: 5, Item: 0, ShareIndex: p.Index}
		copy(s.Signature[:], p.Signature.Bytes())
		return s
	}
	wrongKey, err := threshold.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bad := Share{Index: 5, Item: 0, ShareIndex: 3}
	copy(bad.Signature[:], wrongKey.SignHashed(h).Bytes())

	c := NewCombiner(f.machine, nil)
	var reported []BadShare
	c.OnBadShare(func(b BadShare) { reported = append(reported, b) })
	// The bad share arrives early, before the entry commits.
	c.AddShares("node-3", &SharesMessage{Shares: []Share{bad}})
	c.Committed(5, res, []Share{share(0)}, "node-1")
	if len(reported) != 1 || reported[0].From != "node-3" || reported[0].ShareIndex != 3 {
		t.Fatalf("bad share reports = %+v, want one naming node-3", reported)
	}
	c.AddShares("node-2", &SharesMessage{Shares: []Share{share(1)}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	out, err := c.Wait(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if want := f.val.sk.SignHashed(h); out.Signatures[0] == nil || !out.Signatures[0].Equal(want) {
		t.Fatal("rebuilt signature is not the validator's signature")
	}
}

// TestCombinerAsksForMissingShares: a committed entry without enough shares is requested from members that
// have not answered, once per retry delay.
func TestCombinerAsksForMissingShares(t *testing.T) {
	f := newSignerFixture(t)
	res := f.machine.Check(f.attestation(t, 1, 2, 0xaa))
	c := NewCombiner(f.machine, nil)
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	c.Committed(9, res, nil, "node-1")
	if got := c.Requests("node-2"); len(got) != 0 {
		t.Fatalf("asked before the retry delay: %v", got)
	}
	now = now.Add(time.Second)
	if got := c.Requests("node-2"); len(got) != 1 || got[0] != 9 {
		t.Fatalf("Requests = %v, want [9]", got)
	}
	if got := c.Requests("node-2"); len(got) != 0 {
		t.Fatalf("asked twice within the delay: %v", got)
	}
	// The next request waits twice as long.
	now = now.Add(c.retryAfter + c.retryAfter/2)
	if got := c.Requests("node-2"); len(got) != 0 {
		t.Fatalf("asked again before the doubled delay: %v", got)
	}
	now = now.Add(c.retryAfter)
	if got := c.Requests("node-2"); len(got) != 1 {
		t.Fatalf("not asked again after the doubled delay: %v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Wait(ctx, 9); err == nil {
		t.Fatal("Wait on an incomplete entry returned no error")
	}
}

func TestHashCacheBounded(t *testing.T) {
	c := &hashCache{m: make(map[[32]byte]*threshold.HashedMessage), ring: make([][32]byte, hashCacheSize)}
	var first [32]byte
	first[0] = 1
	h1 := c.get(first)
	if c.get(first) != h1 {
		t.Fatal("cached root hashed twice")
	}
	for i := 0; i < 2*hashCacheSize; i++ {
		var r [32]byte
		r[1], r[2] = byte(i), byte(i>>8)
		c.get(r)
	}
	if len(c.m) > hashCacheSize {
		t.Fatalf("cache holds %d entries, bound %d", len(c.m), hashCacheSize)
	}
	sk, err := threshold.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if !sk.SignHashed(c.get(first)).Equal(sk.Sign(first[:])) {
		t.Fatal("re-hashed root differs from hashing the message")
	}
}
