package fsm

import (
	"fmt"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/phalanx-eth/phalanx/fsm/eth"
	"github.com/phalanx-eth/phalanx/fsm/slashing"
)

// ReasonUnknownValidator: the item's public key is not in the registry (the value slashing reserves for it).
const ReasonUnknownValidator = slashing.UnknownValidator

// Reasons for which the state machine denies a duty item before, or instead of, the slashing rules. They extend
// slashing.Reason from the top of its range, so they never collide with the rules' own reasons.
const (
	// ReasonHalted: the cluster is halted.
	ReasonHalted slashing.Reason = 0xf0 + iota
	// ReasonNoChainConfig: no ChainConfig entry has bound the cluster to a chain yet.
	ReasonNoChainConfig
	// ReasonBelowWatermark: the duty's slot is below the start of the finalized epoch.
	ReasonBelowWatermark
	// ReasonIndexMismatch: the item's validator index differs from the registered beacon index.
	ReasonIndexMismatch
)

var fsmReasonNames = map[slashing.Reason]string{
	ReasonHalted:         "halted",
	ReasonNoChainConfig:  "no_chain_config",
	ReasonBelowWatermark: "below_watermark",
	ReasonIndexMismatch:  "index_mismatch",
}

// ReasonName returns a stable snake_case name for r, covering both the slashing rules' reasons and the state
// machine's own.
func ReasonName(r slashing.Reason) string {
	if n, ok := fsmReasonNames[r]; ok {
		return n
	}
	return r.String()
}

// maxDetail bounds the verdict detail kept in the duty history.
const maxDetail = 256

// attestationDataSize and blockHeaderSize are the SSZ sizes of the shared messages a Duty carries.
const (
	attestationDataSize = 128
	blockHeaderSize     = 112
)

// dutyMessage is the decoded shared message of a Duty.
type dutyMessage struct {
	att    *phase0.AttestationData
	header *phase0.BeaconBlockHeader
	root   [32]byte // beacon block root of a sync-committee message
}

// validateDuty checks what a Duty must satisfy whatever the state: item count, distinct keys, and the shared
// message the kind needs, consistent with the duty's slot and epoch.
func validateDuty(d *Duty) (dutyMessage, error) {
	var m dutyMessage
	if len(d.Items) == 0 {
		return m, fmt.Errorf("%s duty at slot %d has no items", d.Kind, d.Slot)
	}
	seen := make(map[[48]byte]struct{}, len(d.Items))
	for _, it := range d.Items {
		if _, dup := seen[it.Pubkey]; dup {
			return m, fmt.Errorf("%s duty at slot %d lists validator %s twice", d.Kind, d.Slot, shortKey(it.Pubkey))
		}
		seen[it.Pubkey] = struct{}{}
	}
	switch d.Kind {
	case DutyAttestation:
		if len(d.Data) != attestationDataSize {
			return m, fmt.Errorf("attestation duty data is %d bytes; want the %d-byte SSZ of AttestationData", len(d.Data), attestationDataSize)
		}
		m.att = new(phase0.AttestationData)
		if err := m.att.UnmarshalSSZ(d.Data); err != nil {
			return m, fmt.Errorf("attestation duty data: %w", err)
		}
		if uint64(m.att.Slot) != d.Slot {
			return m, fmt.Errorf("attestation data slot %d differs from duty slot %d", m.att.Slot, d.Slot)
		}
		if m.att.Source == nil || m.att.Target == nil {
			return m, fmt.Errorf("attestation data lacks a checkpoint")
		}
		if uint64(m.att.Target.Epoch) != d.Epoch {
			return m, fmt.Errorf("attestation target epoch %d differs from duty epoch %d", m.att.Target.Epoch, d.Epoch)
		}
	case DutyProposal, DutyBlindedProposal:
		if len(d.Items) != 1 {
			return m, fmt.Errorf("%s duty has %d items; a proposal has exactly one", d.Kind, len(d.Items))
		}
		if len(d.Data) != blockHeaderSize {
			return m, fmt.Errorf("%s duty data is %d bytes; want the %d-byte SSZ of BeaconBlockHeader", d.Kind, len(d.Data), blockHeaderSize)
		}
		m.header = new(phase0.BeaconBlockHeader)
		if err := m.header.UnmarshalSSZ(d.Data); err != nil {
			return m, fmt.Errorf("%s duty data: %w", d.Kind, err)
		}
		if uint64(m.header.Slot) != d.Slot {
			return m, fmt.Errorf("block header slot %d differs from duty slot %d", m.header.Slot, d.Slot)
		}
		if uint64(m.header.ProposerIndex) != d.Items[0].ValidatorIndex {
			return m, fmt.Errorf("block proposer index %d differs from item validator index %d", m.header.ProposerIndex, d.Items[0].ValidatorIndex)
		}
	case DutySyncCommitteeMessage:
		if len(d.Data) != 32 {
			return m, fmt.Errorf("sync committee message duty data is %d bytes; want the 32-byte beacon block root", len(d.Data))
		}
		copy(m.root[:], d.Data)
	default:
		if len(d.Data) != 0 {
			return m, fmt.Errorf("%s duty carries %d bytes of data; this kind has none", d.Kind, len(d.Data))
		}
	}
	return m, nil
}

// validateDutyEpoch checks the duty's epoch against the bound chain: every kind but VoluntaryExit signs in the
// epoch of its slot.
func validateDutyEpoch(d *Duty, spec *eth.Spec) error {
	if d.Kind == DutyVoluntaryExit {
		return nil
	}
	if want := spec.EpochAtSlot(d.Slot); d.Epoch != want {
		return fmt.Errorf("%s duty at slot %d has epoch %d; slot %d is in epoch %d", d.Kind, d.Slot, d.Epoch, d.Slot, want)
	}
	return nil
}

// sharedRoot returns the signing root common to all items of the duty, or ok false when it depends on the item.
func sharedRoot(spec *eth.Spec, d *Duty, m dutyMessage) (root eth.Root, ok bool, err error) {
	switch d.Kind {
	case DutyAttestation:
		r, err := spec.AttestationSigningRoot(m.att)
		if err != nil {
			return root, false, fmt.Errorf("attestation signing root: %w", err)
		}
		return r, true, nil
	case DutyProposal, DutyBlindedProposal:
		br, err := m.header.HashTreeRoot()
		if err != nil {
			return root, false, fmt.Errorf("block header root: %w", err)
		}
		return spec.BlockSigningRoot(d.Slot, br), true, nil
	case DutyRandao:
		return spec.RandaoSigningRoot(d.Epoch), true, nil
	case DutySelectionProof:
		return spec.SelectionProofSigningRoot(d.Slot), true, nil
	case DutySyncCommitteeMessage:
		return spec.SyncCommitteeMessageSigningRoot(d.Slot, m.root), true, nil
	}
	return root, false, nil
}

// itemRoot returns the signing root of one item for kinds whose message is per validator.
func itemRoot(spec *eth.Spec, d *Duty, it *DutyItem) (eth.Root, error) {
	switch d.Kind {
	case DutyAggregateAndProof:
		return spec.AggregateAndProofSigningRoot(d.Slot, it.Root), nil
	case DutySyncSelectionProof:
		return spec.SyncSelectionProofSigningRoot(d.Slot, it.Aux), nil
	case DutyContributionAndProof:
		return spec.ContributionAndProofSigningRoot(d.Slot, it.Root), nil
	case DutyVoluntaryExit:
		return spec.VoluntaryExitSigningRoot(&phase0.VoluntaryExit{
			Epoch:          phase0.Epoch(d.Epoch),
			ValidatorIndex: phase0.ValidatorIndex(it.ValidatorIndex),
		}), nil
	case DutyValidatorRegistration:
		// The item carries hash_tree_root(ValidatorRegistration); eth takes the whole message, so the root is
		// wrapped as an object whose hash tree root it is.
		return eth.ComputeSigningRoot(objectRoot(it.Root), spec.Domain(eth.DomainApplicationBuilder, 0))
	}
	return eth.Root{}, fmt.Errorf("no per-item signing root for %s", d.Kind)
}

// objectRoot is an SSZ object known only by its hash tree root.
type objectRoot [32]byte

// HashTreeRoot returns the root itself.
func (r objectRoot) HashTreeRoot() ([32]byte, error) { return r, nil }

// applyDuty decides every item of a Duty. With commit, approved attestations and proposals are recorded in the
// slashing database and the batch joins the duty history.
func (s *State) applyDuty(d *Duty, index uint64, commit bool) *Result {
	m, err := validateDuty(d)
	if err != nil {
		return reject(TypeDuty, "%v", err)
	}
	var (
		batch     *slashing.Verdict
		root      eth.Root
		shared    bool
		haveRoots = s.spec != nil
	)
	if haveRoots {
		if err := validateDutyEpoch(d, s.spec); err != nil {
			return reject(TypeDuty, "%v", err)
		}
		if root, shared, err = sharedRoot(s.spec, d, m); err != nil {
			return reject(TypeDuty, "%v", err)
		}
	}
	switch {
	case s.config == nil:
		v := slashing.Deny(ReasonNoChainConfig, "no chain config is bound")
		batch = &v
	case s.halted:
		v := slashing.Deny(ReasonHalted, "cluster is halted: "+s.haltReason)
		batch = &v
	case d.Slot < s.lowWatermark():
		v := slashing.Deny(ReasonBelowWatermark, fmt.Sprintf("slot %d is below the finalized slot %d", d.Slot, s.lowWatermark()))
		batch = &v
	}

	r := &Result{Type: TypeDuty, Status: StatusApplied, Items: make([]ItemResult, len(d.Items))}
	for i := range d.Items {
		it := &d.Items[i]
		out := &r.Items[i]
		out.Pubkey, out.ValidatorIndex = it.Pubkey, it.ValidatorIndex
		if haveRoots {
			ir := root
			if !shared {
				if ir, err = itemRoot(s.spec, d, it); err != nil {
					return reject(TypeDuty, "item %d: %v", i, err)
				}
			}
			out.SigningRoot = ir
		}
		if batch != nil {
			out.Verdict = *batch
			continue
		}
		out.Verdict = s.decideItem(d, m, it, out.SigningRoot, commit)
	}
	if commit && s.config != nil && d.Slot >= s.lowWatermark() {
		s.recordHistory(index, d, r.Items)
	}
	return r
}

// decideItem runs the registry checks and, for attestations and proposals, the slashing rules.
func (s *State) decideItem(d *Duty, m dutyMessage, it *DutyItem, root [32]byte, commit bool) slashing.Verdict {
	v, ok := s.validators[it.Pubkey]
	if !ok {
		return slashing.Deny(ReasonUnknownValidator, "validator "+shortKey(it.Pubkey)+" is not registered")
	}
	if v.index != UnknownValidatorIndex && v.index != it.ValidatorIndex {
		return slashing.Deny(ReasonIndexMismatch, fmt.Sprintf("validator has beacon index %d, item says %d", v.index, it.ValidatorIndex))
	}
	pk, sr := slashing.Pubkey(it.Pubkey), slashing.Root(root)
	switch d.Kind {
	case DutyAttestation:
		src, tgt := uint64(m.att.Source.Epoch), uint64(m.att.Target.Epoch)
		verdict := s.slashing.CheckAttestation(pk, src, tgt, sr)
		if verdict.Approved && commit {
			s.slashing.RecordAttestation(pk, src, tgt, sr)
		}
		return verdict
	case DutyProposal, DutyBlindedProposal:
		verdict := s.slashing.CheckProposal(pk, d.Slot, sr)
		if verdict.Approved && commit {
			s.slashing.RecordProposal(pk, d.Slot, sr)
		}
		return verdict
	}
	return slashing.Approve()
}

// recordHistory adds one applied duty to the history, with details bounded so the history stays small.
func (s *State) recordHistory(index uint64, d *Duty, items []ItemResult) {
	kept := make([]ItemResult, len(items))
	copy(kept, items)
	for i := range kept {
		if len(kept[i].Verdict.Detail) > maxDetail {
			kept[i].Verdict.Detail = kept[i].Verdict.Detail[:maxDetail]
		}
	}
	s.history[d.Slot] = append(s.history[d.Slot], &historyBatch{index: index, kind: d.Kind, slot: d.Slot, epoch: d.Epoch, items: kept})
}
