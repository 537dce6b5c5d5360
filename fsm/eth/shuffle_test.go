package eth

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"
)

type shuffleCase struct {
	name    string
	seed    Root
	count   uint64
	mapping []uint64
	rounds  uint64
}

// loadShuffleCases reads every phase0 shuffling vector of both presets.
func loadShuffleCases(t testing.TB) []shuffleCase {
	t.Helper()
	var cases []shuffleCase
	for _, preset := range []struct {
		name   string
		rounds uint64
	}{{"mainnet", 90}, {"minimal", 10}} {
		dir := vectorDir(t, "consensus-spec-tests-v1.0.1", "tests", preset.name, "phase0", "shuffling", "core", "shuffle")
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatalf("read %s: %v", dir, err)
		}
		for _, e := range entries {
			raw, err := os.ReadFile(filepath.Join(dir, e.Name(), "mapping.yaml"))
			if err != nil {
				t.Fatalf("read mapping: %v", err)
			}
			var m struct {
				Seed    string   `yaml:"seed"`
				Count   uint64   `yaml:"count"`
				Mapping []uint64 `yaml:"mapping"`
			}
			if err := yaml.Unmarshal(raw, &m); err != nil {
				t.Fatalf("%s/%s: parse mapping: %v", preset.name, e.Name(), err)
			}
			if uint64(len(m.Mapping)) != m.Count {
				t.Fatalf("%s/%s: mapping has %d entries, count %d", preset.name, e.Name(), len(m.Mapping), m.Count)
			}
			cases = append(cases, shuffleCase{
				name: preset.name + "/" + e.Name(), seed: mustRoot(t, m.Seed),
				count: m.Count, mapping: m.Mapping, rounds: preset.rounds,
			})
		}
	}
	return cases
}

func identity(n uint64) []uint64 {
	l := make([]uint64, n)
	for i := range l {
		l[i] = uint64(i)
	}
	return l
}

func TestShuffleVectors(t *testing.T) {
	cases := loadShuffleCases(t)
	// v1.0.1 ships 300 cases per preset (30 seeds, 10 list sizes).
	if len(cases) < 200 {
		t.Fatalf("found %d shuffling cases, want at least 200", len(cases))
	}
	t.Logf("%d shuffling cases", len(cases))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// Under -short the largest lists are sampled: their per-index
			// checks dominate the run time (two hashes per index per round).
			stride := uint64(1)
			if testing.Short() && c.count >= 1000 {
				stride = 17
			}
			for i := uint64(0); i < c.count; i += stride {
				got, err := ComputeShuffledIndex(i, c.count, c.seed, c.rounds)
				if err != nil {
					t.Fatalf("ComputeShuffledIndex(%d): %v", i, err)
				}
				if got != c.mapping[i] {
					t.Fatalf("ComputeShuffledIndex(%d) = %d, want %d", i, got, c.mapping[i])
				}
			}
			if got := ShuffleList(identity(c.count), c.seed, c.rounds); !slices.Equal(got, c.mapping) {
				t.Fatalf("ShuffleList = %v, want %v", got, c.mapping)
			}
			// A list of other values is shuffled the same way.
			input := make([]uint64, c.count)
			for i := range input {
				input[i] = 1000 + 7*uint64(i)
			}
			shuffled := ShuffleList(input, c.seed, c.rounds)
			for i := range shuffled {
				if shuffled[i] != input[c.mapping[i]] {
					t.Fatalf("ShuffleList(values)[%d] = %d, want %d", i, shuffled[i], input[c.mapping[i]])
				}
			}
			if c.count == 0 {
				return
			}
			// Committees cut from the shuffled list agree with the mapping,
			// and together cover it exactly once, in order.
			committees := min(c.count, 3)
			var all []uint64
			for k := range committees {
				// Large lists: only the middle committee goes through
				// ComputeCommittee (each member costs a full per-index shuffle,
				// already checked above); the others come from the bounds.
				if c.count >= 1000 && k != committees/2 {
					start, end := CommitteeBounds(c.count, k, committees)
					all = append(all, shuffled[start:end]...)
					continue
				}
				got, err := ComputeCommittee(input, c.seed, k, committees, c.rounds)
				if err != nil {
					t.Fatalf("ComputeCommittee(%d/%d): %v", k, committees, err)
				}
				start, end := CommitteeBounds(c.count, k, committees)
				if uint64(len(got)) != end-start {
					t.Fatalf("committee %d/%d has %d members, bounds say %d", k, committees, len(got), end-start)
				}
				if !slices.Equal(got, shuffled[start:end]) {
					t.Fatalf("committee %d/%d = %v, want %v", k, committees, got, shuffled[start:end])
				}
				all = append(all, got...)
			}
			if !slices.Equal(all, shuffled) {
				t.Fatalf("committees of %d do not concatenate to the shuffled list", committees)
			}
		})
	}
}

func TestShuffleErrors(t *testing.T) {
	var seed Root
	if _, err := ComputeShuffledIndex(5, 5, seed, 90); !errors.Is(err, ErrIndexOutOfRange) {
		t.Errorf("index == count: err = %v, want ErrIndexOutOfRange", err)
	}
	if _, err := ComputeShuffledIndex(0, 0, seed, 90); !errors.Is(err, ErrIndexOutOfRange) {
		t.Errorf("count 0: err = %v, want ErrIndexOutOfRange", err)
	}
	for _, rounds := range []uint64{0, 257} {
		if _, err := ComputeShuffledIndex(0, 5, seed, rounds); !errors.Is(err, ErrInvalidRounds) {
			t.Errorf("rounds %d: err = %v, want ErrInvalidRounds", rounds, err)
		}
		if _, err := ComputeCommittee(identity(5), seed, 0, 1, rounds); !errors.Is(err, ErrInvalidRounds) {
			t.Errorf("committee rounds %d: err = %v, want ErrInvalidRounds", rounds, err)
		}
	}
	if _, err := ComputeCommittee(identity(5), seed, 2, 2, 10); !errors.Is(err, ErrIndexOutOfRange) {
		t.Errorf("committee index == count: err = %v, want ErrIndexOutOfRange", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("ShuffleList with 0 rounds did not panic")
			}
		}()
		ShuffleList(identity(3), seed, 0)
	}()
	// The input is never modified.
	in := identity(100)
	ShuffleList(in, Root{1}, 90)
	if !slices.Equal(in, identity(100)) {
		t.Error("ShuffleList modified its input")
	}
	// 256 rounds is the most the one-byte round number allows, and works.
	if _, err := ComputeShuffledIndex(3, 10, seed, 256); err != nil {
		t.Errorf("256 rounds: %v", err)
	}
}

// shuffleAgrees checks ShuffleList against ComputeShuffledIndex and that
// the result is a permutation of the input.
func shuffleAgrees(t *testing.T, n uint64, seed Root, rounds uint64) {
	t.Helper()
	got := ShuffleList(identity(n), seed, rounds)
	seen := make([]bool, n)
	for i, v := range got {
		want, err := ComputeShuffledIndex(uint64(i), n, seed, rounds)
		if err != nil {
			t.Fatalf("ComputeShuffledIndex: %v", err)
		}
		if v != want {
			t.Fatalf("n=%d rounds=%d: ShuffleList[%d] = %d, ComputeShuffledIndex = %d", n, rounds, i, v, want)
		}
		if seen[v] {
			t.Fatalf("n=%d: %d appears twice", n, v)
		}
		seen[v] = true
	}
}

func TestShuffleListMatchesIndexBeyondVectors(t *testing.T) {
	// Sizes that cross several 256-position source blocks, which the
	// vectors (lists of at most a few hundred entries) barely exercise.
	for _, n := range []uint64{1, 2, 255, 256, 257, 511, 513, 1000, 3000} {
		shuffleAgrees(t, n, Root{byte(n), 0xaa, byte(n >> 8)}, 10)
	}
	shuffleAgrees(t, 2048, Root{0x42}, 90)
}

func FuzzShuffleList(f *testing.F) {
	f.Add(uint16(0), []byte{}, uint8(10))
	f.Add(uint16(1), []byte{1}, uint8(90))
	f.Add(uint16(300), []byte{0xde, 0xad}, uint8(1))
	f.Add(uint16(1000), make([]byte, 32), uint8(255))
	f.Fuzz(func(t *testing.T, n uint16, seedBytes []byte, rounds uint8) {
		var seed Root
		copy(seed[:], seedBytes)
		r := uint64(rounds) + 1
		if n > 2000 {
			n %= 2000
		}
		shuffleAgrees(t, uint64(n), seed, min(r, 20))
	})
}

func TestCommitteeCountPerSlot(t *testing.T) {
	mainnet, minimal := MainnetSpec(), MinimalSpec()
	for _, c := range []struct {
		s      *Spec
		active uint64
		want   uint64
	}{
		{mainnet, 0, 1},
		{mainnet, 4095, 1},
		{mainnet, 8192, 2},
		{mainnet, 32 * 128 * 64, 64},
		{mainnet, 1_000_000, 64},
		{minimal, 64, 2},
		{minimal, 31, 1},
		{minimal, 1000, 4},
	} {
		if got := c.s.CommitteeCountPerSlot(c.active); got != c.want {
			t.Errorf("%s CommitteeCountPerSlot(%d) = %d, want %d", c.s.ConfigName, c.active, got, c.want)
		}
	}
}
