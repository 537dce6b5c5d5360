package slashing

import (
	"bytes"
	"slices"
	"sort"
)

// DB is the slashing-protection history of a set of validators: every signed
// block (slot, signing root) and every signed attestation (source, target,
// signing root), plus the low watermarks that Prune leaves behind.
//
// A DB is not safe for concurrent use; the state machine serialises access. The
// zero value is an empty, usable DB, but New is the idiomatic constructor.
type DB struct {
	vals map[Pubkey]*history
}

// blockRecord is one signed block, with an explicit or an unknown signing root.
type blockRecord struct {
	slot uint64
	root OptionalRoot
}

// attRecord is one signed attestation, with an explicit or an unknown signing
// root.
type attRecord struct {
	source, target uint64
	root           OptionalRoot
}

// history is the record of one validator.
//
// Invariants (kept by every mutation, checked by UnmarshalBinary):
//   - blocks is sorted by (slot, root) without duplicates;
//   - atts is sorted by (target, source, root) without duplicates;
//   - roots sort unknown first, then explicit ones by their bytes (cmpRoot);
//     an unknown root's bytes are zero;
//   - with hasBlockMark, every block's slot is > blockMark;
//   - with hasAttMark, every attestation's target is > targetMark;
//   - minSource and maxSource are the smallest and largest sources in atts (0
//     when atts is empty); they are derived, not serialised.
//
// The watermarks act as one extra signed message with an unknown signing root:
// a block at slot blockMark, and an attestation (sourceMark, targetMark).
type history struct {
	blocks []blockRecord
	atts   []attRecord

	hasBlockMark bool
	blockMark    uint64

	hasAttMark bool
	sourceMark uint64
	targetMark uint64

	minSource uint64
	maxSource uint64
}

// New returns an empty DB.
func New() *DB { return &DB{vals: make(map[Pubkey]*history)} }

// Clone returns a deep copy of db that shares no memory with it.
func (db *DB) Clone() *DB {
	out := &DB{vals: make(map[Pubkey]*history, len(db.vals))}
	for pk, h := range db.vals {
		out.vals[pk] = h.clone()
	}
	return out
}

func (h *history) clone() *history {
	c := *h
	c.blocks = slices.Clone(h.blocks)
	c.atts = slices.Clone(h.atts)
	return &c
}

// Validators returns the public keys the DB holds history for, sorted.
func (db *DB) Validators() []Pubkey {
	out := make([]Pubkey, 0, len(db.vals))
	for pk := range db.vals {
		out = append(out, pk)
	}
	sortPubkeys(out)
	return out
}

func sortPubkeys(pks []Pubkey) {
	slices.SortFunc(pks, func(a, b Pubkey) int { return bytes.Compare(a[:], b[:]) })
}

// lookup returns pk's history, creating it when create is set.
func (db *DB) lookup(pk Pubkey, create bool) *history {
	h := db.vals[pk]
	if h == nil && create {
		if db.vals == nil {
			db.vals = make(map[Pubkey]*history)
		}
		h = &history{}
		db.vals[pk] = h
	}
	return h
}

// RecordProposal records that pk signed a block at slot with signingRoot. The
// caller must have called CheckProposal first and got an approval; recording is
// unconditional. signingRoot is recorded as an explicit root, even when it is all
// zeros, so signing the same block again is a repeat. Recording a block at or
// below the low watermark changes nothing: the watermark already covers it.
func (db *DB) RecordProposal(pk Pubkey, slot uint64, signingRoot Root) {
	db.lookup(pk, true).addBlock(blockRecord{slot: slot, root: KnownRoot(signingRoot)})
}

// RecordAttestation records that pk signed an attestation (source, target) with
// signingRoot. The caller must have called CheckAttestation first and got an
// approval; recording is unconditional. signingRoot is recorded as an explicit
// root, even when it is all zeros, so signing the same attestation again is a
// repeat. An attestation at or below the target watermark is folded into the
// watermarks instead of being stored.
func (db *DB) RecordAttestation(pk Pubkey, source, target uint64, signingRoot Root) {
	db.lookup(pk, true).addAtt(attRecord{source: source, target: target, root: KnownRoot(signingRoot)})
}

// Prune folds history strictly below the finalized epoch into the low
// watermarks: blocks with slot < finalizedEpoch*slotsPerEpoch and attestations
// with target < finalizedEpoch. The block watermark becomes the highest pruned
// slot; the attestation watermarks become the highest pruned source and target.
// Protection never weakens: everything denied before Prune is still denied after
// it. With slotsPerEpoch == 0 no blocks are pruned.
func (db *DB) Prune(finalizedEpoch, slotsPerEpoch uint64) {
	cutSlot := finalizedEpoch * slotsPerEpoch
	if slotsPerEpoch != 0 && cutSlot/slotsPerEpoch != finalizedEpoch {
		cutSlot = ^uint64(0) // saturate on overflow
	}
	for _, h := range db.vals {
		h.pruneBlocks(cutSlot)
		h.pruneAtts(finalizedEpoch)
	}
}

func (h *history) pruneBlocks(cutSlot uint64) {
	n := sort.Search(len(h.blocks), func(i int) bool { return h.blocks[i].slot >= cutSlot })
	if n == 0 {
		return
	}
	// Blocks are sorted and all above the old mark, so the last pruned one is the
	// highest slot folded away.
	h.hasBlockMark, h.blockMark = true, h.blocks[n-1].slot
	h.blocks = h.blocks[:copy(h.blocks, h.blocks[n:])]
}

func (h *history) pruneAtts(finalizedEpoch uint64) {
	n := sort.Search(len(h.atts), func(i int) bool { return h.atts[i].target >= finalizedEpoch })
	if n == 0 {
		return
	}
	for _, a := range h.atts[:n] {
		h.foldAtt(a)
	}
	h.atts = h.atts[:copy(h.atts, h.atts[n:])]
	h.recomputeSourceBounds()
}

// foldAtt raises the attestation watermarks so that they cover a.
func (h *history) foldAtt(a attRecord) {
	if !h.hasAttMark {
		h.hasAttMark, h.sourceMark, h.targetMark = true, a.source, a.target
		return
	}
	h.sourceMark = max(h.sourceMark, a.source)
	h.targetMark = max(h.targetMark, a.target)
}

func (h *history) recomputeSourceBounds() {
	h.minSource, h.maxSource = 0, 0
	for i, a := range h.atts {
		if i == 0 {
			h.minSource, h.maxSource = a.source, a.source
			continue
		}
		h.minSource = min(h.minSource, a.source)
		h.maxSource = max(h.maxSource, a.source)
	}
}

// cmpRoot orders unknown roots before explicit ones, and explicit ones by
// their bytes.
func cmpRoot(a, b OptionalRoot) int {
	switch {
	case a.Known != b.Known:
		if a.Known {
			return 1
		}
		return -1
	case !a.Known:
		return 0
	}
	return bytes.Compare(a.Root[:], b.Root[:])
}

func cmpBlock(a, b blockRecord) int {
	switch {
	case a.slot < b.slot:
		return -1
	case a.slot > b.slot:
		return 1
	}
	return cmpRoot(a.root, b.root)
}

func cmpAtt(a, b attRecord) int {
	switch {
	case a.target < b.target:
		return -1
	case a.target > b.target:
		return 1
	case a.source < b.source:
		return -1
	case a.source > b.source:
		return 1
	}
	return cmpRoot(a.root, b.root)
}

// addBlock inserts b, keeping the invariants. It reports whether the history
// gained a record.
func (h *history) addBlock(b blockRecord) bool {
	if h.hasBlockMark && b.slot <= h.blockMark {
		return false // the watermark already denies this slot
	}
	i, found := slices.BinarySearchFunc(h.blocks, b, cmpBlock)
	if found {
		return false
	}
	h.blocks = slices.Insert(h.blocks, i, b)
	return true
}

// addAtt inserts a, keeping the invariants. It reports whether the history
// gained a record; an attestation at or below the target watermark is folded
// into the watermarks instead.
func (h *history) addAtt(a attRecord) bool {
	if h.hasAttMark && a.target <= h.targetMark {
		h.foldAtt(a)
		return false
	}
	i, found := slices.BinarySearchFunc(h.atts, a, cmpAtt)
	if found {
		return false
	}
	if len(h.atts) == 0 {
		h.minSource, h.maxSource = a.source, a.source
	} else {
		h.minSource = min(h.minSource, a.source)
		h.maxSource = max(h.maxSource, a.source)
	}
	h.atts = slices.Insert(h.atts, i, a)
	return true
}

// blocksAt returns the records at slot.
func (h *history) blocksAt(slot uint64) []blockRecord {
	lo := sort.Search(len(h.blocks), func(i int) bool { return h.blocks[i].slot >= slot })
	hi := lo
	for hi < len(h.blocks) && h.blocks[hi].slot == slot {
		hi++
	}
	return h.blocks[lo:hi]
}

// attRange returns lo, hi such that atts[:lo] have target < t, atts[lo:hi] have
// target == t and atts[hi:] have target > t.
func (h *history) attRange(t uint64) (lo, hi int) {
	lo = sort.Search(len(h.atts), func(i int) bool { return h.atts[i].target >= t })
	hi = lo
	for hi < len(h.atts) && h.atts[hi].target == t {
		hi++
	}
	return lo, hi
}
