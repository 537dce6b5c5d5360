package slashing

import "fmt"

// This file holds the EIP-3076 rules, each next to the text it implements. The
// quoted conditions are from EIP-3076 "Slashing Protection Interchange Format",
// section Conditions; they apply to the whole history held by the DB, not only to
// imported data, as the EIP's "Advice for Complete Databases" recommends:
//
//	"Our recommendation is to enforce these rules at all times, to keep the
//	implementation clean and minimise the attack surface."
//
// Signing roots are explicit or unknown (OptionalRoot). Check and Record calls
// always carry an explicit root, even an all-zero one; a record imported without
// a signing_root has an unknown root, and a low watermark left by Prune is
// treated as one more signed message with an unknown root, so every rule below
// also holds against pruned history. "Repeat signing as determined by the
// signing_root" means: the same slot (or the same source and target) and the
// same explicit root as a record. An unknown root is never a repeat of anything,
// not even of another unknown root.

// CheckProposal decides whether pk may sign a block at slot with signingRoot. It
// does not record anything; call RecordProposal after an approval.
func (db *DB) CheckProposal(pk Pubkey, slot uint64, signingRoot Root) Verdict {
	h := db.vals[pk]
	if h == nil {
		return Approve()
	}
	return h.checkProposal(slot, KnownRoot(signingRoot))
}

// checkProposal decides a block with an explicit root, or, when Import counts
// conflicts, one with an unknown root (which conflicts with any record at its
// slot).
func (h *history) checkProposal(slot uint64, root OptionalRoot) Verdict {
	// Condition 2, against the watermark (a block at blockMark whose signing root
	// is unknown): "Refuse to sign any block with slot <= min(b.slot for b in
	// data.signed_blocks if b.pubkey == proposer_pubkey), except if it is a repeat
	// signing as determined by the signing_root." An unknown root is never a repeat.
	if h.hasBlockMark && slot <= h.blockMark {
		return Deny(ProposalBelowWatermark,
			fmt.Sprintf("slot %d is at or below the low watermark slot %d", slot, h.blockMark))
	}

	// Condition 1: "Refuse to sign any block that is slashable with respect to the
	// blocks contained in data.signed_blocks. [...] If the signing_root is absent
	// from a block, a signer must assume that any new block with the same slot is
	// slashable with respect to the imported block."
	//
	// process_proposer_slashing: two different headers with the same slot. The
	// same explicit signing root is the same block: a repeat signing.
	if same := h.blocksAt(slot); len(same) > 0 {
		for _, b := range same {
			if !b.root.Known {
				return Deny(DoubleProposal,
					fmt.Sprintf("already signed slot %d with an unknown signing root", slot))
			}
			if !b.root.Matches(root) {
				return Deny(DoubleProposal,
					fmt.Sprintf("already signed slot %d with signing root %s", slot, b.root))
			}
		}
		return Approve() // repeat signing
	}

	// Condition 2, against the signed blocks. Equality with the minimum is handled
	// above: there is a record at that slot. With a watermark, the watermark is the
	// minimum (every record is above it) and was checked first.
	if !h.hasBlockMark && len(h.blocks) > 0 && slot < h.blocks[0].slot {
		return Deny(ProposalBelowWatermark,
			fmt.Sprintf("slot %d is below the lowest signed slot %d", slot, h.blocks[0].slot))
	}
	return Approve()
}

// CheckAttestation decides whether pk may sign an attestation with the given
// source and target epochs and signingRoot. It does not record anything; call
// RecordAttestation after an approval.
func (db *DB) CheckAttestation(pk Pubkey, source, target uint64, signingRoot Root) Verdict {
	// is_slashable_attestation_data presumes source <= target, which every valid
	// attestation satisfies (source is a justified checkpoint before the target).
	// One that does not is never signed.
	if source > target {
		return Deny(SourceAfterTarget,
			fmt.Sprintf("source epoch %d is after target epoch %d", source, target))
	}
	h := db.vals[pk]
	if h == nil {
		return Approve()
	}
	return h.checkAttestation(source, target, KnownRoot(signingRoot))
}

// checkAttestation decides an attestation with an explicit root, or, when
// Import counts conflicts, one with an unknown root (which conflicts with any
// record at its target).
func (h *history) checkAttestation(source, target uint64, root OptionalRoot) Verdict {
	// Condition 5, against the watermark attestation, whose signing root is
	// unknown and so never a repeat: "Refuse to sign any attestation with target
	// epoch less than or equal to the minimum target epoch present in that
	// signer's attestations [...], except if it is a repeat signing as determined
	// by the signing_root." Every record is above the target watermark, so the
	// watermark is that minimum.
	if h.hasAttMark && target <= h.targetMark {
		return Deny(TargetBelowWatermark,
			fmt.Sprintf("target epoch %d is at or below the target watermark %d", target, h.targetMark))
	}

	lo, hi := h.attRange(target)

	// Condition 3, double vote (is_slashable_attestation_data: "data_1 != data_2
	// and data_1.target.epoch == data_2.target.epoch"). The same source and the
	// same explicit signing root is the same data: a repeat signing, approved
	// before the other conditions, as condition 5 says. A repeat re-issues a
	// signature that already exists, so it adds no slashing evidence.
	if lo < hi {
		for _, a := range h.atts[lo:hi] {
			switch {
			case !a.root.Known:
				return Deny(DoubleVote, fmt.Sprintf(
					"already signed target epoch %d (source %d) with an unknown signing root", target, a.source))
			case !a.root.Matches(root) || a.source != source:
				return Deny(DoubleVote, fmt.Sprintf(
					"already signed target epoch %d (source %d) with signing root %s", target, a.source, a.root))
			}
		}
		return Approve() // repeat signing
	}

	if h.hasAttMark {
		// Condition 4, against the watermark attestation: "Refuse to sign any
		// attestation with source epoch less than the minimum source epoch present
		// in that signer's attestations". (Read as a record, the watermark
		// attestation would also deny this as a surround: its target is below
		// this one's.)
		if source < h.sourceMark {
			return Deny(SourceBelowWatermark,
				fmt.Sprintf("source epoch %d is below the source watermark %d", source, h.sourceMark))
		}
	} else if len(h.atts) > 0 {
		// Condition 4, against the signed attestations. With a watermark it adds
		// nothing: a lower record source cannot deny a source at or above the
		// watermark's.
		if source < h.minSource {
			return Deny(SourceBelowWatermark,
				fmt.Sprintf("source epoch %d is below the lowest signed source epoch %d", source, h.minSource))
		}
		// Condition 5, against the signed attestations. Equality with the minimum
		// is a double vote or a repeat, handled above.
		if minTarget := h.atts[0].target; target < minTarget {
			return Deny(TargetBelowWatermark,
				fmt.Sprintf("target epoch %d is below the lowest signed target epoch %d", target, minTarget))
		}
	}

	// Condition 3, surround votes (is_slashable_attestation_data: "data_1.source.
	// epoch < data_2.source.epoch and data_2.target.epoch < data_1.target.epoch").
	//
	// The new vote surrounds a signed one that has a smaller target and a larger
	// source. No signed source exceeds maxSource, so an honest validator, whose
	// source never decreases, skips the scan.
	if source < h.maxSource {
		for _, a := range h.atts[:lo] {
			if source < a.source {
				return Deny(SurroundingVote, fmt.Sprintf(
					"(source %d, target %d) would surround the signed (source %d, target %d)",
					source, target, a.source, a.target))
			}
		}
	}
	// The new vote is surrounded by a signed one with a larger target and a
	// smaller source. Honest validators sign increasing targets, so this range is
	// usually empty. (The watermark attestation cannot surround it: its target is
	// below this one's.)
	for _, a := range h.atts[hi:] {
		if a.source < source {
			return Deny(SurroundedVote, fmt.Sprintf(
				"(source %d, target %d) would be surrounded by the signed (source %d, target %d)",
				source, target, a.source, a.target))
		}
	}
	return Approve()
}
