package eth

import (
	"fmt"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	apiv1bellatrix "github.com/attestantio/go-eth2-client/api/v1/bellatrix"
	apiv1capella "github.com/attestantio/go-eth2-client/api/v1/capella"
	apiv1deneb "github.com/attestantio/go-eth2-client/api/v1/deneb"
	apiv1electra "github.com/attestantio/go-eth2-client/api/v1/electra"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/capella"
	"github.com/attestantio/go-eth2-client/spec/deneb"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// AttestationSigningRoot returns the root an attester signs for d: the
// signing root of the AttestationData under DomainBeaconAttester at the
// target epoch. The same root serves every fork (Electra changed the
// Attestation container, not AttestationData).
func (s *Spec) AttestationSigningRoot(d *phase0.AttestationData) (Root, error) {
	if d == nil || d.Source == nil || d.Target == nil {
		return Root{}, fmt.Errorf("attestation signing root: %w", ErrNilObject)
	}
	r, err := d.HashTreeRoot()
	if err != nil {
		return Root{}, fmt.Errorf("attestation signing root: %w", err)
	}
	return signingRoot(r, s.Domain(DomainBeaconAttester, uint64(d.Target.Epoch))), nil
}

// BlockSigningRoot returns the root a proposer signs for the block at slot
// whose hash tree root is blockRoot (see BlockRoot), under
// DomainBeaconProposer at the slot's epoch. A block and its
// BeaconBlockHeader have the same root, so this also serves blinded blocks
// and headers.
func (s *Spec) BlockSigningRoot(slot uint64, blockRoot Root) Root {
	return signingRoot(blockRoot, s.Domain(DomainBeaconProposer, s.EpochAtSlot(slot)))
}

// rooter is a value with an SSZ hash tree root.
type rooter interface{ HashTreeRoot() ([32]byte, error) }

// versionedRooter is a go-eth2-client versioned wrapper that picks the root
// of the block it carries.
type versionedRooter interface{ Root() (phase0.Root, error) }

// BlockRoot returns hash_tree_root of an unsigned beacon block of any fork:
// *phase0/altair/bellatrix/capella/deneb/electra.BeaconBlock (Fulu blocks are
// electra.BeaconBlock), the blinded blocks of api/v1/{bellatrix,capella,
// deneb,electra}, *phase0.BeaconBlockHeader, and the versioned wrappers
// *spec.VersionedBeaconBlock, *api.VersionedProposal,
// *api.VersionedBlindedProposal and *api.VersionedBlindedBeaconBlock.
// Signed blocks, whose root is not what a proposer signs, are refused with
// ErrUnsupportedBlock.
func BlockRoot(block any) (Root, error) {
	if isNil(block) {
		return Root{}, fmt.Errorf("block root: %w", ErrNilObject)
	}
	switch b := block.(type) {
	case *phase0.BeaconBlock, *altair.BeaconBlock, *bellatrix.BeaconBlock, *capella.BeaconBlock,
		*deneb.BeaconBlock, *electra.BeaconBlock,
		*apiv1bellatrix.BlindedBeaconBlock, *apiv1capella.BlindedBeaconBlock,
		*apiv1deneb.BlindedBeaconBlock, *apiv1electra.BlindedBeaconBlock,
		*phase0.BeaconBlockHeader:
		r, err := b.(rooter).HashTreeRoot()
		if err != nil {
			return Root{}, fmt.Errorf("block root of %T: %w", block, err)
		}
		return r, nil
	case *spec.VersionedBeaconBlock, *api.VersionedProposal, *api.VersionedBlindedProposal,
		*api.VersionedBlindedBeaconBlock:
		r, err := b.(versionedRooter).Root()
		if err != nil {
			return Root{}, fmt.Errorf("block root of %T: %w", block, err)
		}
		return Root(r), nil
	default:
		return Root{}, fmt.Errorf("block root of %T: %w", block, ErrUnsupportedBlock)
	}
}

// RandaoSigningRoot returns the root a proposer signs for its RANDAO reveal
// at epoch: the epoch under DomainRandao.
func (s *Spec) RandaoSigningRoot(epoch uint64) Root {
	return signingRoot(uint64Chunk(epoch), s.Domain(DomainRandao, epoch))
}

// SelectionProofSigningRoot returns the root an attester signs to learn
// whether it aggregates at slot: the slot under DomainSelectionProof.
func (s *Spec) SelectionProofSigningRoot(slot uint64) Root {
	return signingRoot(uint64Chunk(slot), s.Domain(DomainSelectionProof, s.EpochAtSlot(slot)))
}

// AggregateAndProofSigningRoot returns the root an aggregator signs for an
// AggregateAndProof (phase0 or electra form; the caller passes its hash tree
// root) whose aggregate is for slot, under DomainAggregateAndProof.
func (s *Spec) AggregateAndProofSigningRoot(slot uint64, aggregateAndProofRoot Root) Root {
	return signingRoot(aggregateAndProofRoot, s.Domain(DomainAggregateAndProof, s.EpochAtSlot(slot)))
}

// SyncCommitteeMessageSigningRoot returns the root a sync committee member
// signs at slot for the head block root, under DomainSyncCommittee.
func (s *Spec) SyncCommitteeMessageSigningRoot(slot uint64, blockRoot Root) Root {
	return signingRoot(blockRoot, s.Domain(DomainSyncCommittee, s.EpochAtSlot(slot)))
}

// SyncSelectionProofSigningRoot returns the root a sync committee member
// signs to learn whether it aggregates for subcommitteeIndex at slot: the
// SyncAggregatorSelectionData under DomainSyncCommitteeSelectionProof.
func (s *Spec) SyncSelectionProofSigningRoot(slot, subcommitteeIndex uint64) Root {
	// SyncAggregatorSelectionData{slot, subcommittee_index}: two uint64 fields.
	obj := hashChunks(uint64Chunk(slot), uint64Chunk(subcommitteeIndex))
	return signingRoot(obj, s.Domain(DomainSyncCommitteeSelectionProof, s.EpochAtSlot(slot)))
}

// ContributionAndProofSigningRoot returns the root a sync aggregator signs
// for a ContributionAndProof (the caller passes its hash tree root) whose
// contribution is for slot, under DomainContributionAndProof.
func (s *Spec) ContributionAndProofSigningRoot(slot uint64, contributionAndProofRoot Root) Root {
	return signingRoot(contributionAndProofRoot, s.Domain(DomainContributionAndProof, s.EpochAtSlot(slot)))
}

// VoluntaryExitSigningRoot returns the root a validator signs to exit, under
// DomainVoluntaryExit at the exit's epoch (pinned to Capella from Deneb on,
// see Domain). e must not be nil.
func (s *Spec) VoluntaryExitSigningRoot(e *phase0.VoluntaryExit) Root {
	epoch := uint64(e.Epoch)
	// VoluntaryExit{epoch, validator_index}: two uint64 fields.
	obj := hashChunks(uint64Chunk(epoch), uint64Chunk(uint64(e.ValidatorIndex)))
	return signingRoot(obj, s.Domain(DomainVoluntaryExit, epoch))
}

// ValidatorRegistrationSigningRoot returns the root a validator signs to
// register with block builders (builder-specs), under
// DomainApplicationBuilder, which does not depend on the fork.
func (s *Spec) ValidatorRegistrationSigningRoot(r *apiv1.ValidatorRegistration) (Root, error) {
	if r == nil {
		return Root{}, fmt.Errorf("validator registration signing root: %w", ErrNilObject)
	}
	root, err := r.HashTreeRoot()
	if err != nil {
		return Root{}, fmt.Errorf("validator registration signing root: %w", err)
	}
	return signingRoot(root, s.Domain(DomainApplicationBuilder, 0)), nil
}
