package devnet

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"slices"

	apiv1bellatrix "github.com/attestantio/go-eth2-client/api/v1/bellatrix"
	apiv1capella "github.com/attestantio/go-eth2-client/api/v1/capella"
	apiv1deneb "github.com/attestantio/go-eth2-client/api/v1/deneb"
	apiv1electra "github.com/attestantio/go-eth2-client/api/v1/electra"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/capella"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/phalanx-eth/phalanx/fsm/eth"
)

// sszDecoder is a type with an SSZ decoder.
type sszDecoder interface{ UnmarshalSSZ([]byte) error }

// decodeInto decodes body as SSZ or JSON (by content type) into v.
func decodeInto(r *http.Request, body []byte, v any) error {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/octet-stream" {
		s, ok := v.(sszDecoder)
		if !ok {
			return fmt.Errorf("SSZ is not accepted for %T", v)
		}
		if err := s.UnmarshalSSZ(body); err != nil {
			return fmt.Errorf("invalid SSZ body: %w", err)
		}
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("invalid JSON body: %w", err)
	}
	return nil
}

// submissionVersion returns the consensus version of a submission: the
// header if present (required when required is set), the chain's otherwise.
func (d *Devnet) submissionVersion(r *http.Request, required bool) (spec.DataVersion, error) {
	v, present, err := consensusVersion(r)
	if err != nil {
		return v, err
	}
	if !present {
		if required {
			return v, fmt.Errorf("missing Eth-Consensus-Version header")
		}
		return d.version, nil
	}
	if v != d.version {
		return v, fmt.Errorf("Eth-Consensus-Version %s does not match the chain's fork %s", v, d.version)
	}
	return v, nil
}

func (d *Devnet) handleSubmitBlock(w http.ResponseWriter, r *http.Request) {
	version, err := d.submissionVersion(r, r.URL.Path == "/eth/v2/beacon/blocks")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	signed := &spec.VersionedSignedBeaconBlock{Version: version}
	switch version {
	case spec.DataVersionAltair:
		signed.Altair = &altair.SignedBeaconBlock{}
		err = decodeInto(r, body, signed.Altair)
	case spec.DataVersionBellatrix:
		signed.Bellatrix = &bellatrix.SignedBeaconBlock{}
		err = decodeInto(r, body, signed.Bellatrix)
	case spec.DataVersionCapella:
		signed.Capella = &capella.SignedBeaconBlock{}
		err = decodeInto(r, body, signed.Capella)
	case spec.DataVersionDeneb:
		c := &apiv1deneb.SignedBlockContents{}
		err = decodeInto(r, body, c)
		signed.Deneb = c.SignedBlock
	case spec.DataVersionElectra:
		c := &apiv1electra.SignedBlockContents{}
		err = decodeInto(r, body, c)
		signed.Electra = c.SignedBlock
	default:
		err = fmt.Errorf("%w: %s", errUnsupportedVersion, version)
	}
	if err == nil {
		if _, serr := signed.Slot(); serr != nil {
			err = fmt.Errorf("incomplete block: %w", serr)
		}
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d.submitSigned(w, signed)
}

func (d *Devnet) handleSubmitBlindedBlock(w http.ResponseWriter, r *http.Request) {
	version, err := d.submissionVersion(r, r.URL.Path == "/eth/v2/beacon/blinded_blocks")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var (
		msg interface{ HashTreeRoot() ([32]byte, error) }
		sig phase0.BLSSignature
	)
	switch version {
	case spec.DataVersionBellatrix:
		b := &apiv1bellatrix.SignedBlindedBeaconBlock{}
		if err = decodeInto(r, body, b); err == nil {
			msg, sig = b.Message, b.Signature
		}
	case spec.DataVersionCapella:
		b := &apiv1capella.SignedBlindedBeaconBlock{}
		if err = decodeInto(r, body, b); err == nil {
			msg, sig = b.Message, b.Signature
		}
	case spec.DataVersionDeneb:
		b := &apiv1deneb.SignedBlindedBeaconBlock{}
		if err = decodeInto(r, body, b); err == nil {
			msg, sig = b.Message, b.Signature
		}
	case spec.DataVersionElectra:
		b := &apiv1electra.SignedBlindedBeaconBlock{}
		if err = decodeInto(r, body, b); err == nil {
			msg, sig = b.Message, b.Signature
		}
	default:
		err = fmt.Errorf("%w: blinded %s blocks", errUnsupportedVersion, version)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	root, err := eth.BlockRoot(msg)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d.mu.Lock()
	b := d.produced[root]
	d.mu.Unlock()
	if b == nil {
		writeError(w, http.StatusBadRequest, "Unknown blinded block: this node only unblinds blocks it produced")
		return
	}
	signed, err := signProposal(b.proposal, sig)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d.submitSigned(w, signed)
}

// submitSigned verifies a cluster's signed block and imports it.
func (d *Devnet) submitSigned(w http.ResponseWriter, signed *spec.VersionedSignedBeaconBlock) {
	d.recordBlock(signed)
	d.mu.Lock()
	evs, slot, proposer, err := d.verifyBlockLocked(signed)
	if err != nil {
		d.st.reject(d.now(), "block", slot, proposer, err.Error())
		d.mu.Unlock()
		writeError(w, http.StatusBadRequest, "Invalid block: "+err.Error())
		return
	}
	d.mu.Unlock()
	d.events.publish(evs...)
	w.WriteHeader(http.StatusOK)
}

// verifyBlockLocked checks a submitted block against the chain and imports it.
func (d *Devnet) verifyBlockLocked(signed *spec.VersionedSignedBeaconBlock) ([]event, uint64, *uint64, error) {
	s, _ := signed.Slot()
	slot := uint64(s)
	pi, _ := signed.ProposerIndex()
	proposer := uint64(pi)
	var who *uint64
	if proposer < uint64(len(d.c.vals)) {
		who = &proposer
	}
	if slot == 0 || !d.catchUpLocked(slot) || slot != d.c.currentSlot() {
		return nil, slot, who, fmt.Errorf("slot %d is not the current slot %d", slot, d.c.currentSlot())
	}
	if d.st.slot(slot).Block != "" || d.c.head().slot >= slot {
		return nil, slot, who, fmt.Errorf("slot %d is closed: it has a block or passed its proposal deadline", slot)
	}
	want, err := d.c.proposer(slot)
	if err != nil {
		return nil, slot, who, err
	}
	if proposer != want {
		return nil, slot, who, fmt.Errorf("proposer_index %d is not the slot's proposer %d", proposer, want)
	}
	parent, _ := signed.ParentRoot()
	if eth.Root(parent) != d.c.head().root {
		return nil, slot, who, fmt.Errorf("parent_root %s is not the head %s", eth.Root(parent), d.c.head().root)
	}
	randao, err := signed.RandaoReveal()
	if err != nil {
		return nil, slot, who, err
	}
	if !d.verifySig(proposer, d.spec.RandaoSigningRoot(d.spec.EpochAtSlot(slot)), randao) {
		return nil, slot, who, fmt.Errorf("invalid randao_reveal")
	}
	root, err := signed.Root()
	if err != nil {
		return nil, slot, who, err
	}
	sig, err := blockSignature(signed)
	if err != nil {
		return nil, slot, who, err
	}
	if !d.verifySig(proposer, d.spec.BlockSigningRoot(slot, eth.Root(root)), sig) {
		return nil, slot, who, fmt.Errorf("invalid block signature")
	}
	b := d.produced[eth.Root(root)]
	if b == nil {
		// A block this node did not build: check its state root and every
		// attestation and the sync aggregate.
		if b, err = d.checkForeignBlockLocked(signed, slot); err != nil {
			return nil, slot, who, err
		}
	}
	evs, err := d.importLocked(signed, b, true)
	if err != nil {
		return nil, slot, who, err
	}
	d.log.Info("devnet imported cluster block", "slot", slot, "validator_index", proposer, "root", eth.Root(root).String())
	return evs, slot, who, nil
}

// checkForeignBlockLocked verifies the body of a block built elsewhere.
func (d *Devnet) checkForeignBlockLocked(signed *spec.VersionedSignedBeaconBlock, slot uint64) (*builtBlock, error) {
	bodyRoot, err := signed.BodyRoot()
	if err != nil {
		return nil, err
	}
	stateRoot, _ := signed.StateRoot()
	st := d.c.state(slot)
	if want := blockStateRoot(st.stateRoot, slot, eth.Root(bodyRoot)); eth.Root(stateRoot) != want {
		return nil, fmt.Errorf("state_root %s is not the post-state %s", eth.Root(stateRoot), want)
	}
	atts, err := d.c.onchainAttsOf(signed)
	if err != nil {
		return nil, err
	}
	epoch := d.spec.EpochAtSlot(slot)
	for i, a := range atts {
		target := uint64(a.data.Target.Epoch)
		if uint64(a.data.Slot)+1 > slot || (target != epoch && target+1 != epoch) || d.spec.EpochAtSlot(uint64(a.data.Slot)) != target {
			return nil, fmt.Errorf("attestation %d: slot %d / target epoch %d cannot be included at slot %d", i, a.data.Slot, target, slot)
		}
		vs, err := d.c.attesters(a)
		if err != nil {
			return nil, fmt.Errorf("attestation %d: %w", i, err)
		}
		root, err := d.spec.AttestationSigningRoot(a.data)
		if err != nil || !d.verifyAggregateSig(vs, root, a.sig) {
			return nil, fmt.Errorf("attestation %d: invalid aggregate signature", i)
		}
	}
	sa, err := signed.SyncAggregate()
	if err != nil {
		return nil, err
	}
	if sa.SyncCommitteeBits.Count() > 0 {
		members, err := d.c.syncCommitteeForMessage(slot - 1)
		if err != nil {
			return nil, err
		}
		var vs []uint64
		for _, pos := range sa.SyncCommitteeBits.BitIndices() {
			vs = append(vs, members[pos])
		}
		parent, _ := signed.ParentRoot()
		if !d.verifyAggregateSig(vs, d.spec.SyncCommitteeMessageSigningRoot(slot-1, eth.Root(parent)), sa.SyncCommitteeSignature) {
			return nil, fmt.Errorf("invalid sync aggregate signature")
		}
	}
	root, _ := signed.Root()
	eh, err := signed.ExecutionBlockHash()
	if err != nil {
		eh = phase0.Hash32(execHash(d.c.execHash, d.c.execNum+1))
	}
	return &builtBlock{root: eth.Root(root), bodyRoot: eth.Root(bodyRoot), stateRoot: eth.Root(stateRoot), execHash: eh}, nil
}

// verifySingleLocked checks one unaggregated attestation by attester in
// committee and pools it. It returns the reason for a refusal, or "".
func (d *Devnet) verifySingleLocked(data *phase0.AttestationData, committee uint64, attester *uint64, bits []byte, sig phase0.BLSSignature) (uint64, string) {
	if data == nil || data.Source == nil || data.Target == nil {
		return 0, "attestation data is incomplete"
	}
	slot := uint64(data.Slot)
	if why := d.checkAttestationSlotLocked(slot); why != "" {
		return slot, why
	}
	if uint64(data.Target.Epoch) != d.spec.EpochAtSlot(slot) {
		return slot, fmt.Sprintf("target epoch %d is not the epoch of slot %d", data.Target.Epoch, slot)
	}
	if _, known := d.c.blocks[eth.Root(data.BeaconBlockRoot)]; !known {
		return slot, fmt.Sprintf("unknown beacon_block_root %s", eth.Root(data.BeaconBlockRoot))
	}
	members, err := d.c.committee(slot, committee)
	if err != nil {
		return slot, err.Error()
	}
	if attester == nil {
		// Pre-Electra: the attester is the one bit set in aggregation_bits.
		bl := bitListOf(bits)
		if bl == nil || bl.Len() != uint64(len(members)) {
			return slot, fmt.Sprintf("aggregation_bits length does not match the committee size %d", len(members))
		}
		set := bl.BitIndices()
		if len(set) != 1 {
			return slot, fmt.Sprintf("an unaggregated attestation has exactly one bit set, not %d", len(set))
		}
		v := members[set[0]]
		attester = &v
	} else if !slices.Contains(members, *attester) {
		return slot, fmt.Sprintf("validator %d is not in committee %d of slot %d", *attester, committee, slot)
	}
	root, err := d.spec.AttestationSigningRoot(data)
	if err != nil {
		return slot, err.Error()
	}
	if !d.verifySig(*attester, root, sig) {
		return slot, fmt.Sprintf("invalid signature of validator %d", *attester)
	}
	dataRoot, err := data.HashTreeRoot()
	if err != nil {
		return slot, err.Error()
	}
	if d.c.addSingle(data, dataRoot, committee, *attester, sig) && d.cluster[*attester] {
		d.st.slot(slot).ClusterAttestationsReceived++
		d.st.totals.ClusterAttestationsReceived++
	}
	return slot, ""
}

func (d *Devnet) handleSubmitAttestationsV1(w http.ResponseWriter, r *http.Request) {
	if d.version >= spec.DataVersionElectra {
		writeError(w, http.StatusBadRequest, "Use /eth/v2/beacon/pool/attestations from electra on")
		return
	}
	d.submitPhase0Attestations(w, r)
}

func (d *Devnet) handleSubmitAttestationsV2(w http.ResponseWriter, r *http.Request) {
	if _, err := d.submissionVersion(r, true); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if d.version < spec.DataVersionElectra {
		d.submitPhase0Attestations(w, r)
		return
	}
	var atts []*electra.SingleAttestation
	if err := decodeJSON(r, &atts); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d.mu.Lock()
	var failures []indexedError
	for i, a := range atts {
		if a == nil {
			failures = append(failures, indexedError{i, "empty attestation"})
			continue
		}
		attester := uint64(a.AttesterIndex)
		d.recordAttestation(attester, a.Data, a.Signature)
		why := ""
		slot := uint64(0)
		switch {
		case attester >= uint64(len(d.c.vals)):
			why = fmt.Sprintf("unknown attester_index %d", attester)
		case a.Data != nil && a.Data.Index != 0:
			why = fmt.Sprintf("data.index is %d; it must be 0 from electra on", a.Data.Index)
		default:
			slot, why = d.verifySingleLocked(a.Data, uint64(a.CommitteeIndex), &attester, nil, a.Signature)
		}
		if why != "" {
			v := attester
			d.st.reject(d.now(), "attestation", slot, &v, why)
			failures = append(failures, indexedError{i, why})
		}
	}
	d.mu.Unlock()
	finishPool(w, "attestations", failures)
}

// submitPhase0Attestations handles a list of unaggregated phase0 attestations.
func (d *Devnet) submitPhase0Attestations(w http.ResponseWriter, r *http.Request) {
	var atts []*phase0.Attestation
	if err := decodeJSON(r, &atts); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d.mu.Lock()
	var failures []indexedError
	for i, a := range atts {
		if a == nil || a.Data == nil {
			failures = append(failures, indexedError{i, "empty attestation"})
			continue
		}
		slot, why := d.verifySingleLocked(a.Data, uint64(a.Data.Index), nil, a.AggregationBits, a.Signature)
		if why != "" {
			d.st.reject(d.now(), "attestation", slot, nil, why)
			failures = append(failures, indexedError{i, why})
		}
	}
	d.mu.Unlock()
	finishPool(w, "attestations", failures)
}

// finishPool answers a pool submission: 200, or 400 with the failures.
func finishPool(w http.ResponseWriter, what string, failures []indexedError) {
	if len(failures) > 0 {
		writeFailures(w, "Some "+what+" failed validation", failures)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (d *Devnet) handleSubmitSyncMessages(w http.ResponseWriter, r *http.Request) {
	var msgs []*altair.SyncCommitteeMessage
	if err := decodeJSON(r, &msgs); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d.mu.Lock()
	var failures []indexedError
	for i, m := range msgs {
		if m == nil {
			failures = append(failures, indexedError{i, "empty message"})
			continue
		}
		if why := d.acceptSyncMessageLocked(m); why != "" {
			v := uint64(m.ValidatorIndex)
			d.st.reject(d.now(), "sync_committee_message", uint64(m.Slot), &v, why)
			failures = append(failures, indexedError{i, why})
		}
	}
	d.mu.Unlock()
	finishPool(w, "sync committee messages", failures)
}

// acceptSyncMessageLocked verifies and stores one sync committee message.
func (d *Devnet) acceptSyncMessageLocked(m *altair.SyncCommitteeMessage) string {
	slot, v := uint64(m.Slot), uint64(m.ValidatorIndex)
	if !d.catchUpLocked(slot) {
		return fmt.Sprintf("slot %d is in the future", slot)
	}
	if slot+1 < d.c.currentSlot() {
		return fmt.Sprintf("slot %d is too old (current slot %d)", slot, d.c.currentSlot())
	}
	if v >= uint64(len(d.c.vals)) {
		return fmt.Sprintf("unknown validator_index %d", v)
	}
	members, err := d.c.syncCommitteeForMessage(slot)
	if err != nil {
		return err.Error()
	}
	if !slices.Contains(members, v) {
		return fmt.Sprintf("validator %d is not in the sync committee for slot %d", v, slot)
	}
	root := eth.Root(m.BeaconBlockRoot)
	if _, ok := d.c.blocks[root]; !ok {
		return fmt.Sprintf("unknown beacon_block_root %s", root)
	}
	if !d.verifySig(v, d.spec.SyncCommitteeMessageSigningRoot(slot, root), m.Signature) {
		return fmt.Sprintf("invalid signature of validator %d", v)
	}
	msgs := d.c.syncMsgs[slot]
	if msgs == nil {
		msgs = make(map[uint64]syncMessage)
		d.c.syncMsgs[slot] = msgs
	}
	if _, dup := msgs[v]; !dup && d.cluster[v] {
		d.st.slot(slot).ClusterSyncMessages++
		d.st.totals.ClusterSyncMessagesReceived++
	}
	msgs[v] = syncMessage{root: root, sig: m.Signature}
	return ""
}

func (d *Devnet) handleSubmitExit(w http.ResponseWriter, r *http.Request) {
	var exit phase0.SignedVoluntaryExit
	if err := decodeJSON(r, &exit); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if exit.Message == nil {
		writeError(w, http.StatusBadRequest, "Invalid voluntary exit: missing message")
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	v := uint64(exit.Message.ValidatorIndex)
	cur := d.spec.EpochAtSlot(d.c.currentSlot())
	why := ""
	switch {
	case v >= uint64(len(d.c.vals)):
		why = fmt.Sprintf("unknown validator_index %d", v)
	case uint64(exit.Message.Epoch) > cur:
		why = fmt.Sprintf("exit epoch %d is in the future (current epoch %d)", exit.Message.Epoch, cur)
	case !d.verifySig(v, d.spec.VoluntaryExitSigningRoot(exit.Message), exit.Signature):
		why = "invalid signature"
	}
	if why != "" {
		d.st.reject(d.now(), "voluntary_exit", d.c.currentSlot(), &v, why)
		writeError(w, http.StatusBadRequest, "Invalid voluntary exit: "+why)
		return
	}
	d.exits = append(d.exits, &exit)
	w.WriteHeader(http.StatusOK)
}

func (d *Devnet) handleGetExits(w http.ResponseWriter, _ *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := append([]*phase0.SignedVoluntaryExit{}, d.exits...)
	writeData(w, out)
}
