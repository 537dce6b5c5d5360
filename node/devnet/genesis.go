package devnet

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/phalanx-eth/phalanx/fsm/eth"
	"github.com/phalanx-eth/phalanx/threshold"
	"github.com/phalanx-eth/phalanx/threshold/keys"
)

// Genesis constants of the devnet.
const (
	// effectiveBalance is every validator's effective (and actual) balance.
	effectiveBalance = 32_000_000_000
	// registryLimitDepth is log2(VALIDATOR_REGISTRY_LIMIT).
	registryLimitDepth = 40
	// syncCommitteeSize is SYNC_COMMITTEE_SIZE of the mainnet preset, which
	// go-eth2-client's SSZ types are sized for.
	syncCommitteeSize = 512
	// depositChainID is the chain id served with the deposit contract.
	depositChainID = 1337803
)

// genesisEth1BlockHash seeds every RANDAO mix at genesis (the interop
// genesis uses a block hash of 0x42 bytes).
var genesisEth1BlockHash = [32]byte{
	0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
	0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
}

// depositContractAddress is the (unused) deposit contract address served by
// /eth/v1/config/deposit_contract.
var depositContractAddress = [20]byte{0x42, 0x42, 0x42, 0x42, 0x70, 0x68, 0x78}

// forkVersion returns the devnet's version of the k-th fork (phase0 = 0):
// k || "phx". No public network uses these.
func forkVersion(k int) eth.Version { return eth.Version{byte(k), 0x70, 0x68, 0x78} }

// validatorKey is one interop validator: its index, keys and registry entry.
type validatorKey struct {
	index  uint64
	sk     *threshold.SecretKey
	pk     *threshold.PublicKey
	pubkey phase0.BLSPubKey
	entry  *phase0.Validator
}

// interopValidators derives the keys and registry entries of n validators.
func interopValidators(n int) ([]*validatorKey, error) {
	out := make([]*validatorKey, n)
	for i := range out {
		sk, err := keys.InteropSecretKey(uint64(i))
		if err != nil {
			return nil, fmt.Errorf("interop validator %d: %w", i, err)
		}
		pk := sk.PublicKey()
		v := &validatorKey{index: uint64(i), sk: sk, pk: pk}
		copy(v.pubkey[:], pk.Bytes())
		wc := sha256.Sum256(v.pubkey[:])
		wc[0] = 0x00 // BLS_WITHDRAWAL_PREFIX
		v.entry = &phase0.Validator{
			PublicKey:                  v.pubkey,
			WithdrawalCredentials:      wc[:],
			EffectiveBalance:           effectiveBalance,
			ActivationEligibilityEpoch: 0,
			ActivationEpoch:            0,
			ExitEpoch:                  phase0.Epoch(eth.FarFutureEpoch),
			WithdrawableEpoch:          phase0.Epoch(eth.FarFutureEpoch),
		}
		out[i] = v
	}
	return out, nil
}

// registryRoot returns hash_tree_root(List[Validator, 2**40]) of vals: the
// genesis_validators_root.
func registryRoot(vals []*validatorKey) (eth.Root, error) {
	layer := make([][32]byte, len(vals))
	for i, v := range vals {
		r, err := v.entry.HashTreeRoot()
		if err != nil {
			return eth.Root{}, fmt.Errorf("validator %d root: %w", i, err)
		}
		layer[i] = r
	}
	var zero [32]byte // zero-subtree root at the current depth
	for d := 0; d < registryLimitDepth; d++ {
		if len(layer)%2 == 1 {
			layer = append(layer, zero)
		}
		next := make([][32]byte, len(layer)/2)
		for i := range next {
			next[i] = hashPair(layer[2*i], layer[2*i+1])
		}
		layer = next
		zero = hashPair(zero, zero)
	}
	root := zero
	if len(layer) == 1 {
		root = layer[0]
	}
	var length [32]byte
	binary.LittleEndian.PutUint64(length[:8], uint64(len(vals)))
	return hashPair(root, length), nil
}

// hashPair returns sha256(a || b).
func hashPair(a, b [32]byte) [32]byte {
	var buf [64]byte
	copy(buf[:32], a[:])
	copy(buf[32:], b[:])
	return sha256.Sum256(buf[:])
}

// buildSpec returns the chain parameters of a devnet with config c (defaults
// applied) and genesis validators root gvr.
func buildSpec(c Config, gvr eth.Root) *eth.Spec {
	s := eth.MinimalSpec()
	s.ConfigName = "phalanx-devnet"
	s.SlotsPerEpoch = c.SlotsPerEpoch
	s.SecondsPerSlot = max(1, uint64(c.SlotDuration/time.Second))
	s.GenesisTime = uint64(c.GenesisTime.Unix())
	s.GenesisValidatorsRoot = gvr
	s.SyncCommitteeSize = syncCommitteeSize
	s.GenesisForkVersion = forkVersion(0)
	active := true
	for k := range s.Forks {
		s.Forks[k].Version = forkVersion(k)
		if active {
			s.Forks[k].Epoch = 0
		} else {
			s.Forks[k].Epoch = eth.FarFutureEpoch
		}
		if s.Forks[k].Name == c.Fork {
			active = false
		}
	}
	return s
}
