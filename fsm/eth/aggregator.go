package eth

import (
	"crypto/sha256"
	"encoding/binary"
)

// selectedBy reports whether the first 8 bytes of hash(proof), read as a
// little-endian uint64, are divisible by modulo.
func selectedBy(proof [96]byte, modulo uint64) bool {
	h := sha256.Sum256(proof[:])
	return binary.LittleEndian.Uint64(h[:8])%modulo == 0
}

// IsAggregator reports whether the attester whose slot selection proof (its
// signature over SelectionProofSigningRoot) is selectionProof aggregates for
// a committee of committeeLen members (is_aggregator).
func IsAggregator(committeeLen uint64, selectionProof [96]byte, s *Spec) bool {
	return selectedBy(selectionProof, max(1, committeeLen/s.TargetAggregatorsPerCommittee))
}

// IsSyncCommitteeAggregator reports whether the sync committee member whose
// selection proof (its signature over SyncSelectionProofSigningRoot) is
// selectionProof aggregates for its subcommittee
// (is_sync_committee_aggregator).
func IsSyncCommitteeAggregator(selectionProof [96]byte, s *Spec) bool {
	modulo := s.SyncCommitteeSize / s.SyncCommitteeSubnetCount / s.TargetAggregatorsPerSyncSubcommittee
	return selectedBy(selectionProof, max(1, modulo))
}
