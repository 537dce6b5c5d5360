package eth

import (
	"fmt"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"
)

func BenchmarkShuffleList(b *testing.B) {
	seed := Root{0x01, 0xb4, 0xf6}
	for _, n := range []uint64{10_000, 500_000} {
		list := identity(n)
		b.Run(fmt.Sprintf("n=%d/rounds=90", n), func(b *testing.B) {
			for b.Loop() {
				ShuffleList(list, seed, 90)
			}
		})
	}
	// Baseline: the spec's per-index compute_shuffled_index over the whole
	// list, which ShuffleList replaces.
	b.Run("n=10000/rounds=90/per_index_baseline", func(b *testing.B) {
		for b.Loop() {
			for i := range uint64(10_000) {
				if _, err := ComputeShuffledIndex(i, 10_000, seed, 90); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

func BenchmarkAttestationSigningRoot(b *testing.B) {
	s := MainnetSpec()
	data := &phase0.AttestationData{
		Slot: 13_000_000, Index: 12, BeaconBlockRoot: phase0.Root{1},
		Source: &phase0.Checkpoint{Epoch: 406_249, Root: phase0.Root{2}},
		Target: &phase0.Checkpoint{Epoch: 406_250, Root: phase0.Root{3}},
	}
	b.Run("AttestationSigningRoot", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.AttestationSigningRoot(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Baseline: the bare library hash tree root of the AttestationData.
	b.Run("library_HashTreeRoot", func(b *testing.B) {
		for b.Loop() {
			if _, err := data.HashTreeRoot(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
