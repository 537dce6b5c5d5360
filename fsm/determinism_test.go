package fsm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// logGen produces a seeded random log of mixed entries, valid and invalid, that exercises every transition.
type logGen struct {
	t    testing.TB
	r    *rand.Rand
	slot uint64
	fin  uint64
	n    uint64 // validator pool size
}

func (g *logGen) key(v uint64) [48]byte { return groupKey(g.t, v) }

func (g *logGen) entry(i int) []byte {
	t, r := g.t, g.r
	if i == 0 {
		return mustEncode(t, testConfig([32]byte{1}))
	}
	g.slot += uint64(r.Intn(2))
	epoch := g.slot / 8
	v := 1 + uint64(r.Intn(int(g.n)))
	switch p := r.Intn(100); {
	case p < 4:
		return mustEncode(t, addEntry(t, v, 2, 3, 100+v))
	case p < 5:
		a := addEntry(t, v, 2, 3, UnknownValidatorIndex)
		a.SharePubkeys[2][47] ^= byte(1 + r.Intn(255)) // mostly invalid point
		return mustEncode(t, a)
	case p < 6:
		return mustEncode(t, &ValidatorRemove{Pubkey: g.key(v)})
	case p < 7:
		return mustEncode(t, &ValidatorIndices{Items: []ValidatorIndex{{Pubkey: g.key(v), ValidatorIndex: 100 + v + uint64(r.Intn(2))}}})
	case p < 10:
		fin := g.fin
		if r.Intn(3) == 0 && epoch >= 2 {
			fin = epoch - 2
		}
		if r.Intn(10) == 0 && fin > 0 {
			fin-- // sometimes backwards: rejected
		}
		if fin > g.fin {
			g.fin = fin
		}
		return mustEncode(t, &ChainView{HeadSlot: g.slot, HeadRoot: [32]byte{byte(g.slot)}, JustifiedEpoch: fin + 1,
			FinalizedEpoch: fin, FinalizedRoot: [32]byte{byte(fin)}, ObservedSlot: g.slot, ObservedUnixMilli: g.slot * 6000})
	case p < 11:
		if r.Intn(4) == 0 {
			return mustEncode(t, &Halt{Reason: []byte(fmt.Sprintf("drill %d", i))})
		}
		return mustEncode(t, &Resume{})
	case p < 12:
		c := testConfig([32]byte{byte(1 + r.Intn(2))}) // sometimes another chain
		if r.Intn(2) == 0 {
			c.Forks = append(c.Forks, ForkSchedule{Version: [4]byte{2, 0, 0, 1}, Epoch: ^uint64(0)})
		}
		return mustEncode(t, c)
	case p < 13:
		return mustEncode(t, &SlashingImport{Interchange: g.interchange(v)})
	case p < 14:
		b := make([]byte, r.Intn(40))
		r.Read(b)
		return b
	case p < 60:
		// One committee: a few validators, sometimes a conflicting or surrounding vote.
		var pks [][48]byte
		var idx []uint64
		seen := map[uint64]bool{}
		for k := 0; k < 1+r.Intn(6); k++ {
			w := 1 + uint64(r.Intn(int(g.n)))
			if !seen[w] {
				seen[w] = true
				pks, idx = append(pks, g.key(w)), append(idx, 100+w)
			}
		}
		src := epoch - min(epoch, uint64(r.Intn(3)))
		back := uint64(r.Intn(12))
		if r.Intn(20) == 0 {
			back = 40 // late: below the finalized slot
		}
		slot := g.slot - min(g.slot, back)
		tgt := slot / 8
		if src > tgt {
			src = tgt
		}
		d := attestationDuty(t, slot, src, tgt, byte(r.Intn(3)), pks, idx)
		if r.Intn(50) == 0 {
			d.Epoch++ // inconsistent with the attestation data: rejected
		}
		return mustEncode(t, d)
	case p < 70:
		kind := DutyProposal
		if r.Intn(2) == 0 {
			kind = DutyBlindedProposal
		}
		slot := g.slot - min(g.slot, uint64(r.Intn(4)))
		proposer := 1 + slot%g.n // one proposer per slot, as on chain
		return mustEncode(t, proposalDuty(t, kind, slot, byte(r.Intn(2)), g.key(proposer), 100+proposer))
	default:
		kinds := []DutyKind{DutyRandao, DutySelectionProof, DutyAggregateAndProof, DutySyncCommitteeMessage,
			DutySyncSelectionProof, DutyContributionAndProof, DutyVoluntaryExit, DutyValidatorRegistration}
		d := &Duty{Kind: kinds[r.Intn(len(kinds))], Slot: g.slot, Epoch: epoch}
		if d.Kind == DutySyncCommitteeMessage {
			d.Data = bytes.Repeat([]byte{byte(r.Intn(4))}, 32)
		}
		d.Items = []DutyItem{{Pubkey: g.key(v), ValidatorIndex: 100 + v, Root: [32]byte{byte(r.Intn(256))}, Aux: uint64(r.Intn(4))}}
		return mustEncode(t, d)
	}
}

// interchange is a small EIP-3076 document for validator v on the test chain.
func (g *logGen) interchange(v uint64) []byte {
	pk := g.key(v)
	doc := fmt.Sprintf(`{"metadata":{"interchange_format_version":"5","genesis_validators_root":"0x01%062x"},"data":[{"pubkey":"0x%x","signed_blocks":[{"slot":"%d"}],"signed_attestations":[{"source_epoch":"%d","target_epoch":"%d"}]}]}`,
		0, pk[:], g.slot+uint64(g.r.Intn(3)), g.fin, g.slot/8+uint64(g.r.Intn(2)))
	return []byte(doc)
}

func randomLog(t testing.TB, seed int64, n int) [][]byte {
	g := &logGen{t: t, r: rand.New(rand.NewSource(seed)), n: 12}
	out := make([][]byte, n)
	for i := range out {
		out[i] = g.entry(i)
	}
	return out
}

func mustSnapshot(t testing.TB, m *Machine) []byte {
	t.Helper()
	b, err := m.Snapshot()
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return b
}

// TestDeterminism applies one seeded random log of mixed entries to three independent machines and to a machine
// restored from a mid-log snapshot; all must agree on every result and on the snapshot bytes.
func TestDeterminism(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 2000
	}
	log := randomLog(t, 20240601, n)
	machines := []*Machine{NewMachine(), NewMachine(), NewMachine()}
	var mid []byte
	counts := map[string]int{}
	for i, e := range log {
		var first *Result
		for k, m := range machines {
			r := m.Apply(uint64(i+1), e)
			if k == 0 {
				first = r
				key := r.Type.String() + "/" + r.Status.String()
				for _, it := range r.Items {
					if it.Verdict.Approved {
						counts["item/approved"]++
					} else {
						counts["item/"+ReasonName(it.Verdict.Reason)]++
					}
				}
				counts[key]++
			} else if !reflect.DeepEqual(r, first) {
				t.Fatalf("entry %d: machine %d result %+v differs from %+v", i+1, k, r, first)
			}
		}
		if i+1 == n/2 {
			mid = mustSnapshot(t, machines[0])
		}
	}
	t.Logf("outcomes: %v", counts)
	for _, want := range []string{"duty/applied", "duty/rejected", "chain_view/applied", "chain_view/rejected", "validator_add/applied",
		"validator_add/rejected", "slashing_import/applied", "halt/applied", "resume/applied", "item/approved", "item/double_vote",
		"item/double_proposal", "item/below_watermark", "item/halted"} {
		if counts[want] == 0 {
			t.Errorf("the random log never produced %s; it does not exercise what it claims", want)
		}
	}

	snaps := make([][]byte, len(machines))
	for k, m := range machines {
		snaps[k] = mustSnapshot(t, m)
	}
	for k := 1; k < len(snaps); k++ {
		if !bytes.Equal(snaps[0], snaps[k]) {
			t.Fatalf("machine %d snapshot differs from machine 0", k)
		}
	}

	// snapshot → restore → snapshot is the identity.
	restored := NewMachine()
	if err := restored.Restore(snaps[0]); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if again := mustSnapshot(t, restored); !bytes.Equal(again, snaps[0]) {
		t.Fatalf("snapshot after restore differs")
	}

	// Restore the mid-log snapshot and apply the rest: same state as applying everything.
	late := NewMachine()
	if err := late.Restore(mid); err != nil {
		t.Fatalf("restore mid snapshot: %v", err)
	}
	if late.AppliedIndex() != uint64(n/2) {
		t.Fatalf("restored applied index %d, want %d", late.AppliedIndex(), n/2)
	}
	for i := n / 2; i < n; i++ {
		late.Apply(uint64(i+1), log[i])
	}
	if !bytes.Equal(mustSnapshot(t, late), snaps[0]) {
		t.Fatalf("restore at %d + rest of log differs from applying the whole log", n/2)
	}
	// Queries agree too.
	if !reflect.DeepEqual(late.Validators(), machines[0].Validators()) || late.ChainView() != machines[0].ChainView() {
		t.Fatalf("restored machine answers queries differently")
	}
}

// TestApplyStaleIndex: an index at or below the applied index is rejected and changes nothing.
func TestApplyStaleIndex(t *testing.T) {
	m := NewMachine()
	if r := m.Apply(5, mustEncode(t, testConfig([32]byte{1}))); !r.Applied() {
		t.Fatalf("config: %+v", r)
	}
	before := mustSnapshot(t, m)
	for _, idx := range []uint64{5, 4, 0} {
		if r := m.Apply(idx, mustEncode(t, &Halt{})); r.Applied() {
			t.Fatalf("index %d applied after 5", idx)
		}
	}
	if !bytes.Equal(before, mustSnapshot(t, m)) || m.AppliedIndex() != 5 {
		t.Fatalf("stale index changed the state")
	}
	if r := m.Apply(6, []byte{0xff}); r.Applied() || m.AppliedIndex() != 6 {
		t.Fatalf("garbage at 6: %+v, applied index %d", r, m.AppliedIndex())
	}
}

// TestImportOtherChainChangesNothing: an interchange for another chain is rejected and the snapshot bytes do not
// change.
func TestImportOtherChainChangesNothing(t *testing.T) {
	m := NewMachine()
	m.Apply(1, mustEncode(t, testConfig([32]byte{2}))) // other_chain.json is for gvr 0x01…
	m.Apply(2, mustEncode(t, addEntry(t, 1, 2, 3, 101)))
	m.Apply(3, mustEncode(t, attestationDuty(t, 16, 1, 2, 0, [][48]byte{groupKey(t, 1)}, []uint64{101})))
	before := mustSnapshot(t, m)
	other, err := os.ReadFile(filepath.Join("testdata", "other_chain.json"))
	if err != nil {
		t.Fatal(err)
	}
	entry := mustEncode(t, &SlashingImport{Interchange: other})
	if r := m.Check(entry); r.Applied() {
		t.Fatalf("check approved another chain's interchange")
	}
	r := m.Apply(4, entry)
	if r.Applied() {
		t.Fatalf("another chain's interchange applied")
	}
	after := mustSnapshot(t, m)
	// Only the applied index moved: restore both and compare everything else.
	a, b := NewMachine(), NewMachine()
	if err := a.Restore(before); err != nil {
		t.Fatal(err)
	}
	if err := b.Restore(after); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	a.s.appliedIndex = 4
	a.mu.Unlock()
	if !bytes.Equal(mustSnapshot(t, a), after) {
		t.Fatalf("rejected import changed the state")
	}
}

// TestInterchangeVectorImports runs the imports of the public EIP-3076 test cases through SlashingImport
// entries: should_succeed steps apply; the others are rejected and leave the state byte-identical.
func TestInterchangeVectorImports(t *testing.T) {
	dir := filepath.Join(sharedTestdata(t), "slashing-protection-interchange-tests", "tests", "generated")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Skipf("no interchange vectors in %s", dir)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var tc struct {
				GVR   string `json:"genesis_validators_root"`
				Steps []struct {
					ShouldSucceed bool            `json:"should_succeed"`
					Interchange   json.RawMessage `json:"interchange"`
				} `json:"steps"`
			}
			if err := json.Unmarshal(raw, &tc); err != nil {
				t.Fatal(err)
			}
			var gvr [32]byte
			if _, err := fmt.Sscanf(tc.GVR, "0x%x", &gvr); err != nil && tc.GVR != "0x"+fmt.Sprintf("%064x", 0) {
				var b []byte
				if _, err := fmt.Sscanf(tc.GVR, "0x%x", &b); err != nil || len(b) != 32 {
					t.Fatalf("gvr %q", tc.GVR)
				}
				copy(gvr[:], b)
			}
			m := NewMachine()
			idx := uint64(1)
			if r := m.Apply(idx, mustEncode(t, testConfig(gvr))); !r.Applied() {
				t.Fatalf("config: %s", r.Reason)
			}
			for i, st := range tc.Steps {
				idx++
				before := mustSnapshot(t, m)
				r := m.Apply(idx, mustEncode(t, &SlashingImport{Interchange: st.Interchange}))
				if r.Applied() != st.ShouldSucceed {
					t.Fatalf("step %d: applied=%v (%s), want %v", i, r.Applied(), r.Reason, st.ShouldSucceed)
				}
				if !r.Applied() {
					m.mu.Lock()
					m.s.appliedIndex--
					m.mu.Unlock()
					if !bytes.Equal(before, mustSnapshot(t, m)) {
						t.Fatalf("step %d: rejected import changed the state", i)
					}
					m.mu.Lock()
					m.s.appliedIndex++
					m.mu.Unlock()
				}
			}
		})
	}
}

// TestRestoreIsAtomic: a bad snapshot leaves the machine as it was, with a typed error.
func TestRestoreIsAtomic(t *testing.T) {
	m := NewMachine()
	for i, e := range randomLog(t, 7, 300) {
		m.Apply(uint64(i+1), e)
	}
	good := mustSnapshot(t, m)
	bad := map[string][]byte{
		"empty":         nil,
		"version 0":     append([]byte{0}, good[1:]...),
		"version 2":     append([]byte{2}, good[1:]...),
		"truncated":     good[:len(good)/2],
		"not snappy":    {SnapshotVersion, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2},
		"trailing junk": append(bytes.Clone(good), 0),
	}
	for name, b := range bad {
		err := m.Restore(b)
		if err == nil {
			t.Errorf("%s: restore succeeded", name)
			continue
		}
		if !errors.Is(err, ErrSnapshotVersion) && !errors.Is(err, ErrSnapshotCorrupt) {
			t.Errorf("%s: untyped error %v", name, err)
		}
		if !bytes.Equal(mustSnapshot(t, m), good) {
			t.Fatalf("%s: failed restore changed the state", name)
		}
	}
}

// FuzzRestore: Restore never panics, and whatever it accepts snapshots back to the same bytes (snapshots are
// canonical).
func FuzzRestore(f *testing.F) {
	m := NewMachine()
	f.Add(mustSnapshot(f, m))
	for i, e := range randomLog(f, 3, 120) {
		m.Apply(uint64(i+1), e)
		if i%40 == 39 {
			f.Add(mustSnapshot(f, m))
		}
	}
	f.Add([]byte{SnapshotVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		m := NewMachine()
		if err := m.Restore(b); err != nil {
			return
		}
		again := mustSnapshot(t, m)
		m2 := NewMachine()
		if err := m2.Restore(again); err != nil {
			t.Fatalf("own snapshot does not restore: %v", err)
		}
		if !bytes.Equal(mustSnapshot(t, m2), again) {
			t.Fatalf("snapshot not stable across restore")
		}
	})
}
