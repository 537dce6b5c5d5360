package devnet

import (
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// TestPublishedRecordsClusterSubmissions: only cluster validators' messages are recorded, as submitted, and
// the record does not share memory with the submission.
func TestPublishedRecordsClusterSubmissions(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ClusterValidators = []uint64{1, 2}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	data := &phase0.AttestationData{Slot: 9, Source: &phase0.Checkpoint{Epoch: 0}, Target: &phase0.Checkpoint{Epoch: 1}}
	sig := phase0.BLSSignature{7}
	d.recordAttestation(1, data, sig)
	d.recordAttestation(5, data, sig) // not a cluster validator
	d.recordAttestation(2, nil, sig)  // nothing to record
	d.recordBlock(nil)
	data.Target.Epoch = 99

	got := d.Published()
	if len(got) != 1 {
		t.Fatalf("recorded %d messages, want 1", len(got))
	}
	p := got[0]
	if p.Kind != PublishedAttestation || p.ValidatorIndex != 1 || p.Slot != 9 || p.Signature != sig {
		t.Fatalf("recorded %+v", p)
	}
	if p.Attestation.Target.Epoch != 1 {
		t.Fatalf("the record changed with the submission: target epoch %d", p.Attestation.Target.Epoch)
	}
	got[0].ValidatorIndex = 42
	if d.Published()[0].ValidatorIndex != 1 {
		t.Fatal("Published hands out the devnet's own slice")
	}
}
