package slashing

import (
	"strings"
	"testing"
)

var (
	pkA = Pubkey{0xa}
	pkB = Pubkey{0xb}
	r1  = Root{1}
	r2  = Root{2}
	r0  = Root{} // an explicit, all-zero signing root
)

type blk struct {
	slot uint64
	root Root
}

type att struct {
	src, tgt uint64
	root     Root
}

// history setup for one validator: records with explicit roots, records with
// unknown roots (imported without signing_root), then an optional prune.
type setup struct {
	blocks        []blk
	atts          []att
	unknownBlocks []uint64    // slots
	unknownAtts   [][2]uint64 // (source, target)
	prune         bool
	finalized     uint64
	slotsPerEpc   uint64
}

func (s setup) build() *DB {
	db := New()
	for _, b := range s.blocks {
		db.RecordProposal(pkA, b.slot, b.root)
	}
	for _, a := range s.atts {
		db.RecordAttestation(pkA, a.src, a.tgt, a.root)
	}
	if len(s.unknownBlocks)+len(s.unknownAtts) > 0 {
		v := InterchangeValidator{Pubkey: pkA}
		for _, slot := range s.unknownBlocks {
			v.SignedBlocks = append(v.SignedBlocks, SignedBlock{Slot: slot})
		}
		for _, a := range s.unknownAtts {
			v.SignedAttestations = append(v.SignedAttestations, SignedAttestation{SourceEpoch: a[0], TargetEpoch: a[1]})
		}
		importInto(db, Root{}, v)
	}
	if s.prune {
		db.Prune(s.finalized, s.slotsPerEpc)
	}
	return db
}

func TestCheckProposalRules(t *testing.T) {
	tests := []struct {
		name  string
		setup setup
		slot  uint64
		root  Root
		want  Reason // ReasonNone = approved
		pk    Pubkey
	}{
		{name: "no history", slot: 5, root: r1, want: ReasonNone},
		{name: "other validator's history is irrelevant", setup: setup{blocks: []blk{{5, r1}}}, pk: pkB, slot: 5, root: r2, want: ReasonNone},
		{name: "higher slot", setup: setup{blocks: []blk{{5, r1}}}, slot: 6, root: r2, want: ReasonNone},

		// Condition 1: "Refuse to sign any block that is slashable with respect to the
		// blocks contained in data.signed_blocks."
		{name: "different root at a signed slot", setup: setup{blocks: []blk{{5, r1}}}, slot: 5, root: r2, want: DoubleProposal},
		// "If the signing_root is absent from a block, a signer must assume that any
		// new block with the same slot is slashable with respect to the imported block."
		{name: "signed slot with unknown root", setup: setup{unknownBlocks: []uint64{5}}, slot: 5, root: r1, want: DoubleProposal},
		{name: "unknown root is not repeated by the zero root", setup: setup{unknownBlocks: []uint64{5}}, slot: 5, root: r0, want: DoubleProposal},
		{name: "unknown root next to the same explicit root", setup: setup{blocks: []blk{{5, r1}}, unknownBlocks: []uint64{5}}, slot: 5, root: r1, want: DoubleProposal},
		{name: "explicit zero root, other root", setup: setup{blocks: []blk{{5, r0}}}, slot: 5, root: r1, want: DoubleProposal},
		// Condition 2: "... except if it is a repeat signing as determined by the
		// signing_root."
		{name: "repeat signing", setup: setup{blocks: []blk{{5, r1}}}, slot: 5, root: r1, want: ReasonNone},
		{name: "repeat signing of an explicit zero root", setup: setup{blocks: []blk{{5, r0}}}, slot: 5, root: r0, want: ReasonNone},
		{name: "unknown root below the lowest slot", setup: setup{unknownBlocks: []uint64{5}}, slot: 4, root: r1, want: ProposalBelowWatermark},
		{name: "repeat of the lowest block", setup: setup{blocks: []blk{{5, r1}, {9, r2}}}, slot: 5, root: r1, want: ReasonNone},
		// Condition 2: "Refuse to sign any block with slot <= min(b.slot for b in
		// data.signed_blocks if b.pubkey == proposer_pubkey)".
		{name: "below the lowest signed slot", setup: setup{blocks: []blk{{5, r1}, {9, r2}}}, slot: 4, root: r1, want: ProposalBelowWatermark},
		{name: "gap above the lowest slot is allowed (complete strategy)", setup: setup{blocks: []blk{{5, r1}, {9, r2}}}, slot: 7, root: r1, want: ReasonNone},
		// The watermark is a block with unknown root at the highest pruned slot.
		{name: "at the pruned watermark", setup: setup{blocks: []blk{{5, r1}, {40, r2}}, prune: true, finalized: 1, slotsPerEpc: 32}, slot: 5, root: r1, want: ProposalBelowWatermark},
		{name: "below the pruned watermark", setup: setup{blocks: []blk{{5, r1}, {40, r2}}, prune: true, finalized: 1, slotsPerEpc: 32}, slot: 3, root: r1, want: ProposalBelowWatermark},
		{name: "between watermark and next record", setup: setup{blocks: []blk{{5, r1}, {40, r2}}, prune: true, finalized: 1, slotsPerEpc: 32}, slot: 6, root: r1, want: ReasonNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := tt.setup.build()
			pk := pkA
			if tt.pk != (Pubkey{}) {
				pk = tt.pk
			}
			v := db.CheckProposal(pk, tt.slot, tt.root)
			checkVerdict(t, v, tt.want)
		})
	}
}

func TestCheckAttestationRules(t *testing.T) {
	base := []att{{2, 3, r1}, {3, 4, r1}, {4, 8, r2}}
	tests := []struct {
		name     string
		setup    setup
		src, tgt uint64
		root     Root
		want     Reason
	}{
		{name: "no history", src: 1, tgt: 2, root: r1, want: ReasonNone},
		{name: "next epoch", setup: setup{atts: base}, src: 8, tgt: 9, root: r1, want: ReasonNone},
		{name: "genesis source equals target", src: 0, tgt: 0, root: r1, want: ReasonNone},

		// is_slashable_attestation_data presumes source <= target.
		{name: "source after target", src: 5, tgt: 4, root: r1, want: SourceAfterTarget},
		{name: "source after target without history", setup: setup{}, src: 1, tgt: 0, root: r1, want: SourceAfterTarget},

		// Condition 3 / is_slashable_attestation_data: "data_1 != data_2 and
		// data_1.target.epoch == data_2.target.epoch" (double vote).
		{name: "double vote, other root", setup: setup{atts: base}, src: 4, tgt: 8, root: r1, want: DoubleVote},
		{name: "double vote, other source", setup: setup{atts: base}, src: 3, tgt: 8, root: r2, want: DoubleVote},
		{name: "double vote against unknown root", setup: setup{unknownAtts: [][2]uint64{{2, 3}}}, src: 2, tgt: 3, root: r1, want: DoubleVote},
		{name: "unknown root is not repeated by the zero root", setup: setup{unknownAtts: [][2]uint64{{2, 3}}}, src: 2, tgt: 3, root: r0, want: DoubleVote},
		{name: "unknown root next to the same explicit root", setup: setup{atts: []att{{2, 3, r1}}, unknownAtts: [][2]uint64{{2, 3}}}, src: 2, tgt: 3, root: r1, want: DoubleVote},
		{name: "explicit zero root, other root", setup: setup{atts: []att{{2, 3, r0}}}, src: 2, tgt: 3, root: r1, want: DoubleVote},
		{name: "explicit zero root, other source", setup: setup{atts: []att{{2, 3, r0}}}, src: 1, tgt: 3, root: r0, want: DoubleVote},
		{name: "surrounds a record with an unknown root", setup: setup{unknownAtts: [][2]uint64{{0, 1}, {3, 4}}}, src: 2, tgt: 5, root: r1, want: SurroundingVote},
		// Condition 5: "... except if it is a repeat signing as determined by the
		// signing_root."
		{name: "repeat signing", setup: setup{atts: base}, src: 4, tgt: 8, root: r2, want: ReasonNone},
		{name: "repeat of the lowest target", setup: setup{atts: base}, src: 2, tgt: 3, root: r1, want: ReasonNone},
		{name: "repeat signing of an explicit zero root", setup: setup{atts: []att{{2, 3, r0}}}, src: 2, tgt: 3, root: r0, want: ReasonNone},

		// is_slashable_attestation_data: "data_1.source.epoch < data_2.source.epoch
		// and data_2.target.epoch < data_1.target.epoch" (surround vote).
		{name: "surrounds a signed vote", setup: setup{atts: base}, src: 3, tgt: 9, root: r1, want: SurroundingVote},
		{name: "surrounded by a signed vote", setup: setup{atts: base}, src: 5, tgt: 7, root: r1, want: SurroundedVote},
		{name: "same source inside is not surrounded", setup: setup{atts: base}, src: 4, tgt: 7, root: r1, want: ReasonNone},

		// Condition 4: "Refuse to sign any attestation with source epoch less than
		// the minimum source epoch present in that signer's attestations".
		{name: "source below lowest signed source", setup: setup{atts: []att{{5, 6, r1}}}, src: 4, tgt: 7, root: r1, want: SourceBelowWatermark},
		// Condition 5: "Refuse to sign any attestation with target epoch less than or
		// equal to the minimum target epoch present in that signer's attestations".
		{name: "target below lowest signed target", setup: setup{atts: []att{{5, 6, r1}}}, src: 5, tgt: 5, root: r1, want: TargetBelowWatermark},

		// Watermarks after Prune(finalized 5): (source 3, target 4) with unknown root.
		{name: "source below source watermark", setup: setup{atts: base, prune: true, finalized: 5}, src: 2, tgt: 9, root: r1, want: SourceBelowWatermark},
		{name: "target at target watermark", setup: setup{atts: base, prune: true, finalized: 5}, src: 3, tgt: 4, root: r1, want: TargetBelowWatermark},
		{name: "repeat below watermark is denied", setup: setup{atts: base, prune: true, finalized: 5}, src: 3, tgt: 4, root: r1, want: TargetBelowWatermark},
		{name: "above watermarks", setup: setup{atts: base, prune: true, finalized: 5}, src: 8, tgt: 9, root: r1, want: ReasonNone},
		{name: "surround survives pruning", setup: setup{atts: base, prune: true, finalized: 5}, src: 3, tgt: 9, root: r1, want: SurroundingVote},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := tt.setup.build()
			v := db.CheckAttestation(pkA, tt.src, tt.tgt, tt.root)
			checkVerdict(t, v, tt.want)
		})
	}
}

func checkVerdict(t *testing.T, v Verdict, want Reason) {
	t.Helper()
	if want == ReasonNone {
		if !v.Approved || v.Reason != ReasonNone || v.Detail != "" {
			t.Fatalf("got %v, want approved", v)
		}
		return
	}
	if v.Approved || v.Reason != want {
		t.Fatalf("got %v, want denied with %s", v, want)
	}
	if v.Detail == "" {
		t.Fatalf("denied verdict %v has no detail", v)
	}
}

func TestReasonString(t *testing.T) {
	want := map[Reason]string{
		ReasonNone:             "none",
		DoubleProposal:         "double_proposal",
		DoubleVote:             "double_vote",
		SurroundingVote:        "surrounding_vote",
		SurroundedVote:         "surrounded_vote",
		SourceAfterTarget:      "source_after_target",
		ProposalBelowWatermark: "proposal_below_watermark",
		SourceBelowWatermark:   "source_below_watermark",
		TargetBelowWatermark:   "target_below_watermark",
		UnknownValidator:       "unknown_validator",
		Reason(200):            "reason_200",
	}
	for r, s := range want {
		if r.String() != s {
			t.Errorf("Reason(%d).String() = %q, want %q", r, r.String(), s)
		}
	}
	// The numeric values are wire format: pin them.
	if DoubleProposal != 1 || TargetBelowWatermark != 8 || UnknownValidator != 9 {
		t.Fatal("Reason values changed; they are part of the replicated log's results")
	}
}

func TestVerdictDetailNamesTheConflict(t *testing.T) {
	db := New()
	db.RecordProposal(pkA, 5, r1)
	v := db.CheckProposal(pkA, 5, r2)
	if !strings.Contains(v.Detail, "slot 5") || !strings.Contains(v.Detail, r1.String()) {
		t.Fatalf("detail %q should name slot 5 and the signed root", v.Detail)
	}
	if s := v.String(); !strings.HasPrefix(s, "denied (double_proposal): ") {
		t.Fatalf("String() = %q", s)
	}
	if Approve().String() != "approved" {
		t.Fatal("Approve().String()")
	}
}

func TestCheckDoesNotRecord(t *testing.T) {
	db := New()
	db.CheckProposal(pkA, 5, r1)
	db.CheckAttestation(pkA, 1, 2, r1)
	if len(db.Validators()) != 0 {
		t.Fatal("Check* must not create history")
	}
}

func TestPruneFoldsIntoWatermarks(t *testing.T) {
	db := New()
	for e := uint64(1); e <= 10; e++ {
		db.RecordAttestation(pkA, e-1, e, Root{byte(e)})
		db.RecordProposal(pkA, e*32+3, Root{byte(e)})
	}
	db.Prune(8, 32)
	h := db.vals[pkA]
	if len(h.atts) != 3 || len(h.blocks) != 3 {
		t.Fatalf("kept %d attestations and %d blocks, want 3 and 3", len(h.atts), len(h.blocks))
	}
	if !h.hasAttMark || h.sourceMark != 6 || h.targetMark != 7 {
		t.Fatalf("attestation watermarks (%v, %d, %d), want (6, 7)", h.hasAttMark, h.sourceMark, h.targetMark)
	}
	if !h.hasBlockMark || h.blockMark != 7*32+3 {
		t.Fatalf("block watermark (%v, %d), want %d", h.hasBlockMark, h.blockMark, 7*32+3)
	}
	// Pruning again at the same or a lower epoch changes nothing.
	before := mustMarshal(t, db)
	db.Prune(8, 32)
	db.Prune(2, 32)
	if string(mustMarshal(t, db)) != string(before) {
		t.Fatal("re-pruning changed the DB")
	}
	// Overflowing finalizedEpoch*slotsPerEpoch saturates instead of wrapping.
	db.Prune(^uint64(0)/2, 32)
	if len(db.vals[pkA].blocks) != 0 {
		t.Fatal("saturated prune kept blocks")
	}
	// Recording below the watermark folds into it.
	db2 := New()
	db2.RecordAttestation(pkA, 1, 2, r1)
	db2.RecordAttestation(pkA, 2, 10, r1)
	db2.Prune(5, 32)
	db2.RecordAttestation(pkA, 4, 2, r1) // caller skipped the check
	if h := db2.vals[pkA]; h.sourceMark != 4 || h.targetMark != 2 || len(h.atts) != 1 {
		t.Fatalf("fold on record: marks (%d, %d), %d records", h.sourceMark, h.targetMark, len(h.atts))
	}
}

// importInto imports validator histories into db for gvr, panicking on error
// (test setups only build valid interchanges).
func importInto(db *DB, gvr Root, vals ...InterchangeValidator) ImportReport {
	rep, err := db.Import(&Interchange{
		Metadata: InterchangeMetadata{InterchangeFormatVersion: InterchangeFormatVersion, GenesisValidatorsRoot: gvr},
		Data:     vals,
	}, gvr)
	if err != nil {
		panic(err)
	}
	return rep
}
