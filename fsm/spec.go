package fsm

import (
	"fmt"

	"github.com/phalanx-eth/phalanx/fsm/eth"
)

// forkNames names the fork-schedule positions of a ChainConfig: Forks[i] is the i-th fork of the Ethereum fork
// order, phase0 first.
var forkNames = []string{eth.ForkPhase0, eth.ForkAltair, eth.ForkBellatrix, eth.ForkCapella, eth.ForkDeneb, eth.ForkElectra, eth.ForkFulu}

// minimalSlotsPerEpoch is SLOTS_PER_EPOCH of the consensus-specs minimal preset.
const minimalSlotsPerEpoch = 8

// specFromConfig builds the eth.Spec a ChainConfig describes and validates it.
//
// The entry carries the chain's genesis, slot timing and fork schedule; the preset values it does not carry
// (committee sizes, shuffling rounds, ...) are those of the minimal preset when SlotsPerEpoch is 8 and of the
// mainnet preset otherwise — except SYNC_COMMITTEE_SIZE, which is always the mainnet 512: the spec containers
// every beacon-node client in Go decodes (go-eth2-client's SyncAggregate, SyncCommitteeContribution) are
// fixed to it, so a chain this node can follow has it. Signing roots depend only on the values the entry carries.
func specFromConfig(c *ChainConfig) (*eth.Spec, error) {
	if len(c.Forks) > len(forkNames) {
		return nil, fmt.Errorf("fork schedule has %d forks; this node knows %d (%s..%s)",
			len(c.Forks), len(forkNames), forkNames[0], forkNames[len(forkNames)-1])
	}
	spec := eth.MainnetSpec()
	if c.SlotsPerEpoch == minimalSlotsPerEpoch {
		spec = eth.MinimalSpec()
		spec.SyncCommitteeSize = eth.MainnetSpec().SyncCommitteeSize
	}
	spec.ConfigName = ""
	spec.SecondsPerSlot = c.SecondsPerSlot
	spec.SlotsPerEpoch = c.SlotsPerEpoch
	spec.GenesisTime = c.GenesisTime
	spec.GenesisForkVersion = eth.Version(c.GenesisForkVersion)
	spec.GenesisValidatorsRoot = eth.Root(c.GenesisValidatorsRoot)
	spec.Forks = make([]eth.Fork, len(c.Forks))
	for i, f := range c.Forks {
		spec.Forks[i] = eth.Fork{Name: forkNames[i], Version: eth.Version(f.Version), Epoch: f.Epoch}
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	return spec, nil
}
