package eth

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"
)

// proof returns a deterministic pseudo-random 96-byte "signature".
func proof(i uint64) [96]byte {
	var p [96]byte
	for k := range 3 {
		h := sha256.Sum256(binary.LittleEndian.AppendUint64([]byte{byte(k)}, i))
		copy(p[32*k:], h[:])
	}
	return p
}

func TestIsAggregator(t *testing.T) {
	s := MainnetSpec()
	const n = 8192
	for _, c := range []struct {
		committeeLen uint64
		modulo       uint64
	}{{1, 1}, {31, 1}, {32, 2}, {128, 8}, {512, 32}, {2048, 128}} {
		selected := 0
		for i := range uint64(n) {
			p := proof(i)
			h := sha256.Sum256(p[:])
			want := binary.LittleEndian.Uint64(h[:8])%c.modulo == 0
			got := IsAggregator(c.committeeLen, p, s)
			if got != want {
				t.Fatalf("committee %d proof %d: IsAggregator = %v, want %v", c.committeeLen, i, got, want)
			}
			if got {
				selected++
			}
		}
		// About TARGET_AGGREGATORS_PER_COMMITTEE per committee: n/modulo of n.
		expect := float64(n) / float64(c.modulo)
		if f := float64(selected); f < 0.8*expect-10 || f > 1.2*expect+10 {
			t.Errorf("committee %d: %d of %d selected, expected about %.0f", c.committeeLen, selected, n, expect)
		}
	}
}

func TestIsSyncCommitteeAggregator(t *testing.T) {
	// Mainnet: 512/4/16 = 8, so about one in eight; minimal: 32/4/16 = 0,
	// raised to 1, so everyone aggregates.
	mainnet, minimal := MainnetSpec(), MinimalSpec()
	selected := 0
	for i := range uint64(4096) {
		p := proof(i)
		h := sha256.Sum256(p[:])
		want := binary.LittleEndian.Uint64(h[:8])%8 == 0
		if got := IsSyncCommitteeAggregator(p, mainnet); got != want {
			t.Fatalf("proof %d: mainnet = %v, want %v", i, got, want)
		} else if got {
			selected++
		}
		if !IsSyncCommitteeAggregator(p, minimal) {
			t.Fatalf("proof %d: minimal must always aggregate", i)
		}
	}
	if selected < 400 || selected > 624 {
		t.Errorf("%d of 4096 selected on mainnet, expected about 512", selected)
	}
}

// naiveProposer is compute_proposer_index transcribed line by line from the
// phase0 and electra specs, with no caching.
func naiveProposer(t *testing.T, s *Spec, electra bool, indices []uint64, eb func(uint64) uint64, seed Root) uint64 {
	t.Helper()
	total := uint64(len(indices))
	for i := uint64(0); ; i++ {
		shuffled, err := ComputeShuffledIndex(i%total, total, seed, s.ShuffleRoundCount)
		if err != nil {
			t.Fatal(err)
		}
		candidate := indices[shuffled]
		if electra {
			randomBytes := sha256.Sum256(append(seed[:], le64(i/16)...))
			offset := i % 16 * 2
			randomValue := uint64(binary.LittleEndian.Uint16(randomBytes[offset : offset+2]))
			if eb(candidate)*(1<<16-1) >= s.MaxEffectiveBalanceElectra*randomValue {
				return candidate
			}
		} else {
			randomByte := uint64(sha256.Sum256(append(seed[:], le64(i/32)...))[i%32])
			if eb(candidate)*(1<<8-1) >= s.MaxEffectiveBalance*randomByte {
				return candidate
			}
		}
	}
}

func TestComputeProposerIndex(t *testing.T) {
	s := MainnetSpec()
	active := make([]uint64, 500)
	for i := range active {
		active[i] = uint64(3 * i) // non-contiguous validator indices
	}
	balances := []func(uint64) uint64{
		func(uint64) uint64 { return 32_000_000_000 },
		func(v uint64) uint64 { return uint64(16+v%17) * 1_000_000_000 },
		func(v uint64) uint64 { return (32 + v%2017) * 1_000_000_000 }, // compounding validators
	}
	for bi, eb := range balances {
		for _, epoch := range []uint64{0, 364031, 364032, 411392} {
			electraRule := epoch >= 364032
			for k := range uint64(20) {
				seed := ProposerSeed(Root{byte(k), byte(bi)}, epoch*32+k)
				got, err := ComputeProposerIndex(s, epoch, active, eb, seed)
				if err != nil {
					t.Fatalf("ComputeProposerIndex: %v", err)
				}
				if want := naiveProposer(t, s, electraRule, active, eb, seed); got != want {
					t.Fatalf("balances %d epoch %d seed %d: proposer %d, spec model %d", bi, epoch, k, got, want)
				}
			}
		}
	}
	// With every balance at MAX_EFFECTIVE_BALANCE the first candidate always
	// passes the phase0 filter: the proposer is the first shuffled index.
	seed := Root{0x5e}
	first, err := ComputeShuffledIndex(0, uint64(len(active)), seed, s.ShuffleRoundCount)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := ComputeProposerIndex(s, 0, active, balances[0], seed); got != active[first] {
		t.Errorf("full balances: proposer %d, want first candidate %d", got, active[first])
	}
	// The Electra rule on the minimal preset, after scheduling Electra.
	m := MinimalSpec()
	for i := range m.Forks {
		m.Forks[i].Epoch = 0
	}
	if got, want := mustProposer(t, m, 5, active[:64], balances[2], seed), naiveProposer(t, m, true, active[:64], balances[2], seed); got != want {
		t.Errorf("minimal electra proposer %d, want %d", got, want)
	}
	if _, err := ComputeProposerIndex(s, 0, nil, balances[0], seed); !errors.Is(err, ErrEmptyIndices) {
		t.Errorf("no active validators: %v", err)
	}
	// Balances beyond any real value do not overflow the comparison.
	huge := func(uint64) uint64 { return ^uint64(0) }
	if _, err := ComputeProposerIndex(s, 400000, active, huge, seed); err != nil {
		t.Errorf("huge balances: %v", err)
	}
}

func mustProposer(t *testing.T, s *Spec, epoch uint64, active []uint64, eb func(uint64) uint64, seed Root) uint64 {
	t.Helper()
	p, err := ComputeProposerIndex(s, epoch, active, eb, seed)
	if err != nil {
		t.Fatalf("ComputeProposerIndex: %v", err)
	}
	return p
}

func TestSeeds(t *testing.T) {
	mix := Root{0xaa, 0xbb}
	// get_seed: hash(domain_type + uint_to_bytes(epoch) + mix).
	want := sha256.Sum256(append(append(append([]byte{}, DomainBeaconAttester[:]...), le64(77)...), mix[:]...))
	if got := ComputeSeed(DomainBeaconAttester, 77, mix); got != Root(want) {
		t.Errorf("ComputeSeed = %s, want %x", got, want)
	}
	// get_beacon_proposer_index: hash(get_seed(...) + uint_to_bytes(slot)).
	want = sha256.Sum256(append(mix[:], le64(1234)...))
	if got := ProposerSeed(mix, 1234); got != Root(want) {
		t.Errorf("ProposerSeed = %s, want %x", got, want)
	}
}
