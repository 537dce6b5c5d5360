package devnet

import (
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/OffchainLabs/go-bitfield"
	eth2client "github.com/attestantio/go-eth2-client"
	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	apiv1electra "github.com/attestantio/go-eth2-client/api/v1/electra"
	ehttp "github.com/attestantio/go-eth2-client/http"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/rs/zerolog"

	"github.com/phalanx-eth/phalanx/fsm/eth"
	"github.com/phalanx-eth/phalanx/threshold/keys"
)

// startDevnet starts a devnet with cfg and closes it when the test ends.
func startDevnet(t *testing.T, cfg Config) *Devnet {
	t.Helper()
	if cfg.GenesisTime.IsZero() {
		cfg.GenesisTime = time.Now().Add(time.Second)
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := d.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

// connect returns a go-eth2-client connected to d.
func connect(t *testing.T, ctx context.Context, d *Devnet) *ehttp.Service {
	t.Helper()
	c, err := ehttp.New(ctx, ehttp.WithAddress(d.URL()), ehttp.WithLogLevel(zerolog.Disabled), ehttp.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("connect go-eth2-client: %v", err)
	}
	return c.(*ehttp.Service)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitSlot waits until the devnet is at slot (or later).
func waitSlot(t *testing.T, d *Devnet, slot uint64) {
	t.Helper()
	timeout := time.Duration(slot+8)*d.cfg.SlotDuration + 20*time.Second
	waitFor(t, "slot", timeout, func() bool { return d.Stats().Slot >= slot })
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		bad  string
	}{
		{"default", DefaultConfig(), ""},
		{"zero values take defaults", Config{}, ""},
		{"cluster index out of range", Config{NumValidators: 8, ClusterValidators: []uint64{8}}, "ClusterValidators"},
		{"duplicate cluster index", Config{ClusterValidators: []uint64{1, 1}}, "twice"},
		{"slot too short", Config{SlotDuration: 100 * time.Millisecond}, "SlotDuration"},
		{"unknown fork", Config{Fork: "phase0"}, "Fork"},
		{"one slot per epoch", Config{SlotsPerEpoch: 1}, "SlotsPerEpoch"},
		{"bad listen address", Config{ListenAddr: "nowhere"}, "ListenAddr"},
		{"too many validators", Config{NumValidators: MaxValidators + 1}, "NumValidators"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := strings.Clone(tt.cfg.Fork)
			err := tt.cfg.Validate()
			if tt.cfg.Fork != before {
				t.Fatal("Validate changed the config")
			}
			if tt.bad == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.bad) {
				t.Fatalf("Validate = %v; want an ErrInvalidConfig naming %s", err, tt.bad)
			}
		})
	}
}

func TestInteropGenesis(t *testing.T) {
	vals, err := interopValidators(2)
	if err != nil {
		t.Fatal(err)
	}
	// The interop key of validator 0, as every client's interop genesis has it.
	const pk0 = "a99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c"
	if got := hex.EncodeToString(vals[0].pubkey[:]); got != pk0 {
		t.Fatalf("validator 0 pubkey = %s; want %s", got, pk0)
	}
	r1, err := registryRoot(vals)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := registryRoot(vals[:1])
	if err != nil {
		t.Fatal(err)
	}
	if r1 == r2 || r1 == (eth.Root{}) {
		t.Fatal("registry roots of different registries must differ and not be zero")
	}
	d, err := New(Config{NumValidators: 16, Fork: eth.ForkDeneb})
	if err != nil {
		t.Fatal(err)
	}
	s := d.Spec()
	if err := s.Validate(); err != nil {
		t.Fatalf("devnet spec: %v", err)
	}
	if !s.IsForkActive(eth.ForkDeneb, 0) || s.IsForkActive(eth.ForkElectra, 1<<40) {
		t.Fatal("deneb must be active from genesis and electra unscheduled")
	}
	for _, f := range s.Forks {
		for _, m := range eth.MainnetSpec().Forks {
			if f.Version == m.Version {
				t.Fatalf("fork %s reuses the mainnet version %s", f.Name, f.Version)
			}
		}
	}
}

// signAttestation signs data for validator v with its interop key.
func signAttestation(t *testing.T, s *eth.Spec, v uint64, data *phase0.AttestationData) phase0.BLSSignature {
	t.Helper()
	sk, err := keys.InteropSecretKey(v)
	if err != nil {
		t.Fatal(err)
	}
	root, err := s.AttestationSigningRoot(data)
	if err != nil {
		t.Fatal(err)
	}
	var sig phase0.BLSSignature
	copy(sig[:], sk.Sign(root[:]).Bytes())
	return sig
}

// singleAttestation wraps a signed attestation of v in committee ci.
func singleAttestation(v uint64, ci, committeeLen, pos uint64, data *phase0.AttestationData, sig phase0.BLSSignature) *spec.VersionedAttestation {
	bits := bitfield.NewBitlist(committeeLen)
	bits.SetBitAt(pos, true)
	cb := bitfield.NewBitvector64()
	cb.SetBitAt(ci, true)
	idx := phase0.ValidatorIndex(v)
	return &spec.VersionedAttestation{Version: spec.DataVersionElectra, ValidatorIndex: &idx,
		Electra: &electra.Attestation{AggregationBits: bits, Data: data, Signature: sig, CommitteeBits: cb}}
}

// TestGoEth2Client drives the devnet through go-eth2-client's providers as
// a validator client does, including a block proposed by a cluster validator.
func TestGoEth2Client(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cluster := []uint64{}
	for i := uint64(0); i < 32; i++ {
		cluster = append(cluster, i)
	}
	d := startDevnet(t, Config{NumValidators: 64, ClusterValidators: cluster, SlotDuration: 400 * time.Millisecond, SlotsPerEpoch: 8})
	c := connect(t, ctx, d)
	s := d.Spec()

	gen, err := c.Genesis(ctx, &api.GenesisOpts{})
	if err != nil {
		t.Fatalf("Genesis: %v", err)
	}
	if gen.Data.GenesisValidatorsRoot != phase0.Root(s.GenesisValidatorsRoot) || !gen.Data.GenesisTime.Equal(d.GenesisTime()) {
		t.Fatalf("genesis = %+v", gen.Data)
	}
	sp, err := c.Spec(ctx, &api.SpecOpts{})
	if err != nil {
		t.Fatalf("Spec: %v", err)
	}
	if sp.Data["SLOTS_PER_EPOCH"] != uint64(8) || sp.Data["SLOT_DURATION_MS"] != uint64(400) {
		t.Fatalf("spec SLOTS_PER_EPOCH=%v SLOT_DURATION_MS=%v", sp.Data["SLOTS_PER_EPOCH"], sp.Data["SLOT_DURATION_MS"])
	}
	if sp.Data["DOMAIN_BEACON_ATTESTER"] != phase0.DomainType(eth.DomainBeaconAttester) {
		t.Fatalf("DOMAIN_BEACON_ATTESTER = %v", sp.Data["DOMAIN_BEACON_ATTESTER"])
	}
	fs, err := c.ForkSchedule(ctx, &api.ForkScheduleOpts{})
	if err != nil || len(fs.Data) != len(s.Forks) {
		t.Fatalf("ForkSchedule: %v %v", fs, err)
	}
	if _, err := c.DepositContract(ctx, &api.DepositContractOpts{}); err != nil {
		t.Fatalf("DepositContract: %v", err)
	}
	ver, err := c.NodeVersion(ctx, &api.NodeVersionOpts{})
	if err != nil || !strings.Contains(ver.Data, "phalanx-devnet") {
		t.Fatalf("NodeVersion: %v %v", ver, err)
	}
	if _, err := c.NodePeers(ctx, &api.NodePeersOpts{}); err != nil {
		t.Fatalf("NodePeers: %v", err)
	}

	// Head events arrive as blocks are imported.
	var mu sync.Mutex
	var heads []*apiv1.HeadEvent
	if err := c.Events(ctx, &api.EventsOpts{Topics: []string{"head"}, HeadHandler: func(_ context.Context, e *apiv1.HeadEvent) {
		mu.Lock()
		heads = append(heads, e)
		mu.Unlock()
	}}); err != nil {
		t.Fatalf("Events: %v", err)
	}

	vals, err := c.Validators(ctx, &api.ValidatorsOpts{State: "head", Indices: []phase0.ValidatorIndex{0, 5}})
	if err != nil || len(vals.Data) != 2 || vals.Data[5].Status != apiv1.ValidatorStateActiveOngoing {
		t.Fatalf("Validators: %v %v", vals, err)
	}
	byKey, err := c.Validators(ctx, &api.ValidatorsOpts{State: "head", PubKeys: []phase0.BLSPubKey{vals.Data[5].Validator.PublicKey}})
	if err != nil || len(byKey.Data) != 1 || byKey.Data[5] == nil {
		t.Fatalf("Validators by pubkey: %v %v", byKey, err)
	}

	// Find a slot of epoch 1 or 2 whose proposer is a cluster validator.
	var propSlot phase0.Slot
	var proposer phase0.ValidatorIndex
	for epoch := phase0.Epoch(1); epoch <= 2 && propSlot == 0; epoch++ {
		waitSlot(t, d, uint64(epoch)*8-8)
		pd, err := c.ProposerDuties(ctx, &api.ProposerDutiesOpts{Epoch: epoch})
		if err != nil {
			t.Fatalf("ProposerDuties: %v", err)
		}
		for _, duty := range pd.Data {
			if uint64(duty.ValidatorIndex) < 32 && uint64(duty.Slot) > d.Stats().Slot+1 {
				propSlot, proposer = duty.Slot, duty.ValidatorIndex
				break
			}
		}
	}
	if propSlot == 0 {
		t.Skip("no cluster proposer in epochs 1-2 with this genesis")
	}

	ad, err := c.AttesterDuties(ctx, &api.AttesterDutiesOpts{Epoch: 1, Indices: []phase0.ValidatorIndex{0, 1, 2, 3}})
	if err != nil || len(ad.Data) != 4 {
		t.Fatalf("AttesterDuties: %v %v", ad, err)
	}
	sd, err := c.SyncCommitteeDuties(ctx, &api.SyncCommitteeDutiesOpts{Epoch: 1, Indices: []phase0.ValidatorIndex{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}})
	if err != nil || len(sd.Data) == 0 {
		t.Fatalf("SyncCommitteeDuties: %v %v", sd, err)
	}

	// Attest for one cluster duty of epoch 1, then once more with a wrong key.
	duty := ad.Data[0]
	waitSlot(t, d, uint64(duty.Slot))
	data, err := c.AttestationData(ctx, &api.AttestationDataOpts{Slot: duty.Slot, CommitteeIndex: duty.CommitteeIndex})
	if err != nil {
		t.Fatalf("AttestationData: %v", err)
	}
	sig := signAttestation(t, &s, uint64(duty.ValidatorIndex), data.Data)
	att := singleAttestation(uint64(duty.ValidatorIndex), uint64(duty.CommitteeIndex), duty.CommitteeLength, duty.ValidatorCommitteeIndex, data.Data, sig)
	if err := c.SubmitAttestations(ctx, &api.SubmitAttestationsOpts{Attestations: []*spec.VersionedAttestation{att}}); err != nil {
		t.Fatalf("SubmitAttestations: %v", err)
	}
	wrong := signAttestation(t, &s, uint64(duty.ValidatorIndex)+1, data.Data)
	bad := singleAttestation(uint64(duty.ValidatorIndex), uint64(duty.CommitteeIndex), duty.CommitteeLength, duty.ValidatorCommitteeIndex, data.Data, wrong)
	err = c.SubmitAttestations(ctx, &api.SubmitAttestationsOpts{Attestations: []*spec.VersionedAttestation{bad}})
	var apiErr *api.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || !strings.Contains(string(apiErr.Data), "failures") {
		t.Fatalf("wrongly signed attestation: err = %v; want a 400 with failures", err)
	}

	// Propose the cluster's block: produce v3, sign, publish (SSZ).
	waitSlot(t, d, uint64(propSlot))
	sk, err := keys.InteropSecretKey(uint64(proposer))
	if err != nil {
		t.Fatal(err)
	}
	rr := s.RandaoSigningRoot(s.EpochAtSlot(uint64(propSlot)))
	var randao phase0.BLSSignature
	copy(randao[:], sk.Sign(rr[:]).Bytes())
	prop, err := c.Proposal(ctx, &api.ProposalOpts{Slot: propSlot, RandaoReveal: randao})
	if err != nil {
		t.Fatalf("Proposal: %v", err)
	}
	broot, err := eth.BlockRoot(prop.Data)
	if err != nil {
		t.Fatal(err)
	}
	br := s.BlockSigningRoot(uint64(propSlot), broot)
	var bsig phase0.BLSSignature
	copy(bsig[:], sk.Sign(br[:]).Bytes())
	signed := &api.VersionedSignedProposal{Version: spec.DataVersionElectra, Electra: &apiv1electra.SignedBlockContents{
		SignedBlock: &electra.SignedBeaconBlock{Message: prop.Data.Electra.Block, Signature: bsig},
		KZGProofs:   prop.Data.Electra.KZGProofs, Blobs: prop.Data.Electra.Blobs,
	}}
	if err := c.SubmitProposal(ctx, &api.SubmitProposalOpts{Proposal: signed}); err != nil {
		t.Fatalf("SubmitProposal: %v", err)
	}
	root, err := c.BeaconBlockRoot(ctx, &api.BeaconBlockRootOpts{Block: "head"})
	if err != nil || *root.Data != phase0.Root(broot) {
		t.Fatalf("head root = %v (%v); want the cluster's block %s", root, err, broot)
	}
	blk, err := c.SignedBeaconBlock(ctx, &api.SignedBeaconBlockOpts{Block: broot.String()})
	if err != nil || blk.Data.Electra.Signature != bsig {
		t.Fatalf("SignedBeaconBlock: %v", err)
	}
	hdr, err := c.BeaconBlockHeader(ctx, &api.BeaconBlockHeaderOpts{Block: "head"})
	if err != nil || hdr.Data.Header.Message.ProposerIndex != proposer {
		t.Fatalf("BeaconBlockHeader: %v %v", hdr, err)
	}
	live, err := c.ValidatorLiveness(ctx, &api.ValidatorLivenessOpts{Epoch: phase0.Epoch(s.EpochAtSlot(uint64(propSlot))), Indices: []phase0.ValidatorIndex{proposer}})
	if err != nil || len(live.Data) != 1 || !live.Data[0].IsLive {
		t.Fatalf("ValidatorLiveness: %v %v", live, err)
	}
	if _, err := c.Finality(ctx, &api.FinalityOpts{State: "head"}); err != nil {
		t.Fatalf("Finality: %v", err)
	}
	if _, err := c.Fork(ctx, &api.ForkOpts{State: "head"}); err != nil {
		t.Fatalf("Fork: %v", err)
	}
	st := d.Stats()
	if st.Totals.ClusterBlocks != 1 || st.Totals.ClusterAttestationsReceived != 1 || st.Totals.Rejected == 0 {
		t.Fatalf("stats totals = %+v", st.Totals)
	}
	waitFor(t, "head events", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, h := range heads {
			if h.Block == phase0.Root(broot) {
				return true
			}
		}
		return false
	})
	var _ eth2client.AttestationDataProvider = c
}

// interopKey is keys.InteropSecretKey.
var interopKey = keys.InteropSecretKey
