package devnet

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/OffchainLabs/go-bitfield"
	"github.com/attestantio/go-eth2-client/api"
	apiv1deneb "github.com/attestantio/go-eth2-client/api/v1/deneb"
	apiv1electra "github.com/attestantio/go-eth2-client/api/v1/electra"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/capella"
	"github.com/attestantio/go-eth2-client/spec/deneb"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/holiman/uint256"

	"github.com/phalanx-eth/phalanx/fsm/eth"
)

// errUnsupportedVersion reports a fork the devnet does not build blocks for.
var errUnsupportedVersion = errors.New("unsupported consensus version")

// gasLimit is the execution gas limit of every devnet payload.
const gasLimit = 30_000_000

// blockParts are the inputs of a block the devnet builds.
type blockParts struct {
	slot       uint64
	proposer   uint64
	parent     eth.Root
	prevState  eth.Root
	randao     phase0.BLSSignature
	graffiti   [32]byte
	atts       []*onchainAtt
	syncBits   bitfield.Bitvector512
	syncSig    phase0.BLSSignature
	execParent [32]byte
	execNumber uint64
	timestamp  uint64
	prevRandao [32]byte
	// genesisState, when set, is the state root to use verbatim (the
	// genesis block).
	genesisState *eth.Root
}

// execHash returns the execution block hash of the payload at number on
// top of parent (the devnet has no execution layer; hashes chain).
func execHash(parent [32]byte, number uint64) [32]byte {
	return digest("phalanx-devnet/execution-block", parent[:], u64(number))
}

// builtBlock is an unsigned block with its roots.
type builtBlock struct {
	proposal  *api.VersionedProposal
	root      eth.Root
	bodyRoot  eth.Root
	stateRoot eth.Root
	execHash  [32]byte
}

// phase0Atts converts on-chain attestations to the pre-Electra container.
func phase0Atts(atts []*onchainAtt) []*phase0.Attestation {
	out := make([]*phase0.Attestation, 0, len(atts))
	for _, a := range atts {
		out = append(out, &phase0.Attestation{AggregationBits: a.bits[0], Data: a.data, Signature: a.sig})
	}
	return out
}

// electraAtts converts on-chain attestations to the Electra container.
func electraAtts(atts []*onchainAtt) []*electra.Attestation {
	out := make([]*electra.Attestation, 0, len(atts))
	for _, a := range atts {
		cb := bitfield.NewBitvector64()
		total := uint64(0)
		for i, ci := range a.committees {
			cb.SetBitAt(ci, true)
			total += a.bits[i].Len()
		}
		bits := bitfield.NewBitlist(total)
		off := uint64(0)
		for i := range a.committees {
			for j := range a.bits[i].Len() {
				if a.bits[i].BitAt(j) {
					bits.SetBitAt(off+j, true)
				}
			}
			off += a.bits[i].Len()
		}
		out = append(out, &electra.Attestation{AggregationBits: bits, Data: a.data, Signature: a.sig, CommitteeBits: cb})
	}
	return out
}

// buildBlock assembles the block of version from p and fills its state root.
func buildBlock(version spec.DataVersion, p *blockParts) (*builtBlock, error) {
	eth1 := &phase0.ETH1Data{DepositRoot: phase0.Root{}, DepositCount: 0, BlockHash: genesisEth1BlockHash[:]}
	sync := &altair.SyncAggregate{SyncCommitteeBits: p.syncBits, SyncCommitteeSignature: p.syncSig}
	hash := execHash(p.execParent, p.execNumber)
	var bloom [256]byte
	var recipient bellatrix.ExecutionAddress
	emptyTxs := []bellatrix.Transaction{}
	emptyWithdrawals := []*capella.Withdrawal{}
	out := &builtBlock{execHash: hash}
	prop := &api.VersionedProposal{Version: version, ConsensusValue: big.NewInt(0), ExecutionValue: big.NewInt(0)}
	var (
		body interface{ HashTreeRoot() ([32]byte, error) }
		// setState fills the state root once the body root is known.
		setState func(eth.Root)
		block    interface{ HashTreeRoot() ([32]byte, error) }
	)
	slot, proposer := phase0.Slot(p.slot), phase0.ValidatorIndex(p.proposer)
	switch version {
	case spec.DataVersionAltair:
		b := &altair.BeaconBlock{Slot: slot, ProposerIndex: proposer, ParentRoot: phase0.Root(p.parent), Body: &altair.BeaconBlockBody{
			RANDAOReveal: p.randao, ETH1Data: eth1, Graffiti: p.graffiti,
			ProposerSlashings: []*phase0.ProposerSlashing{}, AttesterSlashings: []*phase0.AttesterSlashing{},
			Attestations: phase0Atts(p.atts), Deposits: []*phase0.Deposit{}, VoluntaryExits: []*phase0.SignedVoluntaryExit{},
			SyncAggregate: sync,
		}}
		prop.Altair, body, block = b, b.Body, b
		setState = func(r eth.Root) { b.StateRoot = phase0.Root(r) }
	case spec.DataVersionBellatrix:
		b := &bellatrix.BeaconBlock{Slot: slot, ProposerIndex: proposer, ParentRoot: phase0.Root(p.parent), Body: &bellatrix.BeaconBlockBody{
			RANDAOReveal: p.randao, ETH1Data: eth1, Graffiti: p.graffiti,
			ProposerSlashings: []*phase0.ProposerSlashing{}, AttesterSlashings: []*phase0.AttesterSlashing{},
			Attestations: phase0Atts(p.atts), Deposits: []*phase0.Deposit{}, VoluntaryExits: []*phase0.SignedVoluntaryExit{},
			SyncAggregate: sync,
			ExecutionPayload: &bellatrix.ExecutionPayload{
				ParentHash: p.execParent, FeeRecipient: recipient, LogsBloom: bloom, PrevRandao: p.prevRandao,
				BlockNumber: p.execNumber, GasLimit: gasLimit, Timestamp: p.timestamp, ExtraData: []byte{},
				BlockHash: hash, Transactions: emptyTxs,
			},
		}}
		prop.Bellatrix, body, block = b, b.Body, b
		setState = func(r eth.Root) { b.StateRoot = phase0.Root(r) }
	case spec.DataVersionCapella:
		b := &capella.BeaconBlock{Slot: slot, ProposerIndex: proposer, ParentRoot: phase0.Root(p.parent), Body: &capella.BeaconBlockBody{
			RANDAOReveal: p.randao, ETH1Data: eth1, Graffiti: p.graffiti,
			ProposerSlashings: []*phase0.ProposerSlashing{}, AttesterSlashings: []*phase0.AttesterSlashing{},
			Attestations: phase0Atts(p.atts), Deposits: []*phase0.Deposit{}, VoluntaryExits: []*phase0.SignedVoluntaryExit{},
			SyncAggregate: sync,
			ExecutionPayload: &capella.ExecutionPayload{
				ParentHash: p.execParent, FeeRecipient: recipient, LogsBloom: bloom, PrevRandao: p.prevRandao,
				BlockNumber: p.execNumber, GasLimit: gasLimit, Timestamp: p.timestamp, ExtraData: []byte{},
				BlockHash: hash, Transactions: emptyTxs, Withdrawals: emptyWithdrawals,
			},
			BLSToExecutionChanges: []*capella.SignedBLSToExecutionChange{},
		}}
		prop.Capella, body, block = b, b.Body, b
		setState = func(r eth.Root) { b.StateRoot = phase0.Root(r) }
	case spec.DataVersionDeneb, spec.DataVersionElectra:
		payload := &deneb.ExecutionPayload{
			ParentHash: p.execParent, FeeRecipient: recipient, LogsBloom: bloom, PrevRandao: p.prevRandao,
			BlockNumber: p.execNumber, GasLimit: gasLimit, Timestamp: p.timestamp, ExtraData: []byte{},
			BaseFeePerGas: uint256.NewInt(7), BlockHash: hash, Transactions: emptyTxs, Withdrawals: emptyWithdrawals,
		}
		if version == spec.DataVersionDeneb {
			b := &deneb.BeaconBlock{Slot: slot, ProposerIndex: proposer, ParentRoot: phase0.Root(p.parent), Body: &deneb.BeaconBlockBody{
				RANDAOReveal: p.randao, ETH1Data: eth1, Graffiti: p.graffiti,
				ProposerSlashings: []*phase0.ProposerSlashing{}, AttesterSlashings: []*phase0.AttesterSlashing{},
				Attestations: phase0Atts(p.atts), Deposits: []*phase0.Deposit{}, VoluntaryExits: []*phase0.SignedVoluntaryExit{},
				SyncAggregate: sync, ExecutionPayload: payload,
				BLSToExecutionChanges: []*capella.SignedBLSToExecutionChange{}, BlobKZGCommitments: []deneb.KZGCommitment{},
			}}
			prop.Deneb = &apiv1deneb.BlockContents{Block: b, KZGProofs: []deneb.KZGProof{}, Blobs: []deneb.Blob{}}
			body, block = b.Body, b
			setState = func(r eth.Root) { b.StateRoot = phase0.Root(r) }
		} else {
			b := &electra.BeaconBlock{Slot: slot, ProposerIndex: proposer, ParentRoot: phase0.Root(p.parent), Body: &electra.BeaconBlockBody{
				RANDAOReveal: p.randao, ETH1Data: eth1, Graffiti: p.graffiti,
				ProposerSlashings: []*phase0.ProposerSlashing{}, AttesterSlashings: []*electra.AttesterSlashing{},
				Attestations: electraAtts(p.atts), Deposits: []*phase0.Deposit{}, VoluntaryExits: []*phase0.SignedVoluntaryExit{},
				SyncAggregate: sync, ExecutionPayload: payload,
				BLSToExecutionChanges: []*capella.SignedBLSToExecutionChange{}, BlobKZGCommitments: []deneb.KZGCommitment{},
				ExecutionRequests: &electra.ExecutionRequests{
					Deposits: []*electra.DepositRequest{}, Withdrawals: []*electra.WithdrawalRequest{},
					Consolidations: []*electra.ConsolidationRequest{},
				},
			}}
			prop.Electra = &apiv1electra.BlockContents{Block: b, KZGProofs: []deneb.KZGProof{}, Blobs: []deneb.Blob{}}
			body, block = b.Body, b
			setState = func(r eth.Root) { b.StateRoot = phase0.Root(r) }
		}
	default:
		return nil, fmt.Errorf("build block: %w: %s", errUnsupportedVersion, version)
	}
	br, err := body.HashTreeRoot()
	if err != nil {
		return nil, fmt.Errorf("build block: body root: %w", err)
	}
	out.bodyRoot = br
	out.stateRoot = blockStateRoot(p.prevState, p.slot, br)
	if p.genesisState != nil {
		out.stateRoot = *p.genesisState
	}
	setState(out.stateRoot)
	r, err := block.HashTreeRoot()
	if err != nil {
		return nil, fmt.Errorf("build block: block root: %w", err)
	}
	out.root = r
	out.proposal = prop
	return out, nil
}

// blockStateRoot is the devnet's state root after a block at slot with
// body root bodyRoot on top of the state prevState.
func blockStateRoot(prevState eth.Root, slot uint64, bodyRoot eth.Root) eth.Root {
	return digest("phalanx-devnet/block-state", prevState[:], u64(slot), bodyRoot[:])
}

// signProposal wraps the proposal's block with sig.
func signProposal(p *api.VersionedProposal, sig phase0.BLSSignature) (*spec.VersionedSignedBeaconBlock, error) {
	out := &spec.VersionedSignedBeaconBlock{Version: p.Version}
	switch p.Version {
	case spec.DataVersionAltair:
		out.Altair = &altair.SignedBeaconBlock{Message: p.Altair, Signature: sig}
	case spec.DataVersionBellatrix:
		out.Bellatrix = &bellatrix.SignedBeaconBlock{Message: p.Bellatrix, Signature: sig}
	case spec.DataVersionCapella:
		out.Capella = &capella.SignedBeaconBlock{Message: p.Capella, Signature: sig}
	case spec.DataVersionDeneb:
		out.Deneb = &deneb.SignedBeaconBlock{Message: p.Deneb.Block, Signature: sig}
	case spec.DataVersionElectra:
		out.Electra = &electra.SignedBeaconBlock{Message: p.Electra.Block, Signature: sig}
	default:
		return nil, fmt.Errorf("sign proposal: %w: %s", errUnsupportedVersion, p.Version)
	}
	return out, nil
}

// blockSignature returns the signature of a signed block.
func blockSignature(b *spec.VersionedSignedBeaconBlock) (phase0.BLSSignature, error) {
	switch b.Version {
	case spec.DataVersionAltair:
		if b.Altair != nil {
			return b.Altair.Signature, nil
		}
	case spec.DataVersionBellatrix:
		if b.Bellatrix != nil {
			return b.Bellatrix.Signature, nil
		}
	case spec.DataVersionCapella:
		if b.Capella != nil {
			return b.Capella.Signature, nil
		}
	case spec.DataVersionDeneb:
		if b.Deneb != nil {
			return b.Deneb.Signature, nil
		}
	case spec.DataVersionElectra:
		if b.Electra != nil {
			return b.Electra.Signature, nil
		}
	}
	return phase0.BLSSignature{}, fmt.Errorf("block signature: %w: %s", errUnsupportedVersion, b.Version)
}

// onchainAttsOf converts a block's attestations to the fork-neutral form,
// splitting Electra aggregation bits by committee.
func (c *chain) onchainAttsOf(b *spec.VersionedSignedBeaconBlock) ([]*onchainAtt, error) {
	atts, err := b.Attestations()
	if err != nil {
		return nil, fmt.Errorf("block attestations: %w", err)
	}
	out := make([]*onchainAtt, 0, len(atts))
	for i, va := range atts {
		data, err := va.Data()
		if err != nil {
			return nil, fmt.Errorf("attestation %d: %w", i, err)
		}
		if data.Source == nil || data.Target == nil {
			return nil, fmt.Errorf("attestation %d: missing source or target", i)
		}
		bits, err := va.AggregationBits()
		if err != nil {
			return nil, fmt.Errorf("attestation %d: %w", i, err)
		}
		sig, err := va.Signature()
		if err != nil {
			return nil, fmt.Errorf("attestation %d: %w", i, err)
		}
		a := &onchainAtt{data: data, sig: sig}
		if va.Version < spec.DataVersionElectra {
			a.committees = []uint64{uint64(data.Index)}
			a.bits = []bitfield.Bitlist{bits}
			out = append(out, a)
			continue
		}
		if data.Index != 0 {
			return nil, fmt.Errorf("attestation %d: data index is %d; it must be 0 from electra on", i, data.Index)
		}
		cb, err := va.CommitteeBits()
		if err != nil {
			return nil, fmt.Errorf("attestation %d: %w", i, err)
		}
		off := uint64(0)
		for _, ci := range cb.BitIndices() {
			members, err := c.committee(uint64(data.Slot), uint64(ci))
			if err != nil {
				return nil, fmt.Errorf("attestation %d: %w", i, err)
			}
			part := bitfield.NewBitlist(uint64(len(members)))
			for j := range uint64(len(members)) {
				if off+j < bits.Len() && bits.BitAt(off+j) {
					part.SetBitAt(j, true)
				}
			}
			off += uint64(len(members))
			a.committees = append(a.committees, uint64(ci))
			a.bits = append(a.bits, part)
		}
		if off != bits.Len() || len(a.committees) == 0 {
			return nil, fmt.Errorf("attestation %d: aggregation bits have length %d; the committees have %d members",
				i, bits.Len(), off)
		}
		out = append(out, a)
	}
	return out, nil
}
