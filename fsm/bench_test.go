package fsm

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/golang/snappy"

	"github.com/phalanx-eth/phalanx/fsm/slashing"
)

// benchKey is a distinct 48-byte key for validator i. Benchmarks insert validators into the state directly (the
// subgroup check of ValidatorAdd is the threshold package's cost, measured there), so keys need not be points.
// They are pseudo-random, like real keys, so that compression figures are honest.
func benchKey(i uint64, share byte) [48]byte {
	var in [9]byte
	binary.BigEndian.PutUint64(in[:8], i)
	in[8] = share
	h1 := sha256.Sum256(in[:])
	h2 := sha256.Sum256(h1[:])
	var k [48]byte
	copy(k[:32], h1[:])
	copy(k[32:], h2[:16])
	return k
}

// benchState returns a state bound to a mainnet-like chain (32 slots per epoch) with n validators.
func benchState(n uint64) *State {
	s := NewState()
	c := testConfig([32]byte{1})
	c.SlotsPerEpoch, c.SecondsPerSlot = 32, 12
	if r := Apply(s, 1, mustEncodeNoT(c)); !r.Applied() {
		panic(r.Reason)
	}
	for i := uint64(0); i < n; i++ {
		pk := benchKey(i, 0)
		s.validators[pk] = &validator{pubkey: pk, threshold: 2, index: i, addedIndex: 1,
			shares: [][48]byte{benchKey(i, 1), benchKey(i, 2), benchKey(i, 3)}}
		s.byIndex[i] = pk
	}
	return s
}

func mustEncodeNoT(e Entry) []byte {
	b, err := Encode(e)
	if err != nil {
		panic(err)
	}
	return b
}

func benchAttestation(slot, src, tgt uint64, first, n uint64) []byte {
	ad := &phase0.AttestationData{Slot: phase0.Slot(slot), BeaconBlockRoot: phase0.Root{byte(slot)},
		Source: &phase0.Checkpoint{Epoch: phase0.Epoch(src)}, Target: &phase0.Checkpoint{Epoch: phase0.Epoch(tgt)}}
	data, err := ad.MarshalSSZ()
	if err != nil {
		panic(err)
	}
	d := &Duty{Kind: DutyAttestation, Slot: slot, Epoch: tgt, Data: data}
	for i := first; i < first+n; i++ {
		d.Items = append(d.Items, DutyItem{Pubkey: benchKey(i, 0), ValidatorIndex: i})
	}
	return mustEncodeNoT(d)
}

func benchView(slot, fin uint64) []byte {
	return mustEncodeNoT(&ChainView{HeadSlot: slot, JustifiedEpoch: fin + 1, FinalizedEpoch: fin, FinalizedRoot: [32]byte{byte(fin)}, ObservedSlot: slot})
}

// BenchmarkApplyAttestation64 applies one 64-validator attestation batch per iteration (a new target epoch each
// time, so every item is approved and recorded), finalizing every 4 epochs so the state stays bounded; bare is the
// same work done directly: one signing root and 64 slashing checks and records.
func BenchmarkApplyAttestation64(b *testing.B) {
	const n = 64
	b.Run("fsm_apply", func(b *testing.B) {
		s := benchState(n)
		entries := make([][]byte, b.N)
		for i := range entries {
			e := uint64(i + 2)
			entries[i] = benchAttestation(e*32, e-1, e, 0, n)
		}
		idx := s.appliedIndex
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			idx++
			if r := Apply(s, idx, entries[i]); !r.Items[n-1].Verdict.Approved {
				b.Fatalf("denied: %+v", r.Items[n-1].Verdict)
			}
			if i%4 == 3 {
				idx++
				Apply(s, idx, benchView(uint64(i+2)*32, uint64(i)))
			}
		}
	})
	b.Run("bare_root_and_slashing", func(b *testing.B) {
		s := benchState(0)
		db := slashing.New()
		pks := make([]slashing.Pubkey, n)
		for i := range pks {
			pks[i] = slashing.Pubkey(benchKey(uint64(i), 0))
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			e := uint64(i + 2)
			ad := &phase0.AttestationData{Slot: phase0.Slot(e * 32), BeaconBlockRoot: phase0.Root{byte(e)},
				Source: &phase0.Checkpoint{Epoch: phase0.Epoch(e - 1)}, Target: &phase0.Checkpoint{Epoch: phase0.Epoch(e)}}
			root, err := s.spec.AttestationSigningRoot(ad)
			if err != nil {
				b.Fatal(err)
			}
			for _, pk := range pks {
				if v := db.CheckAttestation(pk, e-1, e, slashing.Root(root)); v.Approved {
					db.RecordAttestation(pk, e-1, e, slashing.Root(root))
				}
			}
			if i%4 == 3 {
				db.Prune(uint64(i), 32)
			}
		}
	})
}

// yearState builds the state of a 10,000-validator cluster a year after genesis. Pruning at finality keeps only
// what is at or above the finalized epoch plus watermarks, so a year's state is what the last epochs leave: the
// chain view is put a year in, and four epochs of full duties (every validator attests once per epoch in
// committees of 64, one proposal per slot) are applied through Apply, finalizing as a beacon chain does.
func yearState(tb testing.TB) *State {
	const (
		validators = 10000
		committee  = 64
		spe        = 32
		yearEpochs = 365 * 24 * 3600 / 12 / spe // 82125
	)
	s := benchState(validators)
	idx := s.appliedIndex
	apply := func(e []byte) {
		idx++
		if r := Apply(s, idx, e); !r.Applied() {
			tb.Fatalf("setup entry %d rejected: %s", idx, r.Reason)
		}
	}
	start := uint64(yearEpochs - 4)
	apply(benchView(start*spe, start-2))
	for epoch := start; epoch < start+4; epoch++ {
		for slot := epoch * spe; slot < (epoch+1)*spe; slot++ {
			// This slot's committees.
			perSlot := uint64(validators / spe)
			first := (slot % spe) * perSlot
			last := first + perSlot
			if slot%spe == spe-1 {
				last = validators
			}
			for c := first; c < last; c += committee {
				apply(benchAttestation(slot, epoch-1, epoch, c, min(committee, last-c)))
			}
			proposer := (slot * 7919) % validators
			apply(mustEncodeNoT(proposalDutyNoT(slot, proposer)))
		}
		apply(benchView((epoch+1)*spe, epoch-1))
	}
	return s
}

func proposalDutyNoT(slot, v uint64) *Duty {
	h := &phase0.BeaconBlockHeader{Slot: phase0.Slot(slot), ProposerIndex: phase0.ValidatorIndex(v), BodyRoot: phase0.Root{byte(slot)}}
	data, err := h.MarshalSSZ()
	if err != nil {
		panic(err)
	}
	return &Duty{Kind: DutyProposal, Slot: slot, Epoch: slot / 32, Data: data, Items: []DutyItem{{Pubkey: benchKey(v, 0), ValidatorIndex: v}}}
}

// BenchmarkSnapshot10kYear snapshots the year-old 10,000-validator state and reports its size per validator;
// bare is the slashing database's own MarshalBinary plus snappy of the same bytes.
func BenchmarkSnapshot10kYear(b *testing.B) {
	m := &Machine{s: yearState(b)}
	b.Run("fsm_snapshot", func(b *testing.B) {
		var size int
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			snap, err := m.Snapshot()
			if err != nil {
				b.Fatal(err)
			}
			size = len(snap)
		}
		b.ReportMetric(float64(size)/10000, "bytes/validator")
		b.ReportMetric(float64(size), "snapshot_bytes")
	})
	b.Run("bare_slashing_marshal_snappy", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			raw, err := m.s.slashing.MarshalBinary()
			if err != nil {
				b.Fatal(err)
			}
			_ = snappy.Encode(nil, raw)
		}
	})
}

// BenchmarkRestore10kYear restores the year-old 10,000-validator snapshot; bare is the slashing database's own
// UnmarshalBinary of its part.
func BenchmarkRestore10kYear(b *testing.B) {
	m := &Machine{s: yearState(b)}
	snap, err := m.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	raw, err := m.s.slashing.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("fsm_restore", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if err := NewMachine().Restore(snap); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare_slashing_unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if err := slashing.New().UnmarshalBinary(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestYearStateShape checks the benchmark's premise: after pruning, state grows with validators, not time.
func TestYearStateShape(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 10,000-validator state")
	}
	s := yearState(t)
	snap, err := marshalState(s)
	if err != nil {
		t.Fatal(err)
	}
	// Only the finalized epoch and later keep history: at most 3 epochs of slots.
	lo := s.lowWatermark()
	for slot := range s.history {
		if slot < lo {
			t.Fatalf("history at slot %d below watermark %d", slot, lo)
		}
	}
	if len(s.history) > 3*32 {
		t.Fatalf("history holds %d slots", len(s.history))
	}
	t.Logf("snapshot %d bytes, %.0f bytes/validator, history slots %d", len(snap), float64(len(snap))/10000, len(s.history))
}
