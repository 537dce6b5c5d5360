package slashing

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// naiveModel keeps every approved (or imported) message forever and evaluates
// the EIP-3076 conditions by brute force over all of them, with no watermarks, no
// sorting and no shortcuts. It is the complete strategy written as plainly as
// possible. A repeat is the same message with the same explicit root; an unknown
// root (imported without signing_root) repeats nothing.
type naiveModel struct {
	blocks map[Pubkey][]modelBlk
	atts   map[Pubkey][]modelAtt
}

type modelBlk struct {
	slot uint64
	root OptionalRoot
}

type modelAtt struct {
	src, tgt uint64
	root     OptionalRoot
}

func newNaiveModel() *naiveModel {
	return &naiveModel{blocks: map[Pubkey][]modelBlk{}, atts: map[Pubkey][]modelAtt{}}
}

// approveProposal decides a block with root, which is explicit for a signing
// request and unknown for an imported record (whose conflicts Import counts).
func (m *naiveModel) approveProposal(pk Pubkey, slot uint64, root OptionalRoot) bool {
	recs := m.blocks[pk]
	repeat := false
	for _, b := range recs {
		if b.slot == slot {
			if !b.root.Matches(root) {
				return false // condition 1
			}
			repeat = true
		}
	}
	if repeat {
		return true
	}
	for _, b := range recs {
		if slot < b.slot && b.slot == minSlot(recs) { // condition 2: below the minimum
			return false
		}
	}
	return true
}

func (m *naiveModel) approveAttestation(pk Pubkey, s, t uint64, root OptionalRoot) bool {
	if s > t {
		return false
	}
	recs := m.atts[pk]
	repeat := false
	for _, a := range recs {
		if a.tgt == t {
			if !a.root.Matches(root) || a.src != s {
				return false // double vote
			}
			repeat = true
		}
	}
	if repeat {
		return true
	}
	for _, a := range recs {
		if s < a.src && a.tgt < t { // new surrounds old
			return false
		}
		if a.src < s && t < a.tgt { // old surrounds new
			return false
		}
	}
	if len(recs) > 0 && s < minSource(recs) { // condition 4
		return false
	}
	if len(recs) > 0 && t < minTarget(recs) { // condition 5 (equality is a double vote)
		return false
	}
	return true
}

func minSlot(recs []modelBlk) uint64 {
	m := recs[0].slot
	for _, b := range recs {
		m = min(m, b.slot)
	}
	return m
}

func minSource(recs []modelAtt) uint64 {
	m := recs[0].src
	for _, a := range recs {
		m = min(m, a.src)
	}
	return m
}

func minTarget(recs []modelAtt) uint64 {
	m := recs[0].tgt
	for _, a := range recs {
		m = min(m, a.tgt)
	}
	return m
}

// slashableProposal and slashableAttestation report whether a message with an
// explicit root is slashable (by the consensus spec's definitions only) against
// any message the model holds, assuming, as EIP-3076 says, that a message with
// an unknown root differs from every other.
func (m *naiveModel) slashableProposal(pk Pubkey, slot uint64, root Root) bool {
	for _, b := range m.blocks[pk] {
		if b.slot == slot && !b.root.Matches(KnownRoot(root)) {
			return true
		}
	}
	return false
}

func (m *naiveModel) slashableAttestation(pk Pubkey, s, t uint64, root Root) bool {
	for _, a := range m.atts[pk] {
		if a.tgt == t && (a.src != s || !a.root.Matches(KnownRoot(root))) {
			return true
		}
		if (s < a.src && a.tgt < t) || (a.src < s && t < a.tgt) {
			return true
		}
	}
	return false
}

const (
	propSlots  = 48
	propEpochs = 12
	propSPE    = 4
)

// propRoots are the explicit roots requests carry; the all-zero one is as good
// as any other.
var propRoots = []Root{{}, {1}, {2}, {3}}

// verdictGrid evaluates every candidate message in the small universe the
// property test draws from, for one validator, as a bitmap of approvals.
func verdictGrid(db *DB, pk Pubkey) []bool {
	out := make([]bool, 0, propSlots*len(propRoots)+propEpochs*propEpochs*len(propRoots))
	for slot := uint64(0); slot < propSlots; slot++ {
		for _, r := range propRoots {
			out = append(out, db.CheckProposal(pk, slot, r).Approved)
		}
	}
	for s := uint64(0); s < propEpochs; s++ {
		for t := uint64(0); t < propEpochs; t++ {
			for _, r := range propRoots {
				out = append(out, db.CheckAttestation(pk, s, t, r).Approved)
			}
		}
	}
	return out
}

// TestPropertyAgainstNaiveModel drives the DB and the naive model with random
// proposals, attestations, imports of records without signing root and prunes
// for a few validators, and checks:
//   - the DB never approves what is slashable against anything approved before;
//   - an import counts a conflict whenever the model would (exactly so until the
//     first prune);
//   - the DB never approves what the model denies (it is never looser);
//   - until the first prune of a run, the DB agrees with the model exactly;
//   - Prune never turns a denial into an approval;
//   - binary round trips are byte-identical and keep every verdict;
//   - a complete export imported into an empty DB gives the same verdicts, a
//     minimal export at least the same denials, and re-importing the DB's own
//     complete export leaves it byte-identical.
func TestPropertyAgainstNaiveModel(t *testing.T) {
	runs, steps := 150, 120
	if testing.Short() {
		runs = 30
	}
	var approved, denied, prunes int
	defer func() {
		t.Logf("%d approvals, %d denials, %d prunes", approved, denied, prunes)
		if approved < runs*10 || denied < runs*10 {
			t.Errorf("the random walk is lopsided: %d approvals, %d denials", approved, denied)
		}
	}()
	pks := []Pubkey{pkA, pkB, {0xc}}
	for run := 0; run < runs; run++ {
		rng := rand.New(rand.NewPCG(uint64(run), 0x3076))
		db, model := New(), newNaiveModel()
		pruned := false
		var finalized uint64
		for step := 0; step < steps; step++ {
			pk := pks[rng.IntN(len(pks))]
			where := fmt.Sprintf("run %d step %d", run, step)
			switch op := rng.IntN(22); {
			case op < 8:
				// Mostly increasing slots, sometimes anything.
				slot := uint64(rng.IntN(propSlots))
				root := propRoots[rng.IntN(len(propRoots))]
				v := db.CheckProposal(pk, slot, root)
				want := model.approveProposal(pk, slot, KnownRoot(root))
				if v.Approved && model.slashableProposal(pk, slot, root) {
					t.Fatalf("%s: approved slashable proposal slot %d root %s", where, slot, root)
				}
				if v.Approved && !want {
					t.Fatalf("%s: DB approved proposal slot %d root %s that the model denies", where, slot, root)
				}
				if !pruned && v.Approved != want {
					t.Fatalf("%s: proposal slot %d root %s: DB %v, model approved=%v", where, slot, root, v, want)
				}
				countVerdict(v, &approved, &denied)
				if v.Approved {
					db.RecordProposal(pk, slot, root)
					model.blocks[pk] = append(model.blocks[pk], modelBlk{slot, KnownRoot(root)})
				}
			case op < 17:
				s, tg := randomAttEpochs(rng)
				root := propRoots[rng.IntN(len(propRoots))]
				v := db.CheckAttestation(pk, s, tg, root)
				want := model.approveAttestation(pk, s, tg, KnownRoot(root))
				if v.Approved && model.slashableAttestation(pk, s, tg, root) {
					t.Fatalf("%s: approved slashable attestation %d→%d root %s", where, s, tg, root)
				}
				if v.Approved && !want {
					t.Fatalf("%s: DB approved attestation %d→%d root %s that the model denies", where, s, tg, root)
				}
				if !pruned && v.Approved != want {
					t.Fatalf("%s: attestation %d→%d root %s: DB %v, model approved=%v", where, s, tg, root, v, want)
				}
				countVerdict(v, &approved, &denied)
				if v.Approved {
					db.RecordAttestation(pk, s, tg, root)
					model.atts[pk] = append(model.atts[pk], modelAtt{s, tg, KnownRoot(root)})
				}
			case op < 19:
				// Finality mostly advances, but Prune must cope with anything.
				finalized = max(finalized, uint64(rng.IntN(propEpochs)))
				if rng.IntN(5) == 0 {
					finalized = uint64(rng.IntN(propEpochs))
				}
				before := make(map[Pubkey][]bool, len(pks))
				for _, p := range pks {
					before[p] = verdictGrid(db, p)
				}
				db.Prune(finalized, propSPE)
				pruned, prunes = true, prunes+1
				for _, p := range pks {
					after := verdictGrid(db, p)
					for i := range after {
						if after[i] && !before[p][i] {
							t.Fatalf("%s: Prune(%d) turned denial %d into an approval", where, finalized, i)
						}
					}
				}
			case op < 20:
				checkRoundTrips(t, db, pks, where)
			case op < 21:
				// Import a block without signing root: kept whatever it conflicts with.
				slot := uint64(rng.IntN(propSlots))
				conflict := !model.approveProposal(pk, slot, OptionalRoot{})
				rep := importInto(db, Root{}, InterchangeValidator{Pubkey: pk, SignedBlocks: []SignedBlock{{Slot: slot}}})
				checkImportConflict(t, where, rep.ConflictingBlocks, conflict, pruned)
				model.blocks[pk] = append(model.blocks[pk], modelBlk{slot: slot})
			default:
				// Import an attestation without signing root.
				s, tg := randomAttEpochs(rng)
				conflict := !model.approveAttestation(pk, s, tg, OptionalRoot{})
				rep := importInto(db, Root{}, InterchangeValidator{Pubkey: pk,
					SignedAttestations: []SignedAttestation{{SourceEpoch: s, TargetEpoch: tg}}})
				checkImportConflict(t, where, rep.ConflictingAttestations, conflict, pruned)
				model.atts[pk] = append(model.atts[pk], modelAtt{src: s, tgt: tg})
			}
		}
		checkRoundTrips(t, db, pks, fmt.Sprintf("run %d end", run))
	}
}

// randomAttEpochs returns mostly plausible (source, target) pairs, and
// occasionally one with source > target.
func randomAttEpochs(rng *rand.Rand) (source, target uint64) {
	source = uint64(rng.IntN(propEpochs))
	target = source + uint64(rng.IntN(4))
	if rng.IntN(10) == 0 {
		target = uint64(rng.IntN(propEpochs))
	}
	return source, min(target, propEpochs-1)
}

// checkImportConflict compares the conflicts Import counted for one record with
// the model's verdict: never fewer, and exactly as many until the first prune.
func checkImportConflict(t *testing.T, where string, got int, want, pruned bool) {
	t.Helper()
	switch {
	case got > 1:
		t.Fatalf("%s: %d conflicts counted for one imported record", where, got)
	case want && got == 0:
		t.Fatalf("%s: import counted no conflict, the model sees one", where)
	case !pruned && !want && got != 0:
		t.Fatalf("%s: import counted a conflict the model does not see", where)
	}
}

func countVerdict(v Verdict, approved, denied *int) {
	if v.Approved {
		*approved++
	} else {
		*denied++
	}
}

func checkRoundTrips(t *testing.T, db *DB, pks []Pubkey, where string) {
	t.Helper()
	enc := mustMarshal(t, db)
	back := New()
	if err := back.UnmarshalBinary(enc); err != nil {
		t.Fatalf("%s: unmarshal own encoding: %v", where, err)
	}
	if string(mustMarshal(t, back)) != string(enc) {
		t.Fatalf("%s: binary round trip is not byte-identical", where)
	}
	clone := db.Clone()
	gvr := Root{0x99}
	complete, err := db.Export(gvr, nil, true)
	if err != nil {
		t.Fatalf("%s: export: %v", where, err)
	}
	minimal, err := db.Export(gvr, nil, false)
	if err != nil {
		t.Fatalf("%s: export: %v", where, err)
	}
	fromComplete, fromMinimal := New(), New()
	if _, err := fromComplete.Import(complete, gvr); err != nil {
		t.Fatalf("%s: import complete export: %v", where, err)
	}
	if _, err := fromMinimal.Import(minimal, gvr); err != nil {
		t.Fatalf("%s: import minimal export: %v", where, err)
	}
	for _, pk := range pks {
		want := verdictGrid(db, pk)
		for name, other := range map[string]*DB{"unmarshalled": back, "clone": clone, "complete export": fromComplete} {
			got := verdictGrid(other, pk)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%s: %s DB disagrees on candidate %d: %v, original %v", where, name, i, got[i], want[i])
				}
			}
		}
		got := verdictGrid(fromMinimal, pk)
		for i := range want {
			if got[i] && !want[i] {
				t.Fatalf("%s: minimal export approves candidate %d that the original denies", where, i)
			}
		}
	}
	if _, err := clone.Import(complete, gvr); err != nil {
		t.Fatalf("%s: re-import own export: %v", where, err)
	}
	if string(mustMarshal(t, clone)) != string(enc) {
		t.Fatalf("%s: re-importing the DB's own complete export changed it", where)
	}
}
