package slashing

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// sharedTestdata returns ../shared/testdata relative to the repository root (the
// directory holding go.mod), or skips the test when it is absent.
func sharedTestdata(t testing.TB, sub string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no go.mod above the package directory; cannot locate ../shared/testdata")
		}
		dir = parent
	}
	p := filepath.Join(dir, "..", "shared", "testdata", sub)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("test vectors not found at %s (clone the shared testdata next to the repository): %v", p, err)
	}
	return p
}

// Shapes of eth-clients/slashing-protection-interchange-tests.
type vectorCase struct {
	Name                  string       `json:"name"`
	GenesisValidatorsRoot string       `json:"genesis_validators_root"`
	Steps                 []vectorStep `json:"steps"`
}

type vectorStep struct {
	ShouldSucceed         bool            `json:"should_succeed"`
	ContainsSlashableData bool            `json:"contains_slashable_data"`
	Interchange           json.RawMessage `json:"interchange"`
	Blocks                []vectorBlock   `json:"blocks"`
	Attestations          []vectorAtt     `json:"attestations"`
}

type vectorBlock struct {
	Pubkey                string `json:"pubkey"`
	Slot                  string `json:"slot"`
	SigningRoot           string `json:"signing_root"`
	ShouldSucceed         bool   `json:"should_succeed"`
	ShouldSucceedComplete *bool  `json:"should_succeed_complete"`
}

type vectorAtt struct {
	Pubkey                string `json:"pubkey"`
	SourceEpoch           string `json:"source_epoch"`
	TargetEpoch           string `json:"target_epoch"`
	SigningRoot           string `json:"signing_root"`
	ShouldSucceed         bool   `json:"should_succeed"`
	ShouldSucceedComplete *bool  `json:"should_succeed_complete"`
}

func TestInterchangeVectors(t *testing.T) {
	dir := filepath.Join(sharedTestdata(t, "slashing-protection-interchange-tests"), "tests", "generated")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 38 {
		t.Fatalf("found %d interchange test cases in %s, want 38", len(files), dir)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var tc vectorCase
		if err := json.Unmarshal(raw, &tc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		t.Run(tc.Name, func(t *testing.T) {
			runVectorCase(t, tc)
		})
	}
}

// runVectorCase runs one case of the suite. The DB follows the complete
// strategy, so should_succeed_complete, when present, is the expected outcome.
func runVectorCase(t *testing.T, tc vectorCase) {
	var gvr Root
	if err := gvr.UnmarshalText([]byte(tc.GenesisValidatorsRoot)); err != nil {
		t.Fatalf("genesis_validators_root: %v", err)
	}
	db := New()
	for si, step := range tc.Steps {
		before := mustMarshal(t, db)
		ic, err := ParseInterchange(step.Interchange)
		var rep ImportReport
		if err == nil {
			rep, err = db.Import(ic, gvr)
		}
		switch {
		case step.ShouldSucceed && err != nil:
			t.Fatalf("step %d: import failed: %v", si, err)
		case !step.ShouldSucceed && err == nil:
			t.Fatalf("step %d: import succeeded, want an error", si)
		case !step.ShouldSucceed:
			if tc.Name == "wrong_genesis_validators_root" && !errors.Is(err, ErrGenesisMismatch) {
				t.Errorf("step %d: error %v, want ErrGenesisMismatch", si, err)
			}
			if after := mustMarshal(t, db); string(after) != string(before) {
				t.Fatalf("step %d: failed import changed the DB", si)
			}
		default:
			conflicts := rep.ConflictingBlocks + rep.ConflictingAttestations
			if (conflicts > 0) != step.ContainsSlashableData {
				t.Errorf("step %d: report %+v, contains_slashable_data = %v", si, rep, step.ContainsSlashableData)
			}
		}

		for bi, b := range step.Blocks {
			pk, root := mustPubkey(t, b.Pubkey), mustRoot(t, b.SigningRoot)
			slot := mustUint(t, b.Slot)
			want := b.ShouldSucceed
			if b.ShouldSucceedComplete != nil {
				want = *b.ShouldSucceedComplete
			}
			v := db.CheckProposal(pk, slot, root)
			if v.Approved != want {
				t.Errorf("step %d block %d (slot %d, root %s): %v, want approved=%v", si, bi, slot, root, v, want)
			}
			if v.Approved {
				db.RecordProposal(pk, slot, root)
			}
		}
		for ai, a := range step.Attestations {
			pk, root := mustPubkey(t, a.Pubkey), mustRoot(t, a.SigningRoot)
			src, tgt := mustUint(t, a.SourceEpoch), mustUint(t, a.TargetEpoch)
			want := a.ShouldSucceed
			if a.ShouldSucceedComplete != nil {
				want = *a.ShouldSucceedComplete
			}
			v := db.CheckAttestation(pk, src, tgt, root)
			if v.Approved != want {
				t.Errorf("step %d attestation %d (%d→%d, root %s): %v, want approved=%v", si, ai, src, tgt, root, v, want)
			}
			if v.Approved {
				db.RecordAttestation(pk, src, tgt, root)
			}
		}
	}
}

func mustMarshal(t testing.TB, db *DB) []byte {
	t.Helper()
	b, err := db.MarshalBinary()
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

func mustPubkey(t testing.TB, s string) Pubkey {
	t.Helper()
	var pk Pubkey
	if err := pk.UnmarshalText([]byte(s)); err != nil {
		t.Fatalf("pubkey: %v", err)
	}
	return pk
}

func mustRoot(t testing.TB, s string) Root {
	t.Helper()
	var r Root
	if err := r.UnmarshalText([]byte(s)); err != nil {
		t.Fatalf("root: %v", err)
	}
	return r
}

func mustUint(t testing.TB, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("uint: %v", err)
	}
	return v
}
