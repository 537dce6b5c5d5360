package devnet

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/api"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/phalanx-eth/phalanx/fsm/eth"
)

// fastConfig is a small, fast chain for finality tests.
func fastConfig(cluster []uint64) Config {
	return Config{NumValidators: 32, ClusterValidators: cluster, SlotDuration: 300 * time.Millisecond, SlotsPerEpoch: 4}
}

func TestBuiltinSignerFinalizes(t *testing.T) {
	d := startDevnet(t, fastConfig(nil))
	waitFor(t, "finalized epoch 2", 60*time.Second, func() bool { return d.Stats().FinalizedEpoch >= 2 })
	st := d.Stats()
	if st.JustifiedEpoch <= st.FinalizedEpoch || st.Totals.BuiltinBlocks == 0 || st.Totals.Rejected != 0 {
		t.Fatalf("status = %+v", st)
	}
}

// TestClusterStallsAndRecoversFinality: with half the stake silent the
// chain does not justify; an external signer attesting for the cluster
// through the API restores finality, and a wrongly signed attestation is
// refused and not counted.
func TestClusterStallsAndRecoversFinality(t *testing.T) {
	var cluster []uint64
	for i := uint64(0); i < 32; i += 2 {
		cluster = append(cluster, i)
	}
	d := startDevnet(t, fastConfig(cluster))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := connect(t, ctx, d)
	s := d.Spec()

	waitSlot(t, d, 4*4) // four epochs without the cluster
	if st := d.Stats(); st.JustifiedEpoch != 0 || st.FinalizedEpoch != 0 {
		t.Fatalf("justified %d finalized %d with half the stake silent; want 0", st.JustifiedEpoch, st.FinalizedEpoch)
	}

	indices := make([]phase0.ValidatorIndex, len(cluster))
	for i, v := range cluster {
		indices[i] = phase0.ValidatorIndex(v)
	}
	// A wrong-domain attestation: signed as a randao reveal.
	wrongDomainChecked := false
	startEpoch := s.EpochAtSlot(d.Stats().Slot) + 1
	for epoch := startEpoch; d.Stats().FinalizedEpoch < startEpoch+1; epoch++ {
		if epoch > startEpoch+6 {
			t.Fatalf("finality did not resume: %+v", d.Stats())
		}
		duties, err := c.AttesterDuties(ctx, &api.AttesterDutiesOpts{Epoch: phase0.Epoch(epoch), Indices: indices})
		if err != nil {
			t.Fatalf("AttesterDuties: %v", err)
		}
		for slot := s.EpochStartSlot(epoch); slot < s.EpochStartSlot(epoch+1); slot++ {
			waitSlot(t, d, slot)
			var atts []*spec.VersionedAttestation
			for _, duty := range duties.Data {
				if uint64(duty.Slot) != slot {
					continue
				}
				data, err := c.AttestationData(ctx, &api.AttestationDataOpts{Slot: duty.Slot, CommitteeIndex: duty.CommitteeIndex})
				if err != nil {
					t.Fatalf("AttestationData: %v", err)
				}
				v := uint64(duty.ValidatorIndex)
				if !wrongDomainChecked {
					wrongDomainChecked = true
					before := d.Stats()
					rr := s.RandaoSigningRoot(epoch)
					bad := signRoot(t, v, rr)
					err := c.SubmitAttestations(ctx, &api.SubmitAttestationsOpts{Attestations: []*spec.VersionedAttestation{
						singleAttestation(v, uint64(duty.CommitteeIndex), duty.CommitteeLength, duty.ValidatorCommitteeIndex, data.Data, bad),
					}})
					var apiErr *api.Error
					if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest {
						t.Fatalf("wrong-domain attestation: err = %v; want 400", err)
					}
					after := d.Stats()
					if after.Totals.Rejected != before.Totals.Rejected+1 ||
						after.Totals.ClusterAttestationsReceived != before.Totals.ClusterAttestationsReceived {
						t.Fatalf("wrong-domain attestation counted: before %+v after %+v", before.Totals, after.Totals)
					}
				}
				sig := signAttestation(t, &s, v, data.Data)
				atts = append(atts, singleAttestation(v, uint64(duty.CommitteeIndex), duty.CommitteeLength, duty.ValidatorCommitteeIndex, data.Data, sig))
			}
			if len(atts) > 0 {
				if err := c.SubmitAttestations(ctx, &api.SubmitAttestationsOpts{Attestations: atts}); err != nil {
					t.Fatalf("SubmitAttestations at slot %d: %v", slot, err)
				}
			}
		}
	}
	st := d.Stats()
	if st.Totals.ClusterAttestationsIncluded == 0 || st.FinalizedEpoch < startEpoch+1 {
		t.Fatalf("status after recovery = %+v", st.Totals)
	}
}

// signRoot signs root with validator v's interop key.
func signRoot(t *testing.T, v uint64, root eth.Root) phase0.BLSSignature {
	t.Helper()
	sk, err := interopKey(v)
	if err != nil {
		t.Fatal(err)
	}
	var sig phase0.BLSSignature
	copy(sig[:], sk.Sign(root[:]).Bytes())
	return sig
}
