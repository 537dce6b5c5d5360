package fsm

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/phalanx-eth/phalanx/threshold/keys"
)

// keyPool hands out valid BLS public keys derived from the public interop keys, computed once per process.
var keyPool struct {
	mu   sync.Mutex
	keys map[uint64][48]byte
}

// interopPubkey returns the public key of interop validator i.
func interopPubkey(t testing.TB, i uint64) [48]byte {
	t.Helper()
	keyPool.mu.Lock()
	defer keyPool.mu.Unlock()
	if pk, ok := keyPool.keys[i]; ok {
		return pk
	}
	sk, err := keys.InteropSecretKey(i)
	if err != nil {
		t.Fatalf("interop key %d: %v", i, err)
	}
	var pk [48]byte
	copy(pk[:], sk.PublicKey().Bytes())
	if keyPool.keys == nil {
		keyPool.keys = make(map[uint64][48]byte)
	}
	keyPool.keys[i] = pk
	return pk
}

// groupKey is the group public key of test validator v (v >= 1): interop key v-1, so that the public
// slashing-protection vectors (which use interop keys) talk about the same validators.
func groupKey(t testing.TB, v uint64) [48]byte { return interopPubkey(t, v-1) }

// shareKey is the public key of share i (1-based) of test validator v; any valid key will do for the state
// machine, which never sees secret shares.
func shareKey(t testing.TB, v, i uint64) [48]byte { return interopPubkey(t, 100000+v*MaxShares+i) }

// addEntry registers test validator v with n shares and threshold th.
func addEntry(t testing.TB, v uint64, th uint8, n int, index uint64) *ValidatorAdd {
	a := &ValidatorAdd{Pubkey: groupKey(t, v), Threshold: th, ValidatorIndex: index}
	for i := 1; i <= n; i++ {
		a.SharePubkeys = append(a.SharePubkeys, shareKey(t, v, uint64(i)))
	}
	return a
}

// testConfig is a chain with 8 slots per epoch and altair scheduled at epoch 2.
func testConfig(gvr [32]byte) *ChainConfig {
	return &ChainConfig{
		GenesisTime:           1_600_000_000,
		GenesisValidatorsRoot: gvr,
		GenesisForkVersion:    [4]byte{0, 0, 0, 1},
		Forks: []ForkSchedule{
			{Version: [4]byte{0, 0, 0, 1}, Epoch: 0},
			{Version: [4]byte{1, 0, 0, 1}, Epoch: 2},
		},
		SecondsPerSlot: 6,
		SlotsPerEpoch:  8,
	}
}

// attestationDuty builds an attestation batch for the given keys and indices.
func attestationDuty(t testing.TB, slot, src, tgt uint64, head byte, pks [][48]byte, idx []uint64) *Duty {
	t.Helper()
	ad := &phase0.AttestationData{
		Slot:            phase0.Slot(slot),
		Index:           0,
		BeaconBlockRoot: phase0.Root{head},
		Source:          &phase0.Checkpoint{Epoch: phase0.Epoch(src), Root: phase0.Root{byte(src), 0xaa}},
		Target:          &phase0.Checkpoint{Epoch: phase0.Epoch(tgt), Root: phase0.Root{byte(tgt), 0xbb}},
	}
	data, err := ad.MarshalSSZ()
	if err != nil {
		t.Fatalf("marshal attestation data: %v", err)
	}
	d := &Duty{Kind: DutyAttestation, Slot: slot, Epoch: tgt, Data: data}
	for i, pk := range pks {
		d.Items = append(d.Items, DutyItem{Pubkey: pk, ValidatorIndex: idx[i]})
	}
	return d
}

// proposalDuty builds a proposal for one validator; body selects the block body root (so different bodies give
// different blocks at the same slot).
func proposalDuty(t testing.TB, kind DutyKind, slot uint64, body byte, pk [48]byte, index uint64) *Duty {
	t.Helper()
	h := &phase0.BeaconBlockHeader{
		Slot:          phase0.Slot(slot),
		ProposerIndex: phase0.ValidatorIndex(index),
		ParentRoot:    phase0.Root{0x01},
		StateRoot:     phase0.Root{0x02},
		BodyRoot:      phase0.Root{body},
	}
	data, err := h.MarshalSSZ()
	if err != nil {
		t.Fatalf("marshal block header: %v", err)
	}
	return &Duty{Kind: kind, Slot: slot, Epoch: slot / 8, Data: data, Items: []DutyItem{{Pubkey: pk, ValidatorIndex: index}}}
}

// mustEncode encodes e or fails the test.
func mustEncode(t testing.TB, e Entry) []byte {
	t.Helper()
	b, err := Encode(e)
	if err != nil {
		t.Fatalf("encode %T: %v", e, err)
	}
	return b
}

// sharedTestdata returns ../shared/testdata relative to the module root, or skips the test.
func sharedTestdata(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("module root (go.mod) not found; cannot locate ../shared/testdata")
		}
		dir = parent
	}
	td := filepath.Join(dir, "..", "shared", "testdata")
	if _, err := os.Stat(td); err != nil {
		t.Skipf("third-party vectors not found at %s: %v", td, err)
	}
	return td
}
