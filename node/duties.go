package node

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/phalanx-eth/phalanx/cluster"
	"github.com/phalanx-eth/phalanx/fsm"
	"github.com/phalanx-eth/phalanx/fsm/eth"
)

// Deadlines, relative to the start of the duty's slot, after which a duty is no longer useful and is dropped.
func attestationDeadline(sc SlotClock, slot uint64) time.Time {
	return sc.SlotStart(slot + sc.SlotsPerEpoch)
}
func endOfSlot(sc SlotClock, slot uint64) time.Time { return sc.SlotStart(slot + 1) }

// attestedAt reports whether the cluster already committed an approved attestation for pk at slot (a leader
// that took over mid-slot does not propose it again).
func (s *Scheduler) attestedAt(pk [48]byte, slot uint64) bool {
	for _, r := range s.cl.Machine().History(slot, pk) {
		if r.Kind == fsm.DutyAttestation && r.Item.Verdict.Approved {
			return true
		}
	}
	return false
}

// attest signs and publishes the slot's attestations: one log entry per committee with every cluster
// validator of that committee.
// attest signs and publishes the slot's attestations, one entry per committee. queued, when not nil, is closed
// once every committee's entry is queued for the log (or given up).
func (s *Scheduler) attest(rs *runState, slot uint64, queued chan struct{}) {
	var closeOnce sync.Once
	allQueued := func() {
		if queued != nil {
			closeOnce.Do(func() { close(queued) })
		}
	}
	defer allQueued()
	epoch := rs.sc.Epoch(slot)
	e, err := s.duties(rs, epoch)
	if err != nil {
		s.taskErr(rs, "attestation duties", err)
		return
	}
	_, byIndex := s.indexed()
	committees := make(map[uint64][]*apiv1.AttesterDuty)
	for _, a := range e.attesters[slot] {
		if s.attestedAt(byIndex[uint64(a.ValidatorIndex)], slot) {
			continue
		}
		committees[uint64(a.CommitteeIndex)] = append(committees[uint64(a.CommitteeIndex)], a)
	}
	if len(committees) == 0 {
		return
	}
	version := dataVersion(rs.spec.ForkAtEpoch(epoch).Name)
	var (
		shared   *phase0.AttestationData
		sharedMu sync.Mutex
	)
	data := func(ci uint64) (*phase0.AttestationData, error) {
		if !isElectra(version) {
			return s.beacon.AttestationData(rs.ctx, slot, ci)
		}
		// From electra on AttestationData.index is 0 and the data is the same for every committee.
		sharedMu.Lock()
		defer sharedMu.Unlock()
		if shared != nil {
			return shared, nil
		}
		d, err := s.beacon.AttestationData(rs.ctx, slot, 0)
		if err == nil {
			shared = d
		}
		return d, err
	}
	var (
		wg      sync.WaitGroup
		pending atomic.Int64
	)
	pending.Store(int64(len(committees)))
	for ci, list := range committees {
		var once sync.Once
		oneQueued := func() {
			once.Do(func() {
				if pending.Add(-1) == 0 {
					allQueued()
				}
			})
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer oneQueued()
			s.attestCommittee(cluster.WithQueued(rs.ctx, oneQueued), rs, slot, epoch, ci, list, version, data, byIndex)
		}()
	}
	wg.Wait()
}

func (s *Scheduler) attestCommittee(ctx context.Context, rs *runState, slot, epoch, ci uint64, list []*apiv1.AttesterDuty, version spec.DataVersion,
	data func(uint64) (*phase0.AttestationData, error), byIndex map[uint64][48]byte) {
	ad, err := data(ci)
	if err != nil {
		s.reports.update(slot, epoch, fsm.DutyAttestation, func(c *DutyCounts) {
			c.Failed += len(list)
			c.reason("attestation data for committee %d: %v", ci, err)
		})
		s.taskErr(rs, "attestation data", err)
		return
	}
	if s.late(slot, epoch, fsm.DutyAttestation, len(list), attestationDeadline(rs.sc, slot)) {
		return
	}
	raw, err := ad.MarshalSSZ()
	if err != nil {
		s.taskErr(rs, "encode attestation data", err)
		return
	}
	d := &fsm.Duty{Kind: fsm.DutyAttestation, Slot: slot, Epoch: uint64(ad.Target.Epoch), Data: raw}
	byVal := make(map[uint64]*apiv1.AttesterDuty, len(list))
	for _, a := range list {
		byVal[uint64(a.ValidatorIndex)] = a
		d.Items = append(d.Items, fsm.DutyItem{Pubkey: byIndex[uint64(a.ValidatorIndex)], ValidatorIndex: uint64(a.ValidatorIndex)})
	}
	sortItems(d.Items)
	out, err := s.signedCtx(ctx, rs, d)
	if err != nil {
		s.taskErr(rs, "attestation", err)
		return
	}
	if s.late(slot, epoch, fsm.DutyAttestation, len(d.Items), attestationDeadline(rs.sc, slot)) {
		return
	}
	var atts []*spec.VersionedAttestation
	for i, it := range d.Items {
		sg, ok := sig(out, i)
		if !ok {
			continue
		}
		a := byVal[it.ValidatorIndex]
		att, err := buildAttestation(version, ad, uint64(a.CommitteeIndex), a.CommitteeLength, a.ValidatorCommitteeIndex, it.ValidatorIndex, sg)
		if err != nil {
			s.taskErr(rs, "build attestation", err)
			continue
		}
		atts = append(atts, att)
	}
	if len(atts) == 0 {
		return
	}
	err = s.beacon.SubmitAttestations(rs.ctx, atts)
	s.published(d, len(atts), err)
	if err == nil {
		s.log.Debug("attestations published", "slot", slot, "committee_index", ci, "count", len(atts), "log_index", out.Index)
	}
}

// aggregate signs and publishes the aggregate-and-proofs of the slot's aggregators.
func (s *Scheduler) aggregate(rs *runState, slot uint64) {
	epoch := rs.sc.Epoch(slot)
	e, err := s.duties(rs, epoch)
	if err != nil {
		s.taskErr(rs, "aggregation duties", err)
		return
	}
	aggs := e.aggregators[slot]
	if len(aggs) == 0 {
		return
	}
	version := dataVersion(rs.spec.ForkAtEpoch(epoch).Name)
	_, byIndex := s.indexed()
	ad, err := s.beacon.AttestationData(rs.ctx, slot, 0)
	if err != nil {
		s.taskErr(rs, "attestation data for aggregation", err)
		return
	}
	committees := make(map[uint64]*apiv1.AttesterDuty)
	for _, a := range e.attesters[slot] {
		if _, ok := aggs[uint64(a.ValidatorIndex)]; ok {
			committees[uint64(a.ValidatorIndex)] = a
		}
	}
	d := &fsm.Duty{Kind: fsm.DutyAggregateAndProof, Slot: slot, Epoch: epoch}
	msgs := make(map[uint64]*aggregateAndProof)
	cache := make(map[uint64]*spec.VersionedAttestation)
	for vi, a := range committees {
		ci := uint64(a.CommitteeIndex)
		data := *ad
		if !isElectra(version) {
			data.Index = phase0.CommitteeIndex(ci)
		}
		agg, ok := cache[ci]
		if !ok {
			root, err := data.HashTreeRoot()
			if err != nil {
				continue
			}
			agg, err = s.beacon.AggregateAttestation(rs.ctx, slot, root, ci)
			if err != nil {
				s.reports.update(slot, epoch, fsm.DutyAggregateAndProof, func(c *DutyCounts) {
					c.Failed++
					c.reason("aggregate of committee %d: %v", ci, err)
				})
				continue
			}
			cache[ci] = agg
		}
		m, err := newAggregateAndProof(agg, vi, aggs[vi])
		if err != nil {
			continue
		}
		root, err := m.root()
		if err != nil {
			continue
		}
		msgs[vi] = m
		d.Items = append(d.Items, fsm.DutyItem{Pubkey: byIndex[vi], ValidatorIndex: vi, Root: root})
	}
	if len(d.Items) == 0 || s.late(slot, epoch, d.Kind, len(d.Items), endOfSlot(rs.sc, slot)) {
		return
	}
	sortItems(d.Items)
	out, err := s.signed(rs, d)
	if err != nil {
		s.taskErr(rs, "aggregate and proof", err)
		return
	}
	var signed []*spec.VersionedSignedAggregateAndProof
	for i, it := range d.Items {
		if sg, ok := sig(out, i); ok {
			signed = append(signed, msgs[it.ValidatorIndex].signed(sg))
		}
	}
	if len(signed) > 0 {
		s.published(d, len(signed), s.beacon.SubmitAggregateAttestations(rs.ctx, signed))
	}
}

// propose runs a block proposal: RANDAO reveal through the log, produce block v3, the proposal entry with the
// block header, then publication of the full or blinded block.
func (s *Scheduler) propose(rs *runState, slot uint64) {
	epoch := rs.sc.Epoch(slot)
	e, err := s.duties(rs, epoch)
	if err != nil {
		s.taskErr(rs, "proposer duties", err)
		return
	}
	pd, ok := e.proposers[slot]
	if !ok {
		return
	}
	_, byIndex := s.indexed()
	vi := uint64(pd.ValidatorIndex)
	pk := byIndex[vi]
	item := fsm.DutyItem{Pubkey: pk, ValidatorIndex: vi}
	rd := &fsm.Duty{Kind: fsm.DutyRandao, Slot: slot, Epoch: epoch, Items: []fsm.DutyItem{item}}
	if s.late(slot, epoch, fsm.DutyProposal, 1, endOfSlot(rs.sc, slot)) {
		return
	}
	out, err := s.signed(rs, rd)
	if err != nil {
		s.taskErr(rs, "randao reveal", err)
		return
	}
	randao, ok := sig(out, 0)
	if !ok {
		return
	}
	prop, err := s.beacon.Proposal(rs.ctx, slot, randao, s.cfg.Graffiti)
	if err != nil {
		s.reports.update(slot, epoch, fsm.DutyProposal, func(c *DutyCounts) {
			c.Failed++
			c.reason("produce block: %v", err)
		})
		s.taskErr(rs, "produce block", err)
		return
	}
	hdr, err := proposalHeader(prop)
	if err != nil {
		s.taskErr(rs, "block header", err)
		return
	}
	if uint64(hdr.Slot) != slot || uint64(hdr.ProposerIndex) != vi {
		s.taskErr(rs, "produce block", fmt.Errorf("beacon node returned a block for slot %d proposer %d; asked for slot %d proposer %d", hdr.Slot, hdr.ProposerIndex, slot, vi))
		return
	}
	raw, err := hdr.MarshalSSZ()
	if err != nil {
		s.taskErr(rs, "encode block header", err)
		return
	}
	kind := fsm.DutyProposal
	if prop.Blinded {
		kind = fsm.DutyBlindedProposal
	}
	pdut := &fsm.Duty{Kind: kind, Slot: slot, Epoch: epoch, Data: raw, Items: []fsm.DutyItem{item}}
	if s.late(slot, epoch, kind, 1, endOfSlot(rs.sc, slot)) {
		return
	}
	out, err = s.signed(rs, pdut)
	if err != nil {
		s.taskErr(rs, "block proposal", err)
		return
	}
	bs, ok := sig(out, 0)
	if !ok {
		return
	}
	if prop.Blinded {
		sp, err := signedBlindedProposal(prop, bs)
		if err == nil {
			err = s.beacon.SubmitBlindedProposal(rs.ctx, sp)
		}
		s.published(pdut, 1, err)
	} else {
		sp, err := signedProposal(prop, bs)
		if err == nil {
			err = s.beacon.SubmitProposal(rs.ctx, sp)
		}
		s.published(pdut, 1, err)
	}
	s.log.Info("block proposed", "slot", slot, "validator_index", vi, "blinded", prop.Blinded, "log_index", out.Index)
}

// syncMember is one (validator, subcommittee) pair of the sync committee.
type syncMember struct {
	validator    uint64
	subcommittee uint64
}

// syncMembers lists the epoch's cluster sync committee members per subcommittee.
func (s *Scheduler) syncMembers(rs *runState, e *epochDuties) []syncMember {
	size := rs.spec.SyncCommitteeSize / rs.spec.SyncCommitteeSubnetCount
	seen := make(map[syncMember]bool)
	var out []syncMember
	for _, d := range e.sync {
		for _, idx := range d.ValidatorSyncCommitteeIndices {
			m := syncMember{validator: uint64(d.ValidatorIndex), subcommittee: uint64(idx) / size}
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].validator != out[j].validator {
			return out[i].validator < out[j].validator
		}
		return out[i].subcommittee < out[j].subcommittee
	})
	return out
}

// syncMessages signs and publishes the slot's sync committee messages (one entry for every member), and the
// sync selection proofs that decide who aggregates contributions.
// syncMessages signs and publishes the slot's sync-committee messages. When attQueued is not nil it waits for
// it (at most a sixth of a slot) before proposing, so that the slot's attestations are signed first.
func (s *Scheduler) syncMessages(rs *runState, slot uint64, attQueued <-chan struct{}) {
	epoch := rs.sc.Epoch(slot)
	e, err := s.duties(rs, epoch)
	if err != nil || len(e.sync) == 0 {
		return
	}
	_, byIndex := s.indexed()
	root, err := s.beacon.BlockRoot(rs.ctx, "head")
	if err != nil {
		s.taskErr(rs, "head block root", err)
		return
	}
	d := &fsm.Duty{Kind: fsm.DutySyncCommitteeMessage, Slot: slot, Epoch: epoch, Data: root[:]}
	for _, sd := range e.sync {
		vi := uint64(sd.ValidatorIndex)
		d.Items = append(d.Items, fsm.DutyItem{Pubkey: byIndex[vi], ValidatorIndex: vi})
	}
	sortItems(d.Items)
	if attQueued != nil {
		select {
		case <-attQueued:
		case <-s.clock.After(rs.sc.SlotDuration / 6):
		case <-rs.ctx.Done():
			return
		}
	}
	if s.late(slot, epoch, d.Kind, len(d.Items), endOfSlot(rs.sc, slot)) {
		return
	}
	out, err := s.signed(rs, d)
	if err != nil {
		s.taskErr(rs, "sync committee message", err)
		return
	}
	var msgs []*altair.SyncCommitteeMessage
	for i, it := range d.Items {
		if sg, ok := sig(out, i); ok {
			msgs = append(msgs, &altair.SyncCommitteeMessage{Slot: phase0.Slot(slot), BeaconBlockRoot: root,
				ValidatorIndex: phase0.ValidatorIndex(it.ValidatorIndex), Signature: sg})
		}
	}
	if len(msgs) > 0 {
		s.published(d, len(msgs), s.beacon.SubmitSyncCommitteeMessages(rs.ctx, msgs))
	}
}

// syncSelections signs the slot's sync selection proofs and returns the members selected to aggregate, with
// their proofs. A validator may sit in several subcommittees; each entry lists it once, so members are
// spread over as many entries as needed.
func (s *Scheduler) syncSelections(rs *runState, slot uint64, members []syncMember) map[syncMember][96]byte {
	epoch := rs.sc.Epoch(slot)
	_, byIndex := s.indexed()
	var rounds [][]syncMember
	for _, m := range members {
		placed := false
		for r := range rounds {
			dup := false
			for _, o := range rounds[r] {
				if o.validator == m.validator {
					dup = true
					break
				}
			}
			if !dup {
				rounds[r] = append(rounds[r], m)
				placed = true
				break
			}
		}
		if !placed {
			rounds = append(rounds, []syncMember{m})
		}
	}
	out := make(map[syncMember][96]byte)
	for _, round := range rounds {
		d := &fsm.Duty{Kind: fsm.DutySyncSelectionProof, Slot: slot, Epoch: epoch}
		for _, m := range round {
			d.Items = append(d.Items, fsm.DutyItem{Pubkey: byIndex[m.validator], ValidatorIndex: m.validator, Aux: m.subcommittee})
		}
		res, err := s.signed(rs, d)
		if err != nil {
			s.taskErr(rs, "sync selection proofs", err)
			continue
		}
		for i, m := range round {
			if p, ok := sig(res, i); ok && eth.IsSyncCommitteeAggregator(p, rs.spec) {
				out[m] = p
			}
		}
	}
	return out
}

// contributions signs and publishes the sync committee contributions of the slot's selected aggregators.
func (s *Scheduler) contributions(rs *runState, slot uint64) {
	epoch := rs.sc.Epoch(slot)
	e, err := s.duties(rs, epoch)
	if err != nil || len(e.sync) == 0 {
		return
	}
	aggs := s.syncSelections(rs, slot, s.syncMembers(rs, e))
	if len(aggs) == 0 {
		return
	}
	_, byIndex := s.indexed()
	root, err := s.beacon.BlockRoot(rs.ctx, "head")
	if err != nil {
		s.taskErr(rs, "head block root", err)
		return
	}
	type msg struct {
		m  syncMember
		cp *altair.ContributionAndProof
	}
	var all []msg
	for m, proof := range aggs {
		c, err := s.beacon.SyncCommitteeContribution(rs.ctx, slot, m.subcommittee, root)
		if err != nil {
			if !errors.Is(err, ErrNotSupported) {
				s.taskErr(rs, "sync committee contribution", err)
			}
			continue
		}
		all = append(all, msg{m: m, cp: &altair.ContributionAndProof{AggregatorIndex: phase0.ValidatorIndex(m.validator), Contribution: c, SelectionProof: proof}})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].m.validator != all[j].m.validator {
			return all[i].m.validator < all[j].m.validator
		}
		return all[i].m.subcommittee < all[j].m.subcommittee
	})
	// One entry per round so that no entry lists a validator twice.
	for len(all) > 0 {
		d := &fsm.Duty{Kind: fsm.DutyContributionAndProof, Slot: slot, Epoch: epoch}
		var round, rest []msg
		seen := make(map[uint64]bool)
		for _, x := range all {
			if seen[x.m.validator] {
				rest = append(rest, x)
				continue
			}
			r, err := x.cp.HashTreeRoot()
			if err != nil {
				continue
			}
			seen[x.m.validator] = true
			round = append(round, x)
			d.Items = append(d.Items, fsm.DutyItem{Pubkey: byIndex[x.m.validator], ValidatorIndex: x.m.validator, Root: r})
		}
		all = rest
		if len(d.Items) == 0 || s.late(slot, epoch, d.Kind, len(d.Items), endOfSlot(rs.sc, slot)) {
			continue
		}
		out, err := s.signed(rs, d)
		if err != nil {
			s.taskErr(rs, "contribution and proof", err)
			continue
		}
		var signed []*altair.SignedContributionAndProof
		for i, x := range round {
			if sg, ok := sig(out, i); ok {
				signed = append(signed, &altair.SignedContributionAndProof{Message: x.cp, Signature: sg})
			}
		}
		if len(signed) > 0 {
			s.published(d, len(signed), s.beacon.SubmitSyncCommitteeContributions(rs.ctx, signed))
		}
	}
}

// register signs and submits builder validator registrations once per epoch; a beacon node that does not
// serve the endpoint turns them off quietly.
func (s *Scheduler) register(rs *runState, epoch uint64) {
	s.stateMu.Lock()
	off := s.regDisabled
	s.stateMu.Unlock()
	if off {
		return
	}
	indices, byIndex := s.indexed()
	if len(indices) == 0 {
		return
	}
	slot := rs.sc.EpochStart(epoch)
	ts := rs.sc.SlotStart(slot)
	d := &fsm.Duty{Kind: fsm.DutyValidatorRegistration, Slot: slot, Epoch: epoch}
	regs := make([]*apiv1.ValidatorRegistration, len(indices))
	for i, vi := range indices {
		regs[i] = &apiv1.ValidatorRegistration{FeeRecipient: bellatrix.ExecutionAddress(s.cfg.FeeRecipient), GasLimit: s.cfg.GasLimit,
			Timestamp: ts, Pubkey: byIndex[vi]}
		root, err := regs[i].HashTreeRoot()
		if err != nil {
			s.taskErr(rs, "validator registration root", err)
			return
		}
		d.Items = append(d.Items, fsm.DutyItem{Pubkey: byIndex[vi], ValidatorIndex: vi, Root: root})
	}
	out, err := s.signed(rs, d)
	if err != nil {
		s.taskErr(rs, "validator registrations", err)
		return
	}
	var signed []*api.VersionedSignedValidatorRegistration
	for i := range d.Items {
		if sg, ok := sig(out, i); ok {
			signed = append(signed, &api.VersionedSignedValidatorRegistration{Version: spec.BuilderVersionV1,
				V1: &apiv1.SignedValidatorRegistration{Message: regs[i], Signature: sg}})
		}
	}
	if len(signed) == 0 {
		return
	}
	err = s.beacon.SubmitValidatorRegistrations(rs.ctx, signed)
	if errors.Is(err, ErrNotSupported) {
		s.stateMu.Lock()
		s.regDisabled = true
		s.stateMu.Unlock()
		s.log.Debug("beacon node does not take validator registrations; not sending them again", "err", err)
		return
	}
	s.published(d, len(signed), err)
}

// Exit signs a voluntary exit for the validator with group public key pubkey at the current epoch and
// publishes it. Only the leader's running scheduler can do it.
func (s *Scheduler) Exit(ctx context.Context, pubkey [48]byte) error {
	s.runMu.Lock()
	rctx := s.runCtx
	s.runMu.Unlock()
	if rctx == nil || !s.Running() {
		return ErrNotRunning
	}
	v, ok := s.cl.Machine().Validator(pubkey)
	if !ok {
		return fmt.Errorf("voluntary exit: validator %s is not registered", shortHex(pubkey[:]))
	}
	if v.ValidatorIndex == fsm.UnknownValidatorIndex {
		return fmt.Errorf("voluntary exit: validator %s has no beacon index yet", shortHex(pubkey[:]))
	}
	spec, ok := s.cl.Machine().Spec()
	if !ok {
		return fmt.Errorf("voluntary exit: %w", fsm.ErrNoChainConfig)
	}
	sc := NewSlotClock(spec)
	slot, _ := sc.SlotAt(s.clock.Now())
	epoch := sc.Epoch(slot)
	d := &fsm.Duty{Kind: fsm.DutyVoluntaryExit, Slot: slot, Epoch: epoch,
		Items: []fsm.DutyItem{{Pubkey: pubkey, ValidatorIndex: v.ValidatorIndex}}}
	rs := &runState{ctx: ctx, cancel: func(error) {}, spec: spec, sc: sc}
	out, err := s.signed(rs, d)
	if err != nil {
		return fmt.Errorf("voluntary exit: %w", err)
	}
	sg, ok := sig(out, 0)
	if !ok {
		it := out.Result.Items[0]
		return fmt.Errorf("voluntary exit of validator %d not signed: %s %s", v.ValidatorIndex, fsm.ReasonName(it.Verdict.Reason), it.Verdict.Detail)
	}
	exit := &phase0.SignedVoluntaryExit{Message: &phase0.VoluntaryExit{Epoch: phase0.Epoch(epoch), ValidatorIndex: phase0.ValidatorIndex(v.ValidatorIndex)}, Signature: sg}
	err = s.beacon.SubmitVoluntaryExit(ctx, exit)
	s.published(d, 1, err)
	if err != nil {
		return fmt.Errorf("voluntary exit: %w", err)
	}
	s.log.Info("voluntary exit published", "validator_index", v.ValidatorIndex, "epoch", epoch, "log_index", out.Index)
	return nil
}

// --- after an election ---

// RecoverFilter selects the committed duties a new leader rebuilds and publishes again: attestations and
// sync committee messages that are still useful. It keeps each selected duty so that Recovered can rebuild
// the message. Use it with cluster.WithRecoverFilter.
func (s *Scheduler) RecoverFilter(d *fsm.Duty) bool {
	spec, ok := s.cl.Machine().Spec()
	if !ok {
		return false
	}
	sc := NewSlotClock(spec)
	now := s.clock.Now()
	var root eth.Root
	switch d.Kind {
	case fsm.DutyAttestation:
		if now.After(attestationDeadline(sc, d.Slot)) {
			return false
		}
		var ad phase0.AttestationData
		if ad.UnmarshalSSZ(d.Data) != nil {
			return false
		}
		r, err := spec.AttestationSigningRoot(&ad)
		if err != nil {
			return false
		}
		root = r
	case fsm.DutySyncCommitteeMessage:
		if now.After(endOfSlot(sc, d.Slot)) || len(d.Data) != 32 {
			return false
		}
		root = spec.SyncCommitteeMessageSigningRoot(d.Slot, eth.Root(d.Data))
	default:
		return false
	}
	s.stateMu.Lock()
	s.stash[root] = d
	s.stateMu.Unlock()
	return true
}

// Recovered publishes a duty a new leader rebuilt after an election (see cluster.WithRecovered).
// Re-publishing a message the previous leader already sent is harmless.
func (s *Scheduler) Recovered(out *cluster.Outcome) {
	if out == nil || out.Result == nil || len(out.Result.Items) == 0 {
		return
	}
	s.stateMu.Lock()
	d := s.stash[out.Result.Items[0].SigningRoot]
	delete(s.stash, out.Result.Items[0].SigningRoot)
	s.stateMu.Unlock()
	if d == nil || len(d.Items) != len(out.Result.Items) {
		return
	}
	for i := range d.Items {
		if d.Items[i].Pubkey != out.Result.Items[i].Pubkey {
			return
		}
	}
	spec, ok := s.cl.Machine().Spec()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(spec.SecondsPerSlot)*time.Second)
	defer cancel()
	rs := &runState{ctx: ctx, cancel: func(error) {}, spec: spec, sc: NewSlotClock(spec)}
	switch d.Kind {
	case fsm.DutyAttestation:
		s.republishAttestations(rs, d, out)
	case fsm.DutySyncCommitteeMessage:
		var root phase0.Root
		copy(root[:], d.Data)
		var msgs []*altair.SyncCommitteeMessage
		for i, it := range d.Items {
			if sg, ok := sig(out, i); ok {
				msgs = append(msgs, &altair.SyncCommitteeMessage{Slot: phase0.Slot(d.Slot), BeaconBlockRoot: root,
					ValidatorIndex: phase0.ValidatorIndex(it.ValidatorIndex), Signature: sg})
			}
		}
		if len(msgs) > 0 {
			s.published(d, len(msgs), s.beacon.SubmitSyncCommitteeMessages(ctx, msgs))
		}
	}
}

func (s *Scheduler) republishAttestations(rs *runState, d *fsm.Duty, out *cluster.Outcome) {
	var ad phase0.AttestationData
	if err := ad.UnmarshalSSZ(d.Data); err != nil {
		return
	}
	epoch := rs.sc.Epoch(d.Slot)
	var indices []uint64
	for _, it := range d.Items {
		indices = append(indices, it.ValidatorIndex)
	}
	duties, err := s.beacon.AttesterDuties(rs.ctx, epoch, indices)
	if err != nil {
		s.log.Warn("recovered attestations: attester duties", "slot", d.Slot, "err", err)
		return
	}
	byVal := make(map[uint64]*apiv1.AttesterDuty)
	for _, a := range duties {
		if a != nil && uint64(a.Slot) == d.Slot {
			byVal[uint64(a.ValidatorIndex)] = a
		}
	}
	version := dataVersion(rs.spec.ForkAtEpoch(epoch).Name)
	var atts []*spec.VersionedAttestation
	for i, it := range d.Items {
		sg, ok := sig(out, i)
		a := byVal[it.ValidatorIndex]
		if !ok || a == nil {
			continue
		}
		att, err := buildAttestation(version, &ad, uint64(a.CommitteeIndex), a.CommitteeLength, a.ValidatorCommitteeIndex, it.ValidatorIndex, sg)
		if err == nil {
			atts = append(atts, att)
		}
	}
	if len(atts) == 0 {
		return
	}
	err = s.beacon.SubmitAttestations(rs.ctx, atts)
	s.published(d, len(atts), err)
	if err == nil {
		s.log.Info("re-published attestations rebuilt after the election", "slot", d.Slot, "count", len(atts), "log_index", out.Index)
	}
}
