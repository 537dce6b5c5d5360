package eth

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"gopkg.in/yaml.v3"
)

// sszObject is what every fastssz-generated container offers.
type sszObject interface {
	MarshalSSZ() ([]byte, error)
	UnmarshalSSZ([]byte) error
	HashTreeRoot() ([32]byte, error)
}

// phase0Type is a phase0 ssz_static type and the go-eth2-client container
// that decodes it.
type phase0Type struct {
	name string
	new  func() sszObject
	// presetFree is true when the container's sizes are the same under the
	// mainnet and minimal presets, so the minimal vectors apply to the
	// mainnet-sized go-eth2-client type.
	presetFree bool
}

// phase0Types lists the phase0 containers go-eth2-client defines. Eth1Block
// and HistoricalBatch have no go-eth2-client type and are not run.
// BeaconState is the only one whose sizes depend on the preset
// (SLOTS_PER_HISTORICAL_ROOT, EPOCHS_PER_HISTORICAL_VECTOR,
// EPOCHS_PER_SLASHINGS_VECTOR, EPOCHS_PER_ETH1_VOTING_PERIOD, SLOTS_PER_EPOCH);
// every other list limit (MAX_VALIDATORS_PER_COMMITTEE and the block
// operation maxima) is equal in both phase0 presets.
var phase0Types = []phase0Type{
	{"AggregateAndProof", func() sszObject { return &phase0.AggregateAndProof{} }, true},
	{"Attestation", func() sszObject { return &phase0.Attestation{} }, true},
	{"AttestationData", func() sszObject { return &phase0.AttestationData{} }, true},
	{"AttesterSlashing", func() sszObject { return &phase0.AttesterSlashing{} }, true},
	{"BeaconBlock", func() sszObject { return &phase0.BeaconBlock{} }, true},
	{"BeaconBlockBody", func() sszObject { return &phase0.BeaconBlockBody{} }, true},
	{"BeaconBlockHeader", func() sszObject { return &phase0.BeaconBlockHeader{} }, true},
	{"BeaconState", func() sszObject { return &phase0.BeaconState{} }, false},
	{"Checkpoint", func() sszObject { return &phase0.Checkpoint{} }, true},
	{"Deposit", func() sszObject { return &phase0.Deposit{} }, true},
	{"DepositData", func() sszObject { return &phase0.DepositData{} }, true},
	{"DepositMessage", func() sszObject { return &phase0.DepositMessage{} }, true},
	{"Eth1Data", func() sszObject { return &phase0.ETH1Data{} }, true},
	{"Fork", func() sszObject { return &phase0.Fork{} }, true},
	{"ForkData", func() sszObject { return &phase0.ForkData{} }, true},
	{"IndexedAttestation", func() sszObject { return &phase0.IndexedAttestation{} }, true},
	{"PendingAttestation", func() sszObject { return &phase0.PendingAttestation{} }, true},
	{"ProposerSlashing", func() sszObject { return &phase0.ProposerSlashing{} }, true},
	{"SignedAggregateAndProof", func() sszObject { return &phase0.SignedAggregateAndProof{} }, true},
	{"SignedBeaconBlock", func() sszObject { return &phase0.SignedBeaconBlock{} }, true},
	{"SignedBeaconBlockHeader", func() sszObject { return &phase0.SignedBeaconBlockHeader{} }, true},
	{"SignedVoluntaryExit", func() sszObject { return &phase0.SignedVoluntaryExit{} }, true},
	{"SigningData", func() sszObject { return &phase0.SigningData{} }, true},
	{"Validator", func() sszObject { return &phase0.Validator{} }, true},
	{"VoluntaryExit", func() sszObject { return &phase0.VoluntaryExit{} }, true},
}

// sszCase is one ssz_static case folder.
type sszCase struct {
	name string
	dir  string
}

// sszCases lists handler/case folders under an ssz_static type folder.
func sszCases(t *testing.T, typeDir string) []sszCase {
	t.Helper()
	handlers, err := os.ReadDir(typeDir)
	if err != nil {
		t.Fatalf("read %s: %v", typeDir, err)
	}
	var out []sszCase
	for _, h := range handlers {
		cases, err := os.ReadDir(filepath.Join(typeDir, h.Name()))
		if err != nil {
			t.Fatalf("read handler %s: %v", h.Name(), err)
		}
		for _, c := range cases {
			out = append(out, sszCase{name: h.Name() + "/" + c.Name(), dir: filepath.Join(typeDir, h.Name(), c.Name())})
		}
	}
	return out
}

// readRoot reads the root of roots.yaml in dir.
func readRoot(t *testing.T, dir string) Root {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "roots.yaml"))
	if err != nil {
		t.Fatalf("read roots.yaml: %v", err)
	}
	var r struct {
		Root string `yaml:"root"`
	}
	if err := yaml.Unmarshal(raw, &r); err != nil {
		t.Fatalf("parse roots.yaml: %v", err)
	}
	return mustRoot(t, r.Root)
}

func TestPhase0SSZStatic(t *testing.T) {
	base := vectorDir(t, "consensus-spec-tests-v1.0.1", "tests")
	total := 0
	for _, preset := range []string{"mainnet", "minimal"} {
		for _, typ := range phase0Types {
			if preset == "minimal" && !typ.presetFree {
				// go-eth2-client types are mainnet-sized.
				continue
			}
			typeDir := filepath.Join(base, preset, "phase0", "ssz_static", typ.name)
			if _, err := os.Stat(typeDir); err != nil {
				t.Errorf("%s/%s: vectors missing: %v", preset, typ.name, err)
				continue
			}
			for _, c := range sszCases(t, typeDir) {
				total++
				t.Run(preset+"/"+typ.name+"/"+c.name, func(t *testing.T) {
					serialized, err := os.ReadFile(filepath.Join(c.dir, "serialized.ssz"))
					if err != nil {
						t.Fatalf("read serialized.ssz: %v", err)
					}
					want := readRoot(t, c.dir)
					obj := typ.new()
					if err := obj.UnmarshalSSZ(serialized); err != nil {
						t.Fatalf("UnmarshalSSZ: %v", err)
					}
					again, err := obj.MarshalSSZ()
					if err != nil {
						t.Fatalf("MarshalSSZ: %v", err)
					}
					if !bytes.Equal(again, serialized) {
						t.Fatalf("MarshalSSZ is not byte-identical: %d bytes, want %d", len(again), len(serialized))
					}
					got, err := obj.HashTreeRoot()
					if err != nil {
						t.Fatalf("HashTreeRoot: %v", err)
					}
					if Root(got) != want {
						t.Fatalf("HashTreeRoot = %x, want %x", got, want)
					}
					checkBlockRootConsistency(t, obj, want)
				})
			}
		}
	}
	t.Logf("%d ssz_static cases", total)
}

// checkBlockRootConsistency checks BlockRoot on the block-like vectors: a
// block's root equals the root of its header (so BlockSigningRoot can take
// either), and signed containers are refused.
func checkBlockRootConsistency(t *testing.T, obj sszObject, want Root) {
	t.Helper()
	switch b := obj.(type) {
	case *phase0.BeaconBlock:
		got, err := BlockRoot(b)
		if err != nil || got != want {
			t.Fatalf("BlockRoot(block) = %x, %v; want %x", got, err, want)
		}
		bodyRoot, err := b.Body.HashTreeRoot()
		if err != nil {
			t.Fatalf("body root: %v", err)
		}
		header := &phase0.BeaconBlockHeader{
			Slot: b.Slot, ProposerIndex: b.ProposerIndex, ParentRoot: b.ParentRoot,
			StateRoot: b.StateRoot, BodyRoot: bodyRoot,
		}
		if got, err := BlockRoot(header); err != nil || got != want {
			t.Fatalf("BlockRoot(header of block) = %x, %v; want %x", got, err, want)
		}
	case *phase0.BeaconBlockHeader:
		if got, err := BlockRoot(b); err != nil || got != want {
			t.Fatalf("BlockRoot(header) = %x, %v; want %x", got, err, want)
		}
	case *phase0.SignedBeaconBlock, *phase0.SignedBeaconBlockHeader:
		if _, err := BlockRoot(b); !errors.Is(err, ErrUnsupportedBlock) {
			t.Fatalf("BlockRoot(%T) err = %v, want ErrUnsupportedBlock", b, err)
		}
	}
}
