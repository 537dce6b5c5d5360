package node

import (
	"errors"
	"fmt"

	bitfield "github.com/OffchainLabs/go-bitfield"
	"github.com/attestantio/go-eth2-client/api"
	apiv1bellatrix "github.com/attestantio/go-eth2-client/api/v1/bellatrix"
	apiv1capella "github.com/attestantio/go-eth2-client/api/v1/capella"
	apiv1deneb "github.com/attestantio/go-eth2-client/api/v1/deneb"
	apiv1electra "github.com/attestantio/go-eth2-client/api/v1/electra"
	apiv1fulu "github.com/attestantio/go-eth2-client/api/v1/fulu"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/capella"
	"github.com/attestantio/go-eth2-client/spec/deneb"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/phalanx-eth/phalanx/fsm/eth"
)

// This file builds the messages a node publishes from the signatures the cluster produced.

// dataVersion maps a fork name onto go-eth2-client's data version.
func dataVersion(fork string) spec.DataVersion {
	switch fork {
	case eth.ForkAltair:
		return spec.DataVersionAltair
	case eth.ForkBellatrix:
		return spec.DataVersionBellatrix
	case eth.ForkCapella:
		return spec.DataVersionCapella
	case eth.ForkDeneb:
		return spec.DataVersionDeneb
	case eth.ForkElectra:
		return spec.DataVersionElectra
	case eth.ForkFulu:
		return spec.DataVersionFulu
	}
	return spec.DataVersionPhase0
}

// isElectra reports whether attestations of version v use the electra containers (committee bits,
// SingleAttestation on submission).
func isElectra(v spec.DataVersion) bool { return v >= spec.DataVersionElectra }

// buildAttestation returns one validator's unaggregated attestation: its bit at position in a committee of
// committeeLen members, and from electra on the committee's bit and the attester index (go-eth2-client
// submits it as a SingleAttestation).
func buildAttestation(v spec.DataVersion, data *phase0.AttestationData, committeeIndex, committeeLen, position, validatorIndex uint64, sig [96]byte) (*spec.VersionedAttestation, error) {
	if position >= committeeLen {
		return nil, fmt.Errorf("attestation: position %d outside a committee of %d", position, committeeLen)
	}
	bits := bitfield.NewBitlist(committeeLen)
	bits.SetBitAt(position, true)
	out := &spec.VersionedAttestation{Version: v}
	if isElectra(v) {
		if committeeIndex >= 64 {
			return nil, fmt.Errorf("attestation: committee index %d out of range", committeeIndex)
		}
		cb := bitfield.NewBitvector64()
		cb.SetBitAt(committeeIndex, true)
		vi := phase0.ValidatorIndex(validatorIndex)
		out.ValidatorIndex = &vi
		att := &electra.Attestation{AggregationBits: bits, Data: data, Signature: sig, CommitteeBits: cb}
		if v == spec.DataVersionFulu {
			out.Fulu = att
		} else {
			out.Electra = att
		}
		return out, nil
	}
	att := &phase0.Attestation{AggregationBits: bits, Data: data, Signature: sig}
	switch v {
	case spec.DataVersionPhase0:
		out.Phase0 = att
	case spec.DataVersionAltair:
		out.Altair = att
	case spec.DataVersionBellatrix:
		out.Bellatrix = att
	case spec.DataVersionCapella:
		out.Capella = att
	default:
		out.Deneb = att
	}
	return out, nil
}

// aggregateAndProof is the unsigned AggregateAndProof of one aggregator, in the container of its fork.
type aggregateAndProof struct {
	version spec.DataVersion
	phase0  *phase0.AggregateAndProof
	electra *electra.AggregateAndProof
}

func newAggregateAndProof(agg *spec.VersionedAttestation, aggregator uint64, proof [96]byte) (*aggregateAndProof, error) {
	if agg == nil {
		return nil, errors.New("aggregate and proof: no aggregate")
	}
	out := &aggregateAndProof{version: agg.Version}
	switch {
	case agg.Electra != nil || agg.Fulu != nil:
		a := agg.Electra
		if a == nil {
			a = agg.Fulu
		}
		out.electra = &electra.AggregateAndProof{AggregatorIndex: phase0.ValidatorIndex(aggregator), Aggregate: a, SelectionProof: proof}
	default:
		var a *phase0.Attestation
		for _, c := range []*phase0.Attestation{agg.Phase0, agg.Altair, agg.Bellatrix, agg.Capella, agg.Deneb} {
			if c != nil {
				a = c
			}
		}
		if a == nil {
			return nil, errors.New("aggregate and proof: empty aggregate")
		}
		out.phase0 = &phase0.AggregateAndProof{AggregatorIndex: phase0.ValidatorIndex(aggregator), Aggregate: a, SelectionProof: proof}
	}
	return out, nil
}

func (a *aggregateAndProof) root() ([32]byte, error) {
	if a.electra != nil {
		return a.electra.HashTreeRoot()
	}
	return a.phase0.HashTreeRoot()
}

func (a *aggregateAndProof) signed(sig [96]byte) *spec.VersionedSignedAggregateAndProof {
	out := &spec.VersionedSignedAggregateAndProof{Version: a.version}
	if a.electra != nil {
		s := &electra.SignedAggregateAndProof{Message: a.electra, Signature: sig}
		if a.version == spec.DataVersionFulu {
			out.Fulu = s
		} else {
			out.Electra = s
		}
		return out
	}
	s := &phase0.SignedAggregateAndProof{Message: a.phase0, Signature: sig}
	switch a.version {
	case spec.DataVersionPhase0:
		out.Phase0 = s
	case spec.DataVersionAltair:
		out.Altair = s
	case spec.DataVersionBellatrix:
		out.Bellatrix = s
	case spec.DataVersionCapella:
		out.Capella = s
	default:
		out.Deneb = s
	}
	return out
}

// proposalHeader returns the BeaconBlockHeader of a proposal: the message the proposer signs has the same root.
func proposalHeader(p *api.VersionedProposal) (*phase0.BeaconBlockHeader, error) {
	slot, err := p.Slot()
	if err != nil {
		return nil, fmt.Errorf("proposal slot: %w", err)
	}
	pi, err := p.ProposerIndex()
	if err != nil {
		return nil, fmt.Errorf("proposal proposer index: %w", err)
	}
	parent, err := p.ParentRoot()
	if err != nil {
		return nil, fmt.Errorf("proposal parent root: %w", err)
	}
	state, err := p.StateRoot()
	if err != nil {
		return nil, fmt.Errorf("proposal state root: %w", err)
	}
	body, err := p.BodyRoot()
	if err != nil {
		return nil, fmt.Errorf("proposal body root: %w", err)
	}
	return &phase0.BeaconBlockHeader{Slot: slot, ProposerIndex: pi, ParentRoot: parent, StateRoot: state, BodyRoot: body}, nil
}

// signedProposal wraps a full proposal and its signature for publication.
func signedProposal(p *api.VersionedProposal, sig phase0.BLSSignature) (*api.VersionedSignedProposal, error) {
	out := &api.VersionedSignedProposal{Version: p.Version}
	switch p.Version {
	case spec.DataVersionPhase0:
		out.Phase0 = &phase0.SignedBeaconBlock{Message: p.Phase0, Signature: sig}
	case spec.DataVersionAltair:
		out.Altair = &altair.SignedBeaconBlock{Message: p.Altair, Signature: sig}
	case spec.DataVersionBellatrix:
		out.Bellatrix = &bellatrix.SignedBeaconBlock{Message: p.Bellatrix, Signature: sig}
	case spec.DataVersionCapella:
		out.Capella = &capella.SignedBeaconBlock{Message: p.Capella, Signature: sig}
	case spec.DataVersionDeneb:
		if p.Deneb == nil {
			return nil, errors.New("signed proposal: empty deneb block contents")
		}
		out.Deneb = &apiv1deneb.SignedBlockContents{SignedBlock: &deneb.SignedBeaconBlock{Message: p.Deneb.Block, Signature: sig},
			KZGProofs: p.Deneb.KZGProofs, Blobs: p.Deneb.Blobs}
	case spec.DataVersionElectra:
		if p.Electra == nil {
			return nil, errors.New("signed proposal: empty electra block contents")
		}
		out.Electra = &apiv1electra.SignedBlockContents{SignedBlock: &electra.SignedBeaconBlock{Message: p.Electra.Block, Signature: sig},
			KZGProofs: p.Electra.KZGProofs, Blobs: p.Electra.Blobs}
	case spec.DataVersionFulu:
		if p.Fulu == nil {
			return nil, errors.New("signed proposal: empty fulu block contents")
		}
		out.Fulu = &apiv1fulu.SignedBlockContents{SignedBlock: &electra.SignedBeaconBlock{Message: p.Fulu.Block, Signature: sig},
			KZGProofs: p.Fulu.KZGProofs, Blobs: p.Fulu.Blobs}
	default:
		return nil, fmt.Errorf("signed proposal: unsupported version %s", p.Version)
	}
	return out, nil
}

// signedBlindedProposal wraps a blinded proposal and its signature for publication.
func signedBlindedProposal(p *api.VersionedProposal, sig phase0.BLSSignature) (*api.VersionedSignedBlindedProposal, error) {
	out := &api.VersionedSignedBlindedProposal{Version: p.Version}
	switch p.Version {
	case spec.DataVersionBellatrix:
		out.Bellatrix = &apiv1bellatrix.SignedBlindedBeaconBlock{Message: p.BellatrixBlinded, Signature: sig}
	case spec.DataVersionCapella:
		out.Capella = &apiv1capella.SignedBlindedBeaconBlock{Message: p.CapellaBlinded, Signature: sig}
	case spec.DataVersionDeneb:
		out.Deneb = &apiv1deneb.SignedBlindedBeaconBlock{Message: p.DenebBlinded, Signature: sig}
	case spec.DataVersionElectra:
		out.Electra = &apiv1electra.SignedBlindedBeaconBlock{Message: p.ElectraBlinded, Signature: sig}
	case spec.DataVersionFulu:
		out.Fulu = &apiv1electra.SignedBlindedBeaconBlock{Message: p.FuluBlinded, Signature: sig}
	default:
		return nil, fmt.Errorf("signed blinded proposal: unsupported version %s", p.Version)
	}
	return out, nil
}
