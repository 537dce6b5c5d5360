package devnet

import (
	"slices"
	"sync"
	"time"

	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// Kinds of Published messages.
const (
	PublishedAttestation = "attestation"
	PublishedBlock       = "block"
)

// Published is one slashable message the devnet received from a cluster validator, exactly as submitted and
// before any check: whether or not the devnet accepted it, the cluster released it. An independent checker
// (the chaos run) verifies its signature and compares every pair for EIP-3076 conflicts.
type Published struct {
	// Kind is PublishedAttestation or PublishedBlock.
	Kind string
	// ValidatorIndex is the attester or the proposer.
	ValidatorIndex uint64
	// Slot is the attestation's or block's slot.
	Slot uint64
	// Attestation is the signed attestation data (attestations only).
	Attestation *phase0.AttestationData
	// Block is the signed block (blocks only).
	Block *spec.VersionedSignedBeaconBlock
	// Signature is the attestation's signature (the block carries its own).
	Signature phase0.BLSSignature
	// Received is when the devnet received it.
	Received time.Time
}

// published records what cluster validators submitted; its own lock, so recording never waits on the chain.
type published struct {
	mu   sync.Mutex
	msgs []Published
}

func (p *published) add(m Published) {
	p.mu.Lock()
	p.msgs = append(p.msgs, m)
	p.mu.Unlock()
}

// recordAttestation records an attestation submitted for a cluster validator.
func (d *Devnet) recordAttestation(attester uint64, data *phase0.AttestationData, sig phase0.BLSSignature) {
	if data == nil || !d.cluster[attester] {
		return
	}
	cp := *data
	if data.Source != nil {
		s := *data.Source
		cp.Source = &s
	}
	if data.Target != nil {
		t := *data.Target
		cp.Target = &t
	}
	d.pub.add(Published{Kind: PublishedAttestation, ValidatorIndex: attester, Slot: uint64(data.Slot),
		Attestation: &cp, Signature: sig, Received: d.now()})
}

// recordBlock records a block submitted for a cluster proposer.
func (d *Devnet) recordBlock(signed *spec.VersionedSignedBeaconBlock) {
	if signed == nil {
		return
	}
	pi, err := signed.ProposerIndex()
	if err != nil || !d.cluster[uint64(pi)] {
		return
	}
	s, _ := signed.Slot()
	d.pub.add(Published{Kind: PublishedBlock, ValidatorIndex: uint64(pi), Slot: uint64(s), Block: signed, Received: d.now()})
}

// Published returns every slashable message cluster validators submitted so far (electra single
// attestations and blocks), in arrival order.
func (d *Devnet) Published() []Published {
	d.pub.mu.Lock()
	defer d.pub.mu.Unlock()
	return slices.Clone(d.pub.msgs)
}
