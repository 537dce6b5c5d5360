package slashing

import (
	"encoding/json"
	"errors"
	"fmt"
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

// vectorOverrides lists the checks where this package deliberately departs from a
// vector's expectation, keyed "case/step/kind/index", with the outcome asserted
// instead.
//
// multiple_interchanges_multiple_validators_repeat_idem, step 1, blocks 1 and 3
// both sign slot 3 with signing root 0x00…00. Block 1 is approved (complete
// strategy) and, as the suite's README requires, recorded. The vector then
// expects block 3 to be approved too, which only holds if the zero root of the
// recorded block counted as a real root that block 3 repeats. EIP-3076 suggests
// the zero root as the "null" signing root, and this package treats it as
// unknown, never matching anything, so block 3 is a double proposal at slot 3.
// Denying it is the stricter, safe outcome.
var vectorOverrides = map[string]bool{
	"multiple_interchanges_multiple_validators_repeat_idem/1/block/3": false,
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
	usedOverrides := map[string]bool{}
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
			runVectorCase(t, tc, usedOverrides)
		})
	}
	for k := range vectorOverrides {
		if !usedOverrides[k] {
			t.Errorf("override %s matched no check; remove it", k)
		}
	}
}

func runVectorCase(t *testing.T, tc vectorCase, usedOverrides map[string]bool) {
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
			key := fmt.Sprintf("%s/%d/block/%d", tc.Name, si, bi)
			if o, ok := vectorOverrides[key]; ok {
				want, usedOverrides[key] = o, true
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
			key := fmt.Sprintf("%s/%d/attestation/%d", tc.Name, si, ai)
			if o, ok := vectorOverrides[key]; ok {
				want, usedOverrides[key] = o, true
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
	if s == "" {
		return r
	}
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
