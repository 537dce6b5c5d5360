package devnet

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/OffchainLabs/go-bitfield"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/phalanx-eth/phalanx/fsm/eth"
	"github.com/phalanx-eth/phalanx/threshold"
)

// clockDisparity is how early a request for the next slot is served
// (MAXIMUM_GOSSIP_CLOCK_DISPARITY).
const clockDisparity = 500 * time.Millisecond

// catchUpLocked advances the chain to slot if the wall clock (with the
// allowed disparity) has reached it, and reports whether the chain is at or
// past slot.
func (d *Devnet) catchUpLocked(slot uint64) bool {
	if slot <= d.c.currentSlot() {
		return true
	}
	if d.now().Add(clockDisparity).Before(d.slotStart(slot)) {
		return false
	}
	evs := d.advanceLocked(slot)
	go d.events.publish(evs...)
	return true
}

// epochParam parses the {epoch} path value.
func epochParam(r *http.Request) (uint64, error) { return parseUint(r.PathValue("epoch"), "epoch") }

func (d *Devnet) handleAttesterDuties(w http.ResponseWriter, r *http.Request) {
	epoch, err := epochParam(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	indices, err := uintList(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	cur := d.spec.EpochAtSlot(d.c.currentSlot())
	if epoch > cur+1 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid epoch: %d is more than one epoch after the current epoch %d", epoch, cur))
		return
	}
	dd, err := d.c.dutiesFor(epoch)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	want := make(map[uint64]bool, len(indices))
	for _, i := range indices {
		if i >= uint64(len(d.c.vals)) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid validator index: %d is not a validator", i))
			return
		}
		want[i] = true
	}
	out := []*apiv1.AttesterDuty{}
	for s := d.spec.EpochStartSlot(epoch); s < d.spec.EpochStartSlot(epoch+1); s++ {
		for ci := range dd.perSlot {
			members := dd.committee(s%d.spec.SlotsPerEpoch, ci, d.spec.SlotsPerEpoch)
			for pos, v := range members {
				if !want[v] {
					continue
				}
				out = append(out, &apiv1.AttesterDuty{
					PubKey: d.c.vals[v].pubkey, Slot: phase0.Slot(s), ValidatorIndex: phase0.ValidatorIndex(v),
					CommitteeIndex: phase0.CommitteeIndex(ci), CommitteeLength: uint64(len(members)),
					CommitteesAtSlot: dd.perSlot, ValidatorCommitteeIndex: uint64(pos),
				})
			}
		}
	}
	dep := d.c.genesis.root
	if epoch > 0 {
		dep = d.dependentRoot(epoch - 1)
	}
	f := false
	writeJSON(w, http.StatusOK, dataResponse{ExecutionOptimistic: &f, DependentRoot: dep.String(), Data: out})
}

func (d *Devnet) handleProposerDuties(w http.ResponseWriter, r *http.Request) {
	epoch, err := epochParam(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.catchUpLocked(d.spec.EpochStartSlot(epoch))
	cur := d.spec.EpochAtSlot(d.c.currentSlot())
	if epoch > cur+1 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid epoch: %d is more than one epoch after the current epoch %d", epoch, cur))
		return
	}
	dd, err := d.c.dutiesFor(epoch)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	out := []*apiv1.ProposerDuty{}
	for i, p := range dd.proposers {
		s := d.spec.EpochStartSlot(epoch) + uint64(i)
		if s == 0 {
			continue // the genesis block has no proposer duty
		}
		out = append(out, &apiv1.ProposerDuty{PubKey: d.c.vals[p].pubkey, Slot: phase0.Slot(s), ValidatorIndex: phase0.ValidatorIndex(p)})
	}
	f := false
	writeJSON(w, http.StatusOK, dataResponse{ExecutionOptimistic: &f, DependentRoot: d.dependentRoot(epoch).String(), Data: out})
}

func (d *Devnet) handleSyncDuties(w http.ResponseWriter, r *http.Request) {
	epoch, err := epochParam(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	indices, err := uintList(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	period := d.spec.SyncCommitteePeriod(epoch)
	curPeriod := d.spec.SyncCommitteePeriod(d.spec.EpochAtSlot(d.c.currentSlot()))
	if period > curPeriod+1 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid epoch: %d is in sync committee period %d; only periods up to %d are known", epoch, period, curPeriod+1))
		return
	}
	members, err := d.c.syncCommittee(period)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	out := []*apiv1.SyncCommitteeDuty{}
	for _, v := range indices {
		if v >= uint64(len(d.c.vals)) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid validator index: %d is not a validator", v))
			return
		}
		var pos []phase0.CommitteeIndex
		for p, m := range members {
			if m == v {
				pos = append(pos, phase0.CommitteeIndex(p))
			}
		}
		if len(pos) > 0 {
			out = append(out, &apiv1.SyncCommitteeDuty{PubKey: d.c.vals[v].pubkey, ValidatorIndex: phase0.ValidatorIndex(v), ValidatorSyncCommitteeIndices: pos})
		}
	}
	f := false
	writeJSON(w, http.StatusOK, dataResponse{ExecutionOptimistic: &f, Data: out})
}

// checkAttestationSlotLocked reports why slot is not one an attestation may
// be about now, or "".
func (d *Devnet) checkAttestationSlotLocked(slot uint64) string {
	if !d.catchUpLocked(slot) {
		return fmt.Sprintf("slot %d is in the future (current slot %d)", slot, d.c.currentSlot())
	}
	if slot+2*d.spec.SlotsPerEpoch < d.c.currentSlot() {
		return fmt.Sprintf("slot %d is too old (current slot %d)", slot, d.c.currentSlot())
	}
	return ""
}

func (d *Devnet) handleAttestationData(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	slot, err := parseUint(q.Get("slot"), "slot")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	index, err := parseUint(q.Get("committee_index"), "committee_index")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if why := d.checkAttestationSlotLocked(slot); why != "" {
		writeError(w, http.StatusBadRequest, "Invalid slot: "+why)
		return
	}
	if _, err := d.c.committee(slot, index); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeData(w, d.c.attestationData(slot, index))
}

// aggregateQuery parses the aggregate_attestation query.
func aggregateQuery(r *http.Request, needIndex bool) (slot uint64, root eth.Root, index uint64, err error) {
	q := r.URL.Query()
	if slot, err = parseUint(q.Get("slot"), "slot"); err != nil {
		return
	}
	if root, err = parseRoot(q.Get("attestation_data_root")); err != nil {
		return
	}
	if needIndex {
		index, err = parseUint(q.Get("committee_index"), "committee_index")
	}
	return
}

// aggregateLocked returns the pool's aggregate for data root and committee.
func (d *Devnet) aggregateLocked(slot uint64, root eth.Root, committee uint64) (*poolEntry, bitfield.Bitlist, phase0.BLSSignature, string) {
	var sig phase0.BLSSignature
	e := d.c.pool[root]
	if e == nil || uint64(e.data.Slot) != slot {
		return nil, nil, sig, "No aggregate available for this attestation data"
	}
	if !d.aggSubs[slot][committee] {
		return nil, nil, sig, "No aggregate available: no aggregator subscribed to this committee"
	}
	bits, sig, ok, err := d.c.aggregateFor(e, committee, nil)
	if err != nil || !ok {
		return nil, nil, sig, "No aggregate available for this committee"
	}
	return e, bits, sig, ""
}

func (d *Devnet) handleAggregateAttestationV1(w http.ResponseWriter, r *http.Request) {
	slot, root, _, err := aggregateQuery(r, false)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.version >= spec.DataVersionElectra {
		writeError(w, http.StatusBadRequest, "Use /eth/v2/validator/aggregate_attestation from electra on")
		return
	}
	e := d.c.pool[root]
	if e == nil {
		writeError(w, http.StatusNotFound, "No aggregate available for this attestation data")
		return
	}
	e, bits, sig, why := d.aggregateLocked(slot, root, uint64(e.data.Index))
	if why != "" {
		writeError(w, http.StatusNotFound, why)
		return
	}
	writeData(w, &phase0.Attestation{AggregationBits: bits, Data: e.data, Signature: sig})
}

func (d *Devnet) handleAggregateAttestationV2(w http.ResponseWriter, r *http.Request) {
	slot, root, index, err := aggregateQuery(r, true)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	e, bits, sig, why := d.aggregateLocked(slot, root, index)
	if why != "" {
		writeError(w, http.StatusNotFound, why)
		return
	}
	if d.version < spec.DataVersionElectra {
		writeVersioned(w, d.version, nil, &phase0.Attestation{AggregationBits: bits, Data: e.data, Signature: sig})
		return
	}
	cb := bitfield.NewBitvector64()
	cb.SetBitAt(index, true)
	writeVersioned(w, d.version, nil, &electra.Attestation{AggregationBits: bits, Data: e.data, Signature: sig, CommitteeBits: cb})
}

// verifySig reports whether sig over root verifies under validator's key.
func (d *Devnet) verifySig(validator uint64, root eth.Root, sig phase0.BLSSignature) bool {
	s, err := threshold.SignatureFromBytes(sig[:])
	if err != nil {
		return false
	}
	return d.c.vals[validator].pk.Verify(root[:], s)
}

// verifyAggregateSig reports whether sig is the aggregate over root of the
// validators' signatures (a validator may appear more than once).
func (d *Devnet) verifyAggregateSig(validators []uint64, root eth.Root, sig phase0.BLSSignature) bool {
	s, err := threshold.SignatureFromBytes(sig[:])
	if err != nil || len(validators) == 0 {
		return false
	}
	pks := make([]*threshold.PublicKey, len(validators))
	for i, v := range validators {
		pks[i] = d.c.vals[v].pk
	}
	return threshold.FastAggregateVerify(pks, root[:], s)
}

func (d *Devnet) handleProduceBlock(w http.ResponseWriter, r *http.Request) {
	slot, err := parseUint(r.PathValue("slot"), "slot")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	q := r.URL.Query()
	var randao phase0.BLSSignature
	if err := randao.UnmarshalJSON([]byte(`"` + q.Get("randao_reveal") + `"`)); err != nil {
		writeError(w, http.StatusBadRequest, "Invalid randao_reveal: must be a 0x-prefixed 96-byte signature")
		return
	}
	var graffiti [32]byte
	if g := q.Get("graffiti"); g != "" {
		gr, err := parseRoot(g)
		if err != nil {
			writeError(w, http.StatusBadRequest, "Invalid graffiti: "+err.Error())
			return
		}
		graffiti = gr
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if slot == 0 || !d.catchUpLocked(slot) || slot != d.c.currentSlot() {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid slot: %d is not the current slot %d", slot, d.c.currentSlot()))
		return
	}
	if d.c.head().slot >= slot {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid slot: slot %d already has a block", slot))
		return
	}
	proposer, err := d.c.proposer(slot)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	_, skip := q["skip_randao_verification"]
	if !skip && !d.verifySig(proposer, d.spec.RandaoSigningRoot(d.spec.EpochAtSlot(slot)), randao) {
		d.st.reject(d.now(), "block_production", slot, &proposer, "invalid randao_reveal for the slot's proposer")
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid randao_reveal: not a signature of proposer %d for epoch %d", proposer, d.spec.EpochAtSlot(slot)))
		return
	}
	b, err := d.buildLocked(slot, proposer, randao, graffiti)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	d.produced[b.root] = b
	for root, pb := range d.produced {
		if pb.proposal != nil && root != b.root {
			if s, _ := pb.proposal.Slot(); uint64(s)+d.spec.SlotsPerEpoch < slot {
				delete(d.produced, root)
			}
		}
	}
	var data any
	switch d.version {
	case spec.DataVersionAltair:
		data = b.proposal.Altair
	case spec.DataVersionBellatrix:
		data = b.proposal.Bellatrix
	case spec.DataVersionCapella:
		data = b.proposal.Capella
	case spec.DataVersionDeneb:
		data = b.proposal.Deneb
	case spec.DataVersionElectra:
		data = b.proposal.Electra
	}
	h := w.Header()
	h.Set("Eth-Consensus-Version", d.version.String())
	h.Set("Eth-Execution-Payload-Blinded", "false")
	h.Set("Eth-Execution-Payload-Value", "0")
	h.Set("Eth-Consensus-Block-Value", "0")
	writeJSON(w, http.StatusOK, map[string]any{
		"version": d.version.String(), "execution_payload_blinded": false,
		"execution_payload_value": "0", "consensus_block_value": "0", "data": data,
	})
}

func (d *Devnet) handleCommitteeSubscriptions(w http.ResponseWriter, r *http.Request) {
	var subs []*apiv1.BeaconCommitteeSubscription
	if err := decodeJSON(r, &subs); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range subs {
		if s == nil {
			continue
		}
		if s.IsAggregator {
			m := d.aggSubs[uint64(s.Slot)]
			if m == nil {
				m = make(map[uint64]bool)
				d.aggSubs[uint64(s.Slot)] = m
			}
			m[uint64(s.CommitteeIndex)] = true
		}
	}
	cur := d.c.currentSlot()
	for s := range d.aggSubs {
		if s+2*d.spec.SlotsPerEpoch < cur {
			delete(d.aggSubs, s)
		}
	}
	w.WriteHeader(http.StatusOK)
}

func (d *Devnet) handleSyncSubscriptions(w http.ResponseWriter, r *http.Request) {
	var subs []*apiv1.SyncCommitteeSubscription
	if err := decodeJSON(r, &subs); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range subs {
		if s != nil {
			d.syncSubs[uint64(s.ValidatorIndex)] = uint64(s.UntilEpoch)
		}
	}
	w.WriteHeader(http.StatusOK)
}

func (d *Devnet) handleSyncContribution(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	slot, err := parseUint(q.Get("slot"), "slot")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	sub, err := parseUint(q.Get("subcommittee_index"), "subcommittee_index")
	if err != nil || sub >= d.spec.SyncCommitteeSubnetCount {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid subcommittee_index %q", q.Get("subcommittee_index")))
		return
	}
	root, err := parseRoot(q.Get("beacon_block_root"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	members, err := d.c.syncCommitteeForMessage(slot)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	size := d.spec.SyncCommitteeSize / d.spec.SyncCommitteeSubnetCount
	bits := bitfield.NewBitvector128()
	var sigs []*threshold.Signature
	msgs := d.c.syncMsgs[slot]
	for i := range size {
		v := members[sub*size+i]
		m, ok := msgs[v]
		if !ok || m.root != root {
			continue
		}
		s, err := threshold.SignatureFromBytes(m.sig[:])
		if err != nil {
			continue
		}
		bits.SetBitAt(i, true)
		sigs = append(sigs, s)
	}
	if len(sigs) == 0 {
		writeError(w, http.StatusNotFound, "No sync committee messages for this slot, subcommittee and block root")
		return
	}
	agg, err := threshold.AggregateSignatures(sigs)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	var sig phase0.BLSSignature
	copy(sig[:], agg.Bytes())
	writeData(w, &altair.SyncCommitteeContribution{
		Slot: phase0.Slot(slot), BeaconBlockRoot: phase0.Root(root), SubcommitteeIndex: sub,
		AggregationBits: bits, Signature: sig,
	})
}

func (d *Devnet) handlePrepareProposer(w http.ResponseWriter, r *http.Request) {
	var preps []*apiv1.ProposalPreparation
	if err := decodeJSON(r, &preps); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range preps {
		if p != nil {
			d.prepared[uint64(p.ValidatorIndex)] = p.FeeRecipient.String()
		}
	}
	w.WriteHeader(http.StatusOK)
}

func (d *Devnet) handleRegisterValidator(w http.ResponseWriter, r *http.Request) {
	var regs []*apiv1.SignedValidatorRegistration
	if err := decodeJSON(r, &regs); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var failures []indexedError
	for i, reg := range regs {
		if reg == nil || reg.Message == nil {
			failures = append(failures, indexedError{i, "empty registration"})
			continue
		}
		v, ok := d.c.byPubkey[reg.Message.Pubkey]
		if !ok {
			failures = append(failures, indexedError{i, "unknown validator public key"})
			continue
		}
		root, err := d.spec.ValidatorRegistrationSigningRoot(reg.Message)
		if err != nil || !d.verifySig(v, root, reg.Signature) {
			d.st.reject(d.now(), "validator_registration", d.c.currentSlot(), &v, "invalid signature")
			failures = append(failures, indexedError{i, "invalid signature"})
			continue
		}
		d.regs[reg.Message.Pubkey] = true
	}
	if len(failures) > 0 {
		writeFailures(w, "Some validator registrations failed", failures)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (d *Devnet) handleLiveness(w http.ResponseWriter, r *http.Request) {
	epoch, err := epochParam(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	indices, err := uintList(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	cur := d.spec.EpochAtSlot(d.c.currentSlot())
	if epoch > cur || epoch+1 < cur {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid epoch: liveness is known for epochs %d and %d only", max(cur, 1)-1, cur))
		return
	}
	out := make([]*apiv1.ValidatorLiveness, 0, len(indices))
	for _, i := range indices {
		if i >= uint64(len(d.c.vals)) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid validator index: %d is not a validator", i))
			return
		}
		out = append(out, &apiv1.ValidatorLiveness{Index: phase0.ValidatorIndex(i), IsLive: d.c.live[epoch][i]})
	}
	writeData(w, out)
}

// consensusVersion reads the Eth-Consensus-Version header.
func consensusVersion(r *http.Request) (spec.DataVersion, bool, error) {
	h := r.Header.Get("Eth-Consensus-Version")
	if h == "" {
		return spec.DataVersionUnknown, false, nil
	}
	var v spec.DataVersion
	if err := json.Unmarshal([]byte(strconv.Quote(h)), &v); err != nil {
		return v, true, fmt.Errorf("invalid Eth-Consensus-Version header %q", h)
	}
	return v, true, nil
}
