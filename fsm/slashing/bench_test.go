package slashing

import (
	"encoding/binary"
	"runtime"
	"testing"
)

// epochsPerYear is 365 days of 225 epochs (6.4 minutes each).
const epochsPerYear = 365 * 225

// yearOfHistory returns a DB in which pkA attested every epoch for a year and
// proposed once every 100 epochs, pruned at finality (two epochs back) as it
// went when prune is set, and the next epoch to attest.
func yearOfHistory(prune bool) (*DB, uint64) {
	db := New()
	for e := uint64(1); e <= epochsPerYear; e++ {
		db.RecordAttestation(pkA, e-1, e, rootFor(e))
		if e%100 == 0 {
			db.RecordProposal(pkA, e*32+5, rootFor(e))
		}
		if prune && e >= 2 {
			db.Prune(e-2, 32)
		}
	}
	return db, epochsPerYear + 1
}

func rootFor(n uint64) Root {
	var r Root
	binary.LittleEndian.PutUint64(r[:], n+1)
	return r
}

// BenchmarkAttestation measures one duty's slashing work: CheckAttestation and
// RecordAttestation for a validator with a year of history, with pruning at
// finality as it goes (what the state machine does) and, as the baseline in the
// same run, with the whole year kept.
func BenchmarkAttestation(b *testing.B) {
	for _, tc := range []struct {
		name  string
		prune bool
	}{{"pruned_at_finality", true}, {"full_year_unpruned", false}} {
		b.Run(tc.name, func(b *testing.B) {
			db, e := yearOfHistory(tc.prune)
			b.ReportAllocs()
			for b.Loop() {
				root := rootFor(e)
				if v := db.CheckAttestation(pkA, e-1, e, root); !v.Approved {
					b.Fatalf("epoch %d denied: %v", e, v)
				}
				db.RecordAttestation(pkA, e-1, e, root)
				if tc.prune {
					db.Prune(e-2, 32)
				}
				e++
			}
		})
	}
}

// manyValidators returns n validators, each with two weeks of attestations and
// a few proposals, pruned at finality.
func manyValidators(n int) *DB {
	db := New()
	const epochs = 14 * 225
	for i := 0; i < n; i++ {
		var pk Pubkey
		binary.BigEndian.PutUint64(pk[:], uint64(i)*0x9e3779b97f4a7c15)
		for e := uint64(epochs - 4); e <= epochs; e++ {
			db.RecordAttestation(pk, e-1, e, rootFor(e+uint64(i)))
		}
		db.RecordProposal(pk, uint64(epochs-40)*32+uint64(i%32), rootFor(uint64(i)))
		db.RecordProposal(pk, uint64(epochs-1)*32+uint64(i%32), rootFor(uint64(i)+1))
	}
	db.Prune(epochs-2, 32)
	return db
}

// BenchmarkMarshalBinary10k encodes the state of 10,000 validators after
// pruning and reports the encoded and in-memory bytes per validator.
func BenchmarkMarshalBinary10k(b *testing.B) {
	const n = 10_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	db := manyValidators(n)
	runtime.GC()
	runtime.ReadMemStats(&after)
	heapPerValidator := float64(after.HeapAlloc-before.HeapAlloc) / n

	enc, _ := db.MarshalBinary()
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(enc))/n, "encoded_bytes/validator")
	b.ReportMetric(heapPerValidator, "heap_bytes/validator")
	runtime.KeepAlive(db)
}

// BenchmarkUnmarshalBinary10k decodes what BenchmarkMarshalBinary10k encodes.
func BenchmarkUnmarshalBinary10k(b *testing.B) {
	enc, _ := manyValidators(10_000).MarshalBinary()
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if err := New().UnmarshalBinary(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBytesPerValidatorAfterPruning reports how big one validator's state
// is after a year of duties pruned at finality: it must not grow with time.
func BenchmarkBytesPerValidatorAfterPruning(b *testing.B) {
	db, _ := yearOfHistory(true)
	var size int
	for b.Loop() {
		enc, _ := db.MarshalBinary()
		size = len(enc)
	}
	b.ReportMetric(float64(size), "encoded_bytes/validator")
}

func TestPrunedStateDoesNotGrowWithTime(t *testing.T) {
	db := New()
	var sizes []int
	for e := uint64(1); e <= 3000; e++ {
		db.RecordAttestation(pkA, e-1, e, rootFor(e))
		db.RecordProposal(pkA, e*32+3, rootFor(e))
		if e >= 2 {
			db.Prune(e-2, 32)
		}
		if e%1000 == 0 {
			sizes = append(sizes, len(mustMarshal(t, db)))
		}
	}
	h := db.vals[pkA]
	if len(h.atts) > 3 || len(h.blocks) > 3 {
		t.Fatalf("kept %d attestations and %d blocks after pruning", len(h.atts), len(h.blocks))
	}
	// Varints grow with the epoch number (logarithmically); allow a few bytes.
	if sizes[len(sizes)-1]-sizes[0] > 8 {
		t.Fatalf("encoded size grows with time: %v", sizes)
	}
}
