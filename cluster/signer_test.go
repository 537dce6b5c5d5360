package cluster

import (
	"bytes"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/phalanx-eth/phalanx/fsm"
	"github.com/phalanx-eth/phalanx/fsm/slashing"
	"github.com/phalanx-eth/phalanx/threshold"
)

// signerFixture is one node's signer over a machine holding a chain config and one 2-of-3 validator.
type signerFixture struct {
	machine *fsm.Machine
	record  *SignedByMe
	signer  *Signer
	val     *testValidator
	path    string
	next    uint64
}

func newSignerFixture(t *testing.T) *signerFixture {
	t.Helper()
	f := &signerFixture{machine: fsm.NewMachine(), path: filepath.Join(t.TempDir(), "signed-by-me.db")}
	f.val = newTestValidator(t, 2, 3)
	f.apply(t, &fsm.ChainConfig{
		GenesisValidatorsRoot: testGVR, GenesisForkVersion: [4]byte{0x10},
		Forks: []fsm.ForkSchedule{{Version: [4]byte{0x10}}}, SecondsPerSlot: 2, SlotsPerEpoch: 8,
	})
	add := &fsm.ValidatorAdd{Pubkey: f.val.pkb, Threshold: 2}
	for s := uint32(1); s <= 3; s++ {
		spk, _ := f.val.commit.SharePublicKey(s)
		var b [48]byte
		copy(b[:], spk.Bytes())
		add.SharePubkeys = append(add.SharePubkeys, b)
	}
	f.apply(t, add)
	f.open(t)
	return f
}

func (f *signerFixture) open(t *testing.T) {
	t.Helper()
	rec, err := OpenSignedByMe(f.path)
	if err != nil {
		t.Fatal(err)
	}
	f.record = rec
	share := f.val.shares[1]
	f.signer = NewSigner(f.machine, MapKeyRing{f.val.pkb: &share}, rec, nil)
	t.Cleanup(func() { rec.Close() })
}

func (f *signerFixture) apply(t *testing.T, e fsm.Entry) {
	t.Helper()
	b, err := fsm.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	f.next++
	if res := f.machine.Apply(f.next, b); res.Status != fsm.StatusApplied {
		t.Fatalf("apply %T: %s", e, res.Reason)
	}
}

func (f *signerFixture) attestation(t *testing.T, source, target uint64, root byte) []byte {
	t.Helper()
	data := &phase0.AttestationData{
		Slot: phase0.Slot(target * 8), BeaconBlockRoot: phase0.Root{root},
		Source: &phase0.Checkpoint{Epoch: phase0.Epoch(source)}, Target: &phase0.Checkpoint{Epoch: phase0.Epoch(target), Root: phase0.Root{root}},
	}
	ssz, err := data.MarshalSSZ()
	if err != nil {
		t.Fatal(err)
	}
	b, err := fsm.Encode(&fsm.Duty{Kind: fsm.DutyAttestation, Slot: target * 8, Epoch: target, Data: ssz,
		Items: []fsm.DutyItem{{Pubkey: f.val.pkb}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSignerRefusesConflictAcrossTerms: two conflicting entries appended at the same index in different
// terms (the first never committed, so the state machine knows nothing of it) — the signed-by-me record
// refuses the second, also after a restart.
func TestSignerRefusesConflictAcrossTerms(t *testing.T) {
	f := newSignerFixture(t)
	a := f.attestation(t, 1, 2, 0xaa)
	b := f.attestation(t, 1, 2, 0xbb)
	shares, refusals, err := f.signer.SignEntry(10, a)
	if err != nil || len(shares) != 1 || len(refusals) != 0 {
		t.Fatalf("first entry: shares=%d refusals=%v err=%v", len(shares), refusals, err)
	}
	// The share is the validator's share 2 over the state machine's signing root.
	res := f.machine.Check(a)
	root := res.Items[0].SigningRoot
	spk, _ := f.val.commit.SharePublicKey(2)
	sig, err := threshold.SignatureFromBytes(shares[0].Signature[:])
	if err != nil || !spk.Verify(root[:], sig) || shares[0].ShareIndex != 2 {
		t.Fatal("share does not verify against share public key 2")
	}
	// Re-signing the identical entry gives the identical share.
	again, _, err := f.signer.SignEntry(10, a)
	if err != nil || len(again) != 1 || again[0].Signature != shares[0].Signature {
		t.Fatal("identical entry did not give the identical share")
	}
	// The conflicting entry at the same index, as a new leader would send it.
	got, refusals, err := f.signer.SignEntry(10, b)
	if err != nil || len(got) != 0 || len(refusals) != 1 {
		t.Fatalf("conflicting entry: shares=%d refusals=%v err=%v", len(got), refusals, err)
	}
	// Restart: the record is on disk.
	f.record.Close()
	f.open(t)
	got, refusals, err = f.signer.SignEntry(11, b)
	if err != nil || len(got) != 0 || len(refusals) != 1 {
		t.Fatalf("after restart: shares=%d refusals=%v err=%v", len(got), refusals, err)
	}
	// A surrounding vote is refused too.
	got, _, _ = f.signer.SignEntry(12, f.attestation(t, 0, 3, 0xcc))
	if len(got) != 0 {
		t.Fatal("surrounding vote signed")
	}
}

// TestSignerReleasesNothingWhenRecordFails: once the record cannot be written, no share leaves the node.
func TestSignerReleasesNothingWhenRecordFails(t *testing.T) {
	f := newSignerFixture(t)
	if err := f.record.db.Close(); err != nil { // the file vanishes under the node: every write fails
		t.Fatal(err)
	}
	shares, _, err := f.signer.SignEntry(10, f.attestation(t, 1, 2, 0xaa))
	if !errors.Is(err, ErrRecordFailed) || len(shares) != 0 {
		t.Fatalf("shares=%d err=%v, want none and ErrRecordFailed", len(shares), err)
	}
	// And it stays failed.
	if _, err := f.record.Authorize([]SignRequest{{Kind: SignProposal, Slot: 99}}); !errors.Is(err, ErrRecordFailed) {
		t.Fatalf("second Authorize err = %v", err)
	}
}

// TestSignedByMePruneKeepsProtection: after pruning at finality and reopening, what was denied stays denied.
func TestSignedByMePruneKeepsProtection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	rec, err := OpenSignedByMe(path)
	if err != nil {
		t.Fatal(err)
	}
	var pk slashing.Pubkey
	pk[0] = 1
	var reqs []SignRequest
	for e := uint64(1); e <= 20; e++ {
		reqs = append(reqs, SignRequest{Kind: SignAttestation, Pubkey: pk, Source: e - 1, Target: e, SigningRoot: slashing.Root{byte(e)}})
		reqs = append(reqs, SignRequest{Kind: SignProposal, Pubkey: pk, Slot: e * 8, SigningRoot: slashing.Root{byte(e), 1}})
	}
	if _, err := rec.Authorize(reqs); err != nil {
		t.Fatal(err)
	}
	if err := rec.Prune(15, 8); err != nil {
		t.Fatal(err)
	}
	rec.Close()
	rec, err = OpenSignedByMe(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	for _, r := range []SignRequest{
		{Kind: SignAttestation, Pubkey: pk, Source: 3, Target: 4, SigningRoot: slashing.Root{0xee}},
		{Kind: SignAttestation, Pubkey: pk, Source: 19, Target: 20, SigningRoot: slashing.Root{0xee}},
		{Kind: SignAttestation, Pubkey: pk, Source: 0, Target: 21, SigningRoot: slashing.Root{0xee}},
		{Kind: SignProposal, Pubkey: pk, Slot: 40, SigningRoot: slashing.Root{0xee}},
		{Kind: SignProposal, Pubkey: pk, Slot: 160, SigningRoot: slashing.Root{0xee}},
	} {
		if v := rec.Check(r); v.Approved {
			t.Errorf("after prune and reopen, %+v approved", r)
		}
	}
	if v := rec.Check(SignRequest{Kind: SignAttestation, Pubkey: pk, Source: 20, Target: 21, SigningRoot: slashing.Root{0xee}}); !v.Approved {
		t.Errorf("a fresh vote is denied: %v", v)
	}
}

func TestExtensionRoundTrip(t *testing.T) {
	var sig [96]byte
	rand.Read(sig[:])
	m := &SharesMessage{
		Shares:   []Share{{Index: 7, Item: 3, ShareIndex: 2, Signature: sig}, {Index: 8, Item: 0, ShareIndex: 2, Signature: sig}},
		Refusals: []Refusal{{Index: 9, Item: 1, Reason: "signed-by-me: double_vote"}},
	}
	got, err := UnmarshalSharesMessage(m.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Marshal(), m.Marshal()) || len(got.Shares) != 2 || got.Refusals[0].Reason != m.Refusals[0].Reason {
		t.Fatal("shares message did not round-trip")
	}
	q := &ShareRequest{Indices: []uint64{1, 5, 1 << 40}}
	gq, err := UnmarshalShareRequest(q.Marshal())
	if err != nil || len(gq.Indices) != 3 || gq.Indices[2] != 1<<40 {
		t.Fatalf("share request did not round-trip: %v", err)
	}
	for _, bad := range [][]byte{nil, {2}, {1, 0, 0, 0, 5}, {1, 0xff, 0xff, 0xff, 0xff}, append(m.Marshal(), 0)} {
		if _, err := UnmarshalSharesMessage(bad); !errors.Is(err, ErrExtension) {
			t.Errorf("UnmarshalSharesMessage(%x) err = %v", bad, err)
		}
	}
}

func FuzzUnmarshalSharesMessage(f *testing.F) {
	var sig [96]byte
	f.Add((&SharesMessage{Shares: []Share{{Index: 1, Signature: sig}}, Refusals: []Refusal{{Index: 2, Reason: "x"}}}).Marshal())
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := UnmarshalSharesMessage(b)
		if err != nil {
			return
		}
		again, err := UnmarshalSharesMessage(m.Marshal())
		if err != nil || !bytes.Equal(again.Marshal(), m.Marshal()) {
			t.Fatalf("re-encoding is not stable: %v", err)
		}
	})
}

func FuzzUnmarshalShareRequest(f *testing.F) {
	f.Add((&ShareRequest{Indices: []uint64{1, 2}}).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := UnmarshalShareRequest(b)
		if err != nil {
			return
		}
		if !bytes.Equal(q.Marshal(), b) {
			t.Fatal("share request re-encodes differently")
		}
	})
}
