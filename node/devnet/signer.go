package devnet

import (
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/phalanx-eth/phalanx/fsm/eth"
)

// eth32 converts a go-eth2-client root.
func eth32(r phase0.Root) eth.Root { return eth.Root(r) }

// onAttestationTime runs the built-in signer's duties at one third of slot:
// an attestation from every built-in member of the slot's committees and a
// sync committee message from every built-in member of the sync committee.
func (d *Devnet) onAttestationTime(slot uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.advanceLocked(slot)
	c := d.c
	dd, err := c.dutiesFor(d.spec.EpochAtSlot(slot))
	if err != nil {
		d.log.Error("devnet duties failed", "slot", slot, "err", err)
		return
	}
	ss := d.st.slot(slot)
	ss.ClusterAttesters = 0
	for ci := range dd.perSlot {
		members := dd.committee(slot%d.spec.SlotsPerEpoch, ci, d.spec.SlotsPerEpoch)
		data := c.attestationData(slot, ci)
		root, err := d.spec.AttestationSigningRoot(data)
		if err != nil {
			d.log.Error("devnet attestation signing root failed", "slot", slot, "err", err)
			return
		}
		dataRoot, err := data.HashTreeRoot()
		if err != nil {
			d.log.Error("devnet attestation data root failed", "slot", slot, "err", err)
			return
		}
		for _, v := range members {
			if d.cluster[v] {
				ss.ClusterAttesters++
				continue
			}
			var sig phase0.BLSSignature
			copy(sig[:], c.vals[v].sk.Sign(root[:]).Bytes())
			c.addSingle(data, dataRoot, ci, v, sig)
		}
	}
	members, err := c.syncCommitteeForMessage(slot)
	if err != nil {
		d.log.Error("devnet sync committee failed", "slot", slot, "err", err)
		return
	}
	head := c.state(slot).head.root
	msgRoot := d.spec.SyncCommitteeMessageSigningRoot(slot, head)
	msgs := c.syncMsgs[slot]
	if msgs == nil {
		msgs = make(map[uint64]syncMessage)
		c.syncMsgs[slot] = msgs
	}
	for _, v := range members {
		if d.cluster[v] {
			continue
		}
		if _, done := msgs[v]; done {
			continue
		}
		var sig phase0.BLSSignature
		copy(sig[:], c.vals[v].sk.Sign(msgRoot[:]).Bytes())
		msgs[v] = syncMessage{root: head, sig: sig}
	}
}
