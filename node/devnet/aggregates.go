package devnet

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/OffchainLabs/go-bitfield"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/phalanx-eth/phalanx/fsm/eth"
)

// bitListOf returns b as a bitlist, or nil if it has no length bit.
func bitListOf(b []byte) bitfield.Bitlist {
	if len(b) == 0 || b[len(b)-1] == 0 {
		return nil
	}
	return bitfield.Bitlist(b)
}

// aggregateCheck is what verifying an aggregate-and-proof needs.
type aggregateCheck struct {
	aggregator uint64
	committee  uint64
	data       *phase0.AttestationData
	bits       bitfield.Bitlist // over the committee
	aggSig     phase0.BLSSignature
	proof      phase0.BLSSignature
	msgRoot    [32]byte // hash tree root of the AggregateAndProof
	sig        phase0.BLSSignature
}

// verifyAggregateLocked checks an aggregate-and-proof (p2p validation of
// beacon_aggregate_and_proof) and pools the aggregate. It returns the
// reason for a refusal, or "".
func (d *Devnet) verifyAggregateLocked(a *aggregateCheck) string {
	data := a.data
	if data == nil || data.Source == nil || data.Target == nil {
		return "aggregate attestation data is incomplete"
	}
	slot := uint64(data.Slot)
	if why := d.checkAttestationSlotLocked(slot); why != "" {
		return why
	}
	if uint64(data.Target.Epoch) != d.spec.EpochAtSlot(slot) {
		return fmt.Sprintf("target epoch %d is not the epoch of slot %d", data.Target.Epoch, slot)
	}
	if _, known := d.c.blocks[eth.Root(data.BeaconBlockRoot)]; !known {
		return fmt.Sprintf("unknown beacon_block_root %s", eth.Root(data.BeaconBlockRoot))
	}
	members, err := d.c.committee(slot, a.committee)
	if err != nil {
		return err.Error()
	}
	if !slices.Contains(members, a.aggregator) {
		return fmt.Sprintf("aggregator %d is not in committee %d of slot %d", a.aggregator, a.committee, slot)
	}
	if a.bits == nil || a.bits.Len() != uint64(len(members)) {
		return fmt.Sprintf("aggregation_bits length does not match the committee size %d", len(members))
	}
	if a.bits.Count() == 0 {
		return "aggregate has no attesters"
	}
	if !d.verifySig(a.aggregator, d.spec.SelectionProofSigningRoot(slot), a.proof) {
		return fmt.Sprintf("invalid selection proof of validator %d", a.aggregator)
	}
	if !eth.IsAggregator(uint64(len(members)), a.proof, d.spec) {
		return fmt.Sprintf("validator %d is not an aggregator of committee %d at slot %d", a.aggregator, a.committee, slot)
	}
	if !d.verifySig(a.aggregator, d.spec.AggregateAndProofSigningRoot(slot, a.msgRoot), a.sig) {
		return fmt.Sprintf("invalid aggregate-and-proof signature of validator %d", a.aggregator)
	}
	var attesters []uint64
	for _, pos := range a.bits.BitIndices() {
		attesters = append(attesters, members[pos])
	}
	root, err := d.spec.AttestationSigningRoot(data)
	if err != nil {
		return err.Error()
	}
	if !d.verifyAggregateSig(attesters, root, a.aggSig) {
		return "invalid aggregate signature"
	}
	dataRoot, err := data.HashTreeRoot()
	if err != nil {
		return err.Error()
	}
	e := d.c.poolEntry(data, dataRoot)
	e.aggregates = append(e.aggregates, &poolAggregate{committee: a.committee, bits: a.bits, sig: a.aggSig})
	for _, v := range attesters {
		d.c.markLive(uint64(data.Target.Epoch), v)
	}
	if d.cluster[a.aggregator] {
		d.st.totals.ClusterAggregatesReceived++
	}
	return ""
}

func (d *Devnet) handleSubmitAggregatesV1(w http.ResponseWriter, r *http.Request) {
	if d.version >= spec.DataVersionElectra {
		writeError(w, http.StatusBadRequest, "Use /eth/v2/validator/aggregate_and_proofs from electra on")
		return
	}
	d.submitPhase0Aggregates(w, r)
}

func (d *Devnet) handleSubmitAggregatesV2(w http.ResponseWriter, r *http.Request) {
	if _, err := d.submissionVersion(r, true); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if d.version < spec.DataVersionElectra {
		d.submitPhase0Aggregates(w, r)
		return
	}
	var aggs []*electra.SignedAggregateAndProof
	if err := decodeJSON(r, &aggs); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d.mu.Lock()
	var failures []indexedError
	for i, s := range aggs {
		why := ""
		var check *aggregateCheck
		if s == nil || s.Message == nil || s.Message.Aggregate == nil {
			why = "empty aggregate and proof"
		} else {
			agg := s.Message.Aggregate
			committees := agg.CommitteeBits.BitIndices()
			switch {
			case len(committees) != 1:
				why = fmt.Sprintf("an aggregate covers exactly one committee, not %d", len(committees))
			case agg.Data != nil && agg.Data.Index != 0:
				why = fmt.Sprintf("data.index is %d; it must be 0 from electra on", agg.Data.Index)
			default:
				root, err := s.Message.HashTreeRoot()
				if err != nil {
					why = err.Error()
					break
				}
				check = &aggregateCheck{
					aggregator: uint64(s.Message.AggregatorIndex), committee: uint64(committees[0]), data: agg.Data,
					bits: agg.AggregationBits, aggSig: agg.Signature, proof: s.Message.SelectionProof,
					msgRoot: root, sig: s.Signature,
				}
			}
		}
		if why == "" {
			why = d.checkAggregatorIndex(check)
		}
		if why != "" {
			d.rejectAggregate(check, why)
			failures = append(failures, indexedError{i, why})
		}
	}
	d.mu.Unlock()
	finishPool(w, "aggregates", failures)
}

// checkAggregatorIndex bounds-checks the aggregator, then verifies.
func (d *Devnet) checkAggregatorIndex(a *aggregateCheck) string {
	if a.aggregator >= uint64(len(d.c.vals)) {
		return fmt.Sprintf("unknown aggregator_index %d", a.aggregator)
	}
	return d.verifyAggregateLocked(a)
}

// rejectAggregate records a refused aggregate.
func (d *Devnet) rejectAggregate(a *aggregateCheck, why string) {
	var slot uint64
	var who *uint64
	if a != nil {
		v := a.aggregator
		who = &v
		if a.data != nil {
			slot = uint64(a.data.Slot)
		}
	}
	d.st.reject(d.now(), "aggregate_and_proof", slot, who, why)
}

// submitPhase0Aggregates handles pre-Electra aggregate-and-proofs.
func (d *Devnet) submitPhase0Aggregates(w http.ResponseWriter, r *http.Request) {
	var aggs []*phase0.SignedAggregateAndProof
	if err := decodeJSON(r, &aggs); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d.mu.Lock()
	var failures []indexedError
	for i, s := range aggs {
		why := ""
		var check *aggregateCheck
		if s == nil || s.Message == nil || s.Message.Aggregate == nil || s.Message.Aggregate.Data == nil {
			why = "empty aggregate and proof"
		} else if root, err := s.Message.HashTreeRoot(); err != nil {
			why = err.Error()
		} else {
			agg := s.Message.Aggregate
			check = &aggregateCheck{
				aggregator: uint64(s.Message.AggregatorIndex), committee: uint64(agg.Data.Index), data: agg.Data,
				bits: agg.AggregationBits, aggSig: agg.Signature, proof: s.Message.SelectionProof,
				msgRoot: root, sig: s.Signature,
			}
			why = d.checkAggregatorIndex(check)
		}
		if why != "" {
			d.rejectAggregate(check, why)
			failures = append(failures, indexedError{i, why})
		}
	}
	d.mu.Unlock()
	finishPool(w, "aggregates", failures)
}

func (d *Devnet) handleSubmitContributions(w http.ResponseWriter, r *http.Request) {
	var cs []*altair.SignedContributionAndProof
	if err := decodeJSON(r, &cs); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d.mu.Lock()
	var failures []indexedError
	for i, s := range cs {
		if s == nil || s.Message == nil || s.Message.Contribution == nil {
			failures = append(failures, indexedError{i, "empty contribution and proof"})
			continue
		}
		if why := d.verifyContributionLocked(s); why != "" {
			v := uint64(s.Message.AggregatorIndex)
			d.st.reject(d.now(), "contribution_and_proof", uint64(s.Message.Contribution.Slot), &v, why)
			failures = append(failures, indexedError{i, why})
		}
	}
	d.mu.Unlock()
	finishPool(w, "contributions", failures)
}

// verifyContributionLocked checks a signed contribution-and-proof (p2p
// validation of sync_committee_contribution_and_proof).
func (d *Devnet) verifyContributionLocked(s *altair.SignedContributionAndProof) string {
	m := s.Message
	c := m.Contribution
	slot, sub, agg := uint64(c.Slot), c.SubcommitteeIndex, uint64(m.AggregatorIndex)
	if agg >= uint64(len(d.c.vals)) {
		return fmt.Sprintf("unknown aggregator_index %d", agg)
	}
	if !d.catchUpLocked(slot) {
		return fmt.Sprintf("slot %d is in the future", slot)
	}
	if slot+1 < d.c.currentSlot() {
		return fmt.Sprintf("slot %d is too old (current slot %d)", slot, d.c.currentSlot())
	}
	if sub >= d.spec.SyncCommitteeSubnetCount {
		return fmt.Sprintf("subcommittee_index %d is out of range", sub)
	}
	members, err := d.c.syncCommitteeForMessage(slot)
	if err != nil {
		return err.Error()
	}
	size := d.spec.SyncCommitteeSize / d.spec.SyncCommitteeSubnetCount
	subMembers := members[sub*size : (sub+1)*size]
	if !slices.Contains(subMembers, agg) {
		return fmt.Sprintf("aggregator %d is not in sync subcommittee %d", agg, sub)
	}
	if !d.verifySig(agg, d.spec.SyncSelectionProofSigningRoot(slot, sub), m.SelectionProof) {
		return fmt.Sprintf("invalid selection proof of validator %d", agg)
	}
	if !eth.IsSyncCommitteeAggregator(m.SelectionProof, d.spec) {
		return fmt.Sprintf("validator %d is not a sync aggregator at slot %d", agg, slot)
	}
	root, err := m.HashTreeRoot()
	if err != nil {
		return err.Error()
	}
	if !d.verifySig(agg, d.spec.ContributionAndProofSigningRoot(slot, root), s.Signature) {
		return fmt.Sprintf("invalid contribution-and-proof signature of validator %d", agg)
	}
	var signers []uint64
	for _, pos := range c.AggregationBits.BitIndices() {
		signers = append(signers, subMembers[pos])
	}
	if len(signers) == 0 {
		return "contribution has no participants"
	}
	if !d.verifyAggregateSig(signers, d.spec.SyncCommitteeMessageSigningRoot(slot, eth.Root(c.BeaconBlockRoot)), c.Signature) {
		return "invalid contribution signature"
	}
	if d.cluster[agg] {
		d.st.totals.ClusterContributionsReceived++
	}
	return ""
}
