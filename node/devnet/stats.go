package devnet

import (
	"slices"
	"time"
)

// Block outcomes of a slot in SlotStats.Block.
const (
	blockProposed = "proposed"
	blockMissed   = "missed"
)

// recentSlots is how many slots the status report keeps.
const recentSlots = 64

// recentRejections is how many rejected submissions the status report keeps.
const recentRejections = 100

// Stats is the devnet's live status: the chain's progress and, per recent
// slot, what the cluster and the built-in validators did. It is served as
// JSON on GET /phalanx/devnet/v1/status.
type Stats struct {
	// Slot and Epoch are the chain's current slot and epoch.
	Slot  uint64 `json:"slot"`
	Epoch uint64 `json:"epoch"`
	// HeadSlot and HeadRoot identify the head block.
	HeadSlot uint64 `json:"head_slot"`
	HeadRoot string `json:"head_root"`
	// PreviousJustifiedEpoch, JustifiedEpoch and FinalizedEpoch are the
	// checkpoints' epochs in the head state.
	PreviousJustifiedEpoch uint64 `json:"previous_justified_epoch"`
	JustifiedEpoch         uint64 `json:"justified_epoch"`
	FinalizedEpoch         uint64 `json:"finalized_epoch"`
	// Validators is the number of validators; ClusterValidators how many of
	// them the cluster signs for.
	Validators        int `json:"validators"`
	ClusterValidators int `json:"cluster_validators"`
	// Totals counts since genesis.
	Totals Totals `json:"totals"`
	// Slots are the recent slots, oldest first.
	Slots []SlotStats `json:"slots"`
	// Rejections are the recent rejected submissions, oldest first.
	Rejections []Rejection `json:"rejections"`
}

// Totals are counters since genesis.
type Totals struct {
	BuiltinBlocks                int `json:"builtin_blocks"`
	ClusterBlocks                int `json:"cluster_blocks"`
	ClusterBlocksMissed          int `json:"cluster_blocks_missed"`
	ClusterAttestationsReceived  int `json:"cluster_attestations_received"`
	ClusterAttestationsIncluded  int `json:"cluster_attestations_included"`
	ClusterAggregatesReceived    int `json:"cluster_aggregates_received"`
	ClusterSyncMessagesReceived  int `json:"cluster_sync_messages_received"`
	ClusterContributionsReceived int `json:"cluster_contributions_received"`
	Rejected                     int `json:"rejected"`
}

// SlotStats is what happened in one slot.
type SlotStats struct {
	Slot uint64 `json:"slot"`
	// Proposer is the slot's proposer; ProposerIsCluster tells whether the
	// cluster or the built-in signer holds its key.
	Proposer          uint64 `json:"proposer"`
	ProposerIsCluster bool   `json:"proposer_is_cluster"`
	// Block is "proposed", "missed" (a cluster proposer's block did not come
	// by two thirds of the slot) or "" (not decided yet, or slot 0).
	Block     string `json:"block"`
	BlockRoot string `json:"block_root,omitempty"`
	// ClusterAttesters is how many cluster validators attest in this slot;
	// ClusterAttestationsReceived and ClusterAttestationsIncluded count
	// their valid attestations received through the API and included in
	// blocks so far.
	ClusterAttesters            int `json:"cluster_attesters"`
	ClusterAttestationsReceived int `json:"cluster_attestations_received"`
	ClusterAttestationsIncluded int `json:"cluster_attestations_included"`
	// SyncParticipants is the number of set bits in the sync aggregate of
	// this slot's block; ClusterSyncMessages counts valid sync committee
	// messages from cluster validators for this slot.
	SyncParticipants    int `json:"sync_participants"`
	ClusterSyncMessages int `json:"cluster_sync_messages"`
	// Rejected counts refused submissions about this slot.
	Rejected int `json:"rejected"`
}

// Rejection is one refused submission.
type Rejection struct {
	Time           time.Time `json:"time"`
	Kind           string    `json:"kind"`
	Slot           uint64    `json:"slot"`
	ValidatorIndex *uint64   `json:"validator_index,omitempty"`
	Reason         string    `json:"reason"`
}

// statsState is the mutable bookkeeping behind Stats; the Devnet's lock guards it.
type statsState struct {
	totals     Totals
	slots      map[uint64]*SlotStats
	rejections []Rejection
}

func newStatsState() statsState {
	return statsState{slots: make(map[uint64]*SlotStats)}
}

// slot returns the stats of slot, creating them.
func (s *statsState) slot(slot uint64) *SlotStats {
	ss := s.slots[slot]
	if ss == nil {
		ss = &SlotStats{Slot: slot}
		s.slots[slot] = ss
	}
	return ss
}

// setProposer records the slot's proposer.
func (ss *SlotStats) setProposer(v uint64, cluster bool) {
	ss.Proposer, ss.ProposerIsCluster = v, cluster
}

// prune forgets slots older than recentSlots before current.
func (s *statsState) prune(current uint64) {
	for k := range s.slots {
		if k+recentSlots <= current {
			delete(s.slots, k)
		}
	}
}

// reject records a refused submission.
func (s *statsState) reject(now time.Time, kind string, slot uint64, validator *uint64, reason string) {
	s.totals.Rejected++
	s.slot(slot).Rejected++
	s.rejections = append(s.rejections, Rejection{Time: now, Kind: kind, Slot: slot, ValidatorIndex: validator, Reason: reason})
	if n := len(s.rejections); n > recentRejections {
		s.rejections = slices.Delete(s.rejections, 0, n-recentRejections)
	}
}

// Stats returns a snapshot of the devnet's status.
func (d *Devnet) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.c
	cur := c.currentSlot()
	st := c.state(cur)
	out := Stats{
		Slot: cur, Epoch: d.spec.EpochAtSlot(cur),
		HeadSlot: st.head.slot, HeadRoot: st.head.root.String(),
		PreviousJustifiedEpoch: uint64(st.prevJustified.Epoch),
		JustifiedEpoch:         uint64(st.currJustified.Epoch),
		FinalizedEpoch:         uint64(st.finalized.Epoch),
		Validators:             len(c.vals),
		ClusterValidators:      len(d.cluster),
		Totals:                 d.st.totals,
		Rejections:             slices.Clone(d.st.rejections),
	}
	for _, ss := range d.st.slots {
		out.Slots = append(out.Slots, *ss)
	}
	slices.SortFunc(out.Slots, func(a, b SlotStats) int {
		switch {
		case a.Slot < b.Slot:
			return -1
		case a.Slot > b.Slot:
			return 1
		}
		return 0
	})
	if out.Slots == nil {
		out.Slots = []SlotStats{}
	}
	if out.Rejections == nil {
		out.Rejections = []Rejection{}
	}
	return out
}
