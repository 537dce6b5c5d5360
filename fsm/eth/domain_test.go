package eth

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/deneb"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/holiman/uint256"
)

// merkleize is an independent, deliberately plain SSZ merkleization: pad
// the chunk list with zero chunks to a power of two and hash pairs upwards.
func merkleize(chunks ...[]byte) [32]byte {
	layer := make([][32]byte, 1)
	for len(layer) < len(chunks) {
		layer = append(layer, layer...)
	}
	for i := range layer {
		layer[i] = [32]byte{}
		if i < len(chunks) {
			copy(layer[i][:], chunks[i]) // right-padded with zeros
		}
	}
	for len(layer) > 1 {
		next := make([][32]byte, len(layer)/2)
		for i := range next {
			next[i] = sha256.Sum256(append(layer[2*i][:], layer[2*i+1][:]...))
		}
		layer = next
	}
	return layer[0]
}

func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// handDomain recomputes compute_domain from its definition with merkleize.
func handDomain(dt DomainType, v Version, gvr Root) Domain {
	fdr := merkleize(v[:], gvr[:])
	var d Domain
	copy(d[:], append(dt[:], fdr[:28]...))
	return d
}

func TestComputeDomainIndependent(t *testing.T) {
	gvrs := []Root{{}, mainnetGenesisValidatorsRoot, {0xff, 1, 2, 3}}
	versions := []Version{{}, {1, 0, 0, 0}, {0, 0, 0, 1}, {0xde, 0xad, 0xbe, 0xef}}
	types := []DomainType{DomainBeaconProposer, DomainBeaconAttester, DomainRandao, DomainDeposit,
		DomainVoluntaryExit, DomainSelectionProof, DomainAggregateAndProof, DomainSyncCommittee,
		DomainSyncCommitteeSelectionProof, DomainContributionAndProof, DomainApplicationBuilder}
	for _, gvr := range gvrs {
		for _, v := range versions {
			lib, err := (&phase0.ForkData{CurrentVersion: phase0.Version(v), GenesisValidatorsRoot: phase0.Root(gvr)}).HashTreeRoot()
			if err != nil {
				t.Fatalf("ForkData.HashTreeRoot: %v", err)
			}
			if got := ComputeForkDataRoot(v, gvr); got != Root(lib) || got != Root(merkleize(v[:], gvr[:])) {
				t.Fatalf("ComputeForkDataRoot(%s, %s) = %s, library %x", v, gvr, got, lib)
			}
			for _, dt := range types {
				if got, want := ComputeDomain(dt, v, gvr), handDomain(dt, v, gvr); got != want {
					t.Fatalf("ComputeDomain(%s, %s, %s) = %s, want %s", dt, v, gvr, got, want)
				}
			}
		}
	}
}

func TestDomainTypeValues(t *testing.T) {
	// phase0/altair beacon-chain.md and builder-specs constants.
	for _, c := range []struct {
		dt   DomainType
		want string
	}{
		{DomainBeaconProposer, "0x00000000"}, {DomainBeaconAttester, "0x01000000"},
		{DomainRandao, "0x02000000"}, {DomainDeposit, "0x03000000"}, {DomainVoluntaryExit, "0x04000000"},
		{DomainSelectionProof, "0x05000000"}, {DomainAggregateAndProof, "0x06000000"},
		{DomainSyncCommittee, "0x07000000"}, {DomainSyncCommitteeSelectionProof, "0x08000000"},
		{DomainContributionAndProof, "0x09000000"}, {DomainApplicationBuilder, "0x00000001"},
	} {
		if c.dt.String() != c.want {
			t.Errorf("domain type %s, want %s", c.dt, c.want)
		}
	}
}

// TestMainnetForkDigests checks the fork data roots of mainnet against the
// fork digests every mainnet node advertises (ENR eth2 field and gossip
// topics /eth2/<digest>/...): compute_fork_digest is the first 4 bytes of
// compute_fork_data_root up to Electra. This pins both the fork versions
// and the genesis validators root.
func TestMainnetForkDigests(t *testing.T) {
	s := MainnetSpec()
	want := map[string]string{
		ForkPhase0: "b5303f2a", ForkAltair: "afcaaba0", ForkBellatrix: "4a26c58b",
		ForkCapella: "bba4da96", ForkDeneb: "6a95a1a9", ForkElectra: "ad532ceb",
	}
	for name, digest := range want {
		f, ok := s.forkByName(name)
		if !ok {
			t.Fatalf("no %s fork", name)
		}
		r := ComputeForkDataRoot(f.Version, s.GenesisValidatorsRoot)
		if !bytes.Equal(r[:4], mustHex(t, digest)) {
			t.Errorf("%s fork digest = %x, want %s", name, r[:4], digest)
		}
	}
}

func TestDomainExceptions(t *testing.T) {
	s := MainnetSpec()
	// Builder and deposit domains: genesis fork version, zero root. The
	// mainnet builder domain is the one mev-boost and relays use.
	builder := "0x00000001f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a9"
	deposit := "0x03000000f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a9"
	for _, epoch := range []uint64{0, 200000, 400000, FarFutureEpoch} {
		if got := s.Domain(DomainApplicationBuilder, epoch).String(); got != builder {
			t.Errorf("builder domain at %d = %s, want %s", epoch, got, builder)
		}
		if got := s.Domain(DomainDeposit, epoch).String(); got != deposit {
			t.Errorf("deposit domain at %d = %s, want %s", epoch, got, deposit)
		}
	}
	// EIP-7044: from Deneb on, voluntary exits use the Capella version.
	capella := ComputeDomain(DomainVoluntaryExit, Version{3, 0, 0, 0}, s.GenesisValidatorsRoot)
	if !bytes.HasPrefix(capella[:], mustHex(t, "04000000bba4da96")) {
		t.Fatalf("capella exit domain %s does not carry the capella digest", capella)
	}
	for _, c := range []struct {
		epoch uint64
		want  Domain
	}{
		{0, ComputeDomain(DomainVoluntaryExit, Version{0, 0, 0, 0}, s.GenesisValidatorsRoot)},
		{144896, ComputeDomain(DomainVoluntaryExit, Version{2, 0, 0, 0}, s.GenesisValidatorsRoot)},
		{194048, capella},
		{269567, capella},
		{269568, capella},
		{364032, capella},
		{411392, capella},
		{FarFutureEpoch, capella},
	} {
		if got := s.Domain(DomainVoluntaryExit, c.epoch); got != c.want {
			t.Errorf("exit domain at epoch %d = %s, want %s", c.epoch, got, c.want)
		}
	}
	// Every other domain follows the fork at the epoch.
	if got, want := s.Domain(DomainBeaconAttester, 364032), ComputeDomain(DomainBeaconAttester, Version{5, 0, 0, 0}, s.GenesisValidatorsRoot); got != want {
		t.Errorf("electra attester domain = %s, want %s", got, want)
	}
	if got, want := s.Domain(DomainRandao, 364031), ComputeDomain(DomainRandao, Version{4, 0, 0, 0}, s.GenesisValidatorsRoot); got != want {
		t.Errorf("last deneb epoch randao domain = %s, want %s", got, want)
	}
	// Minimal has no Deneb scheduled: exits keep the phase0 version.
	m := MinimalSpec()
	if got, want := m.Domain(DomainVoluntaryExit, 1000), ComputeDomain(DomainVoluntaryExit, Version{0, 0, 0, 1}, Root{}); got != want {
		t.Errorf("minimal exit domain = %s, want %s", got, want)
	}
}

// libSigningRoot is compute_signing_root through the library SigningData.
func libSigningRoot(t *testing.T, objectRoot [32]byte, d Domain) Root {
	t.Helper()
	r, err := (&phase0.SigningData{ObjectRoot: objectRoot, Domain: phase0.Domain(d)}).HashTreeRoot()
	if err != nil {
		t.Fatalf("SigningData.HashTreeRoot: %v", err)
	}
	return r
}

func htr(t *testing.T, o interface{ HashTreeRoot() ([32]byte, error) }) [32]byte {
	t.Helper()
	r, err := o.HashTreeRoot()
	if err != nil {
		t.Fatalf("%T.HashTreeRoot: %v", o, err)
	}
	return r
}

func TestSigningRoots(t *testing.T) {
	for _, s := range []*Spec{MainnetSpec(), MinimalSpec()} {
		t.Run(s.ConfigName, func(t *testing.T) {
			for _, slot := range []uint64{0, 31, 32, 74240 * 32, 269568*32 - 1, 364032 * 32, 411392*32 + 5} {
				epoch := s.EpochAtSlot(slot)
				blockRoot := Root(sha256.Sum256(le64(slot)))

				data := &phase0.AttestationData{
					Slot: phase0.Slot(slot), Index: 3, BeaconBlockRoot: phase0.Root(blockRoot),
					Source: &phase0.Checkpoint{Epoch: phase0.Epoch(epoch / 2), Root: phase0.Root{1}},
					Target: &phase0.Checkpoint{Epoch: phase0.Epoch(epoch), Root: phase0.Root{2}},
				}
				got, err := s.AttestationSigningRoot(data)
				if err != nil {
					t.Fatalf("AttestationSigningRoot: %v", err)
				}
				viaCompute, err := ComputeSigningRoot(data, s.Domain(DomainBeaconAttester, epoch))
				if err != nil {
					t.Fatalf("ComputeSigningRoot: %v", err)
				}
				if want := libSigningRoot(t, htr(t, data), s.Domain(DomainBeaconAttester, epoch)); got != want || viaCompute != want {
					t.Fatalf("attestation signing root %s, via ComputeSigningRoot %s, want %s", got, viaCompute, want)
				}

				if got, want := s.BlockSigningRoot(slot, blockRoot), libSigningRoot(t, blockRoot, s.Domain(DomainBeaconProposer, epoch)); got != want {
					t.Fatalf("block signing root %s, want %s", got, want)
				}
				if got, want := s.RandaoSigningRoot(epoch), libSigningRoot(t, merkleize(le64(epoch)), s.Domain(DomainRandao, epoch)); got != want {
					t.Fatalf("randao signing root %s, want %s", got, want)
				}
				if got, want := s.SelectionProofSigningRoot(slot), libSigningRoot(t, merkleize(le64(slot)), s.Domain(DomainSelectionProof, epoch)); got != want {
					t.Fatalf("selection proof signing root %s, want %s", got, want)
				}
				agg := &electra.AggregateAndProof{AggregatorIndex: 7, Aggregate: &electra.Attestation{
					AggregationBits: []byte{0x03}, Data: data, CommitteeBits: []byte{1, 0, 0, 0, 0, 0, 0, 0},
				}}
				aggRoot := Root(htr(t, agg))
				if got, want := s.AggregateAndProofSigningRoot(slot, aggRoot), libSigningRoot(t, aggRoot, s.Domain(DomainAggregateAndProof, epoch)); got != want {
					t.Fatalf("aggregate and proof signing root %s, want %s", got, want)
				}
				if got, want := s.SyncCommitteeMessageSigningRoot(slot, blockRoot), libSigningRoot(t, blockRoot, s.Domain(DomainSyncCommittee, epoch)); got != want {
					t.Fatalf("sync committee message signing root %s, want %s", got, want)
				}
				sel := &altair.SyncAggregatorSelectionData{Slot: phase0.Slot(slot), SubcommitteeIndex: 2}
				if got, want := s.SyncSelectionProofSigningRoot(slot, 2), libSigningRoot(t, htr(t, sel), s.Domain(DomainSyncCommitteeSelectionProof, epoch)); got != want {
					t.Fatalf("sync selection proof signing root %s, want %s", got, want)
				}
				contrib := &altair.ContributionAndProof{AggregatorIndex: 9, Contribution: &altair.SyncCommitteeContribution{
					Slot: phase0.Slot(slot), BeaconBlockRoot: phase0.Root(blockRoot), SubcommitteeIndex: 1,
					AggregationBits: make([]byte, 16),
				}}
				contribRoot := Root(htr(t, contrib))
				if got, want := s.ContributionAndProofSigningRoot(slot, contribRoot), libSigningRoot(t, contribRoot, s.Domain(DomainContributionAndProof, epoch)); got != want {
					t.Fatalf("contribution and proof signing root %s, want %s", got, want)
				}
				exit := &phase0.VoluntaryExit{Epoch: phase0.Epoch(epoch), ValidatorIndex: 123456}
				if got, want := s.VoluntaryExitSigningRoot(exit), libSigningRoot(t, htr(t, exit), s.Domain(DomainVoluntaryExit, epoch)); got != want {
					t.Fatalf("voluntary exit signing root %s, want %s", got, want)
				}
			}
		})
	}
}

func TestValidatorRegistrationSigningRoot(t *testing.T) {
	s := MainnetSpec()
	reg := &apiv1.ValidatorRegistration{
		FeeRecipient: [20]byte{0xab, 0xcd},
		GasLimit:     36_000_000,
		Timestamp:    time.Unix(1_700_000_000, 0),
		Pubkey:       phase0.BLSPubKey{0xa9, 0x9a},
	}
	got, err := s.ValidatorRegistrationSigningRoot(reg)
	if err != nil {
		t.Fatalf("ValidatorRegistrationSigningRoot: %v", err)
	}
	// builder-specs: ValidatorRegistrationV1{fee_recipient: Bytes20,
	// gas_limit: uint64, timestamp: uint64, pubkey: BLSPubkey (48 bytes, two
	// chunks)}.
	pubkey := merkleize(reg.Pubkey[:32], reg.Pubkey[32:])
	obj := merkleize(reg.FeeRecipient[:], le64(reg.GasLimit), le64(uint64(reg.Timestamp.Unix())), pubkey[:])
	builder := ComputeDomain(DomainApplicationBuilder, Version{}, Root{})
	if want := libSigningRoot(t, obj, builder); got != want {
		t.Fatalf("registration signing root %s, want %s", got, want)
	}
	if _, err := s.ValidatorRegistrationSigningRoot(nil); !errors.Is(err, ErrNilObject) {
		t.Errorf("nil registration: %v", err)
	}
}

func TestSigningRootNilInputs(t *testing.T) {
	s := MainnetSpec()
	if _, err := s.AttestationSigningRoot(nil); !errors.Is(err, ErrNilObject) {
		t.Errorf("nil attestation data: %v", err)
	}
	if _, err := s.AttestationSigningRoot(&phase0.AttestationData{Source: &phase0.Checkpoint{}}); !errors.Is(err, ErrNilObject) {
		t.Errorf("attestation data without target: %v", err)
	}
	var nilData *phase0.AttestationData
	if _, err := ComputeSigningRoot(nilData, Domain{}); !errors.Is(err, ErrNilObject) {
		t.Errorf("typed nil object: %v", err)
	}
	if _, err := ComputeSigningRoot(nil, Domain{}); !errors.Is(err, ErrNilObject) {
		t.Errorf("nil object: %v", err)
	}
}

func TestBlockRootTypes(t *testing.T) {
	header := &phase0.BeaconBlockHeader{Slot: 5, ProposerIndex: 1, ParentRoot: phase0.Root{1}, StateRoot: phase0.Root{2}}
	block := &electra.BeaconBlock{Slot: 5, ProposerIndex: 1, ParentRoot: phase0.Root{1}, StateRoot: phase0.Root{2}}
	block.Body = &electra.BeaconBlockBody{
		ETH1Data:          &phase0.ETH1Data{BlockHash: make([]byte, 32)},
		SyncAggregate:     &altair.SyncAggregate{SyncCommitteeBits: make([]byte, 64)},
		ExecutionPayload:  &deneb.ExecutionPayload{BaseFeePerGas: uint256.NewInt(7)},
		ExecutionRequests: &electra.ExecutionRequests{},
	}
	header.BodyRoot = htr(t, block.Body)
	want := Root(htr(t, header))
	got, err := BlockRoot(block)
	if err != nil || got != want {
		t.Fatalf("BlockRoot(electra block) = %s, %v; want header root %s", got, err, want)
	}
	versioned := &spec.VersionedBeaconBlock{Version: spec.DataVersionFulu, Fulu: block}
	if got, err := BlockRoot(versioned); err != nil || got != want {
		t.Fatalf("BlockRoot(versioned fulu) = %s, %v; want %s", got, err, want)
	}
	for _, bad := range []any{nil, (*electra.BeaconBlock)(nil)} {
		if _, err := BlockRoot(bad); !errors.Is(err, ErrNilObject) {
			t.Errorf("BlockRoot(%T) err = %v, want ErrNilObject", bad, err)
		}
	}
	for _, bad := range []any{&electra.SignedBeaconBlock{Message: block}, "block", data0()} {
		if _, err := BlockRoot(bad); !errors.Is(err, ErrUnsupportedBlock) {
			t.Errorf("BlockRoot(%T) err = %v, want ErrUnsupportedBlock", bad, err)
		}
	}
}

func data0() *phase0.AttestationData {
	return &phase0.AttestationData{Source: &phase0.Checkpoint{}, Target: &phase0.Checkpoint{}}
}
