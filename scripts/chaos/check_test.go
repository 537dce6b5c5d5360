package main

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/phalanx-eth/phalanx/node/devnet"
	"github.com/phalanx-eth/phalanx/threshold/keys"
)

// checkerFixture is a started devnet with the checker's view of it: chain facts from its Beacon API and the
// group keys of validators 0..3 (the "cluster").
type checkerFixture struct {
	dn      *devnet.Devnet
	ci      chainInfo
	pubkeys map[uint64][]byte
}

func newCheckerFixture(t *testing.T) *checkerFixture {
	t.Helper()
	cfg := devnet.DefaultConfig()
	cfg.ClusterValidators = []uint64{0, 1, 2, 3}
	dn, err := devnet.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := dn.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dn.Close() })
	var lock struct {
		Validators []map[string]string `json:"validators"`
	}
	for i := uint64(0); i < 4; i++ {
		sk, err := keys.InteropSecretKey(i)
		if err != nil {
			t.Fatal(err)
		}
		lock.Validators = append(lock.Validators, map[string]string{"pubkey": "0x" + hex.EncodeToString(sk.PublicKey().Bytes())})
	}
	b, _ := json.Marshal(lock)
	lockPath := filepath.Join(t.TempDir(), "lock.json")
	if err := os.WriteFile(lockPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ci, pubkeys, err := chainFacts(dn.URL(), lockPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(pubkeys) != 4 {
		t.Fatalf("chainFacts found %d cluster validators, want 4", len(pubkeys))
	}
	return &checkerFixture{dn: dn, ci: ci, pubkeys: pubkeys}
}

// att builds a published attestation of validator v, signed with its interop key under the checker's own
// signing root (the first test checks that root against fsm/eth's).
func (f *checkerFixture) att(t *testing.T, v, slot, src, tgt uint64, head byte) devnet.Published {
	t.Helper()
	d := &phase0.AttestationData{Slot: phase0.Slot(slot), BeaconBlockRoot: phase0.Root{head},
		Source: &phase0.Checkpoint{Epoch: phase0.Epoch(src)}, Target: &phase0.Checkpoint{Epoch: phase0.Epoch(tgt)}}
	p := devnet.Published{Kind: devnet.PublishedAttestation, ValidatorIndex: v, Slot: slot, Attestation: d, Received: time.Now()}
	m, err := toMessage(p, f.ci)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := keys.InteropSecretKey(v)
	if err != nil {
		t.Fatal(err)
	}
	copy(p.Signature[:], sk.Sign(m.root[:]).Bytes())
	return p
}

func TestCheckerSigningRootsMatchTheSpec(t *testing.T) {
	f := newCheckerFixture(t)
	p := f.att(t, 1, 9, 0, 1, 7)
	m, err := toMessage(p, f.ci)
	if err != nil {
		t.Fatal(err)
	}
	spec := f.dn.Spec()
	want, err := spec.AttestationSigningRoot(p.Attestation)
	if err != nil {
		t.Fatal(err)
	}
	if m.root != [32]byte(want) {
		t.Fatalf("attestation signing root %x, fsm/eth says %x", m.root, want)
	}
	obj := [32]byte{1, 2, 3}
	if got, want := signingRoot(obj, f.ci.domain(domainBeaconProposer, 2)), spec.BlockSigningRoot(2*f.ci.SlotsPerEpoch, obj); got != [32]byte(want) {
		t.Fatalf("block signing root %x, fsm/eth says %x", got, want)
	}
}

func TestCheckerSignaturesAndSlashing(t *testing.T) {
	f := newCheckerFixture(t)
	good := []devnet.Published{
		f.att(t, 0, 8, 0, 1, 1),
		f.att(t, 0, 8, 0, 1, 1), // re-published: identical, no offence
		f.att(t, 0, 16, 1, 2, 2),
		f.att(t, 1, 8, 0, 1, 1),
	}
	msgs, bad := checkSignatures(good, f.pubkeys, f.ci)
	if len(bad) != 0 || len(msgs) != len(good) {
		t.Fatalf("valid messages: %d verified, violations %v", len(msgs), bad)
	}
	if v := checkSlashable(msgs); len(v) != 0 {
		t.Fatalf("no conflicts expected, got %v", v)
	}

	forged := f.att(t, 2, 8, 0, 1, 1)
	forged.Signature[10] ^= 1
	stranger := f.att(t, 2, 8, 0, 1, 1)
	stranger.ValidatorIndex = 40 // not a cluster validator
	if _, bad := checkSignatures([]devnet.Published{forged, stranger}, f.pubkeys, f.ci); len(bad) != 2 {
		t.Fatalf("forged and foreign messages: want 2 violations, got %v", bad)
	}

	cases := []struct {
		name string
		a, b devnet.Published
		want string
	}{
		{"double vote", f.att(t, 3, 8, 0, 1, 1), f.att(t, 3, 9, 0, 1, 2), "double vote"},
		{"surrounding", f.att(t, 3, 40, 1, 5, 1), f.att(t, 3, 24, 2, 3, 2), "surround vote"},
		{"surrounded", f.att(t, 3, 24, 2, 3, 2), f.att(t, 3, 40, 1, 5, 1), "surround vote"},
		{"same source, later target", f.att(t, 3, 24, 2, 3, 2), f.att(t, 3, 32, 2, 4, 1), ""},
		{"other validator", f.att(t, 3, 8, 0, 1, 1), f.att(t, 2, 9, 0, 1, 2), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msgs, bad := checkSignatures([]devnet.Published{c.a, c.b}, f.pubkeys, f.ci)
			if len(bad) != 0 {
				t.Fatal(bad)
			}
			v := checkSlashable(msgs)
			switch {
			case c.want == "" && len(v) != 0:
				t.Fatalf("want no violation, got %v", v)
			case c.want != "" && (len(v) != 1 || v[0].Check != c.want):
				t.Fatalf("want one %q, got %v", c.want, v)
			}
		})
	}

	// Two different blocks for one slot, checked on the reduced form.
	b1 := message{kind: devnet.PublishedBlock, validator: 1, slot: 5, object: [32]byte{1}}
	b2 := b1
	b2.object = [32]byte{2}
	if v := checkSlashable([]message{b1, b1, b2}); len(v) != 2 || v[0].Check != "double proposal" {
		t.Fatalf("double proposal: got %v", v)
	}
}

func TestCheckerSurvival(t *testing.T) {
	f := newCheckerFixture(t)
	msgs, bad := checkSignatures([]devnet.Published{f.att(t, 0, 24, 2, 3, 1), f.att(t, 1, 8, 0, 1, 1)}, f.pubkeys, f.ci)
	if len(bad) != 0 {
		t.Fatal(bad)
	}
	pk0 := "0x" + hex.EncodeToString(f.pubkeys[0])
	pk1 := "0x" + hex.EncodeToString(f.pubkeys[1])
	root0 := "0x" + hex.EncodeToString(msgs[0].root[:])
	ic := func(recs ...string) []byte { return []byte(`{"metadata":{},"data":[` + strings.Join(recs, ",") + `]}`) }
	rec := func(pk, tgt, root string) string {
		return `{"pubkey":"` + pk + `","signed_blocks":[],"signed_attestations":[{"source_epoch":"0","target_epoch":"` + tgt + `","signing_root":"` + root + `"}]}`
	}
	if v := checkSurvived("n", ic(rec(pk0, "3", root0), rec(pk1, "2", "")), msgs, f.pubkeys, 0, 8); len(v) != 0 {
		t.Fatalf("kept and pruned records: %v", v)
	}
	if v := checkSurvived("n", ic(rec(pk0, "3", "0x"+strings.Repeat("ab", 32))), msgs, f.pubkeys, 0, 8); len(v) != 2 {
		t.Fatalf("a different root and a lost validator: want 2 violations, got %v", v)
	}
	if v := checkSurvived("n", ic(), msgs, f.pubkeys, 5, 8); len(v) != 0 {
		t.Fatalf("everything below finality pruned: %v", v)
	}
}

func TestSplitSnapshot(t *testing.T) {
	b := []byte("phalanx-snapshot\x0012\n{\"Index\":42}FSM")
	idx, fsmBytes, err := splitSnapshot(b)
	if err != nil || idx != 42 || string(fsmBytes) != "FSM" {
		t.Fatalf("got %d %q %v", idx, fsmBytes, err)
	}
	for _, bad := range []string{"", "phalanx-snapshot\x00x\n", "phalanx-snapshot\x0099\n{}", "phalanx-snapshot\x002\n{]"} {
		if _, _, err := splitSnapshot([]byte(bad)); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func FuzzSplitSnapshot(f *testing.F) {
	f.Add([]byte("phalanx-snapshot\x0012\n{\"Index\":42}FSM"))
	f.Add([]byte("phalanx-snapshot\x002\n{}"))
	f.Add([]byte("\x00-1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, fsmBytes, err := splitSnapshot(b)
		if err == nil && len(fsmBytes) > len(b) {
			t.Fatal("FSM part longer than the file")
		}
	})
}
