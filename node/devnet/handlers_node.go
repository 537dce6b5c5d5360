package devnet

import (
	"fmt"
	"net/http"
	"strconv"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/phalanx-eth/phalanx/fsm/eth"
)

func (d *Devnet) handleNodeVersion(w http.ResponseWriter, _ *http.Request) {
	writeData(w, map[string]string{"version": nodeVersion})
}

func (d *Devnet) handleNodeSyncing(w http.ResponseWriter, _ *http.Request) {
	d.mu.Lock()
	head := d.c.head().slot
	cur := d.c.currentSlot()
	d.mu.Unlock()
	syncing := d.syncing.Load()
	distance := cur - head
	if syncing {
		// A syncing node is behind: report its head a few slots back.
		distance += 2 * d.spec.SlotsPerEpoch
		head = 0
	}
	writeData(w, map[string]any{
		"head_slot":     strconv.FormatUint(head, 10),
		"sync_distance": strconv.FormatUint(distance, 10),
		"is_syncing":    syncing,
		"is_optimistic": false,
		"el_offline":    false,
	})
}

func (d *Devnet) handleNodeHealth(w http.ResponseWriter, _ *http.Request) {
	if d.syncing.Load() {
		w.WriteHeader(http.StatusPartialContent)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// peerID is the devnet's (fixed, made up) libp2p peer id.
const peerID = "16Uiu2HAmPhalanxDevnetNodeNoNetworkPeers1111111111111"

func (d *Devnet) handleNodeIdentity(w http.ResponseWriter, _ *http.Request) {
	writeData(w, map[string]any{
		"peer_id":             peerID,
		"enr":                 "",
		"p2p_addresses":       []string{},
		"discovery_addresses": []string{},
		"metadata": map[string]string{
			"seq_number": "0", "attnets": "0x0000000000000000", "syncnets": "0x00",
		},
	})
}

func (d *Devnet) handleNodePeers(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"data": []*apiv1.Peer{}, "meta": map[string]string{"count": "0"}})
}

func (d *Devnet) handleNodePeerCount(w http.ResponseWriter, _ *http.Request) {
	writeData(w, map[string]string{"disconnected": "0", "connecting": "0", "connected": "0", "disconnecting": "0"})
}

// specValues returns /eth/v1/config/spec: the config and preset values as
// decimal or 0x-hex strings, as beacon nodes serve them.
func (d *Devnet) specValues() map[string]string {
	s := d.spec
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	m := map[string]string{
		"CONFIG_NAME":                              s.ConfigName,
		"PRESET_BASE":                              "minimal",
		"SECONDS_PER_SLOT":                         u(s.SecondsPerSlot),
		"SLOT_DURATION_MS":                         u(uint64(d.cfg.SlotDuration.Milliseconds())),
		"SLOTS_PER_EPOCH":                          u(s.SlotsPerEpoch),
		"INTERVALS_PER_SLOT":                       "3",
		"MIN_GENESIS_TIME":                         u(s.GenesisTime),
		"MIN_GENESIS_ACTIVE_VALIDATOR_COUNT":       u(uint64(len(d.c.vals))),
		"GENESIS_DELAY":                            "0",
		"GENESIS_FORK_VERSION":                     s.GenesisForkVersion.String(),
		"SHUFFLE_ROUND_COUNT":                      u(s.ShuffleRoundCount),
		"TARGET_COMMITTEE_SIZE":                    u(s.TargetCommitteeSize),
		"MAX_COMMITTEES_PER_SLOT":                  u(s.MaxCommitteesPerSlot),
		"MAX_VALIDATORS_PER_COMMITTEE":             u(s.MaxValidatorsPerCommittee),
		"TARGET_AGGREGATORS_PER_COMMITTEE":         u(s.TargetAggregatorsPerCommittee),
		"SYNC_COMMITTEE_SIZE":                      u(s.SyncCommitteeSize),
		"SYNC_COMMITTEE_SUBNET_COUNT":              u(s.SyncCommitteeSubnetCount),
		"TARGET_AGGREGATORS_PER_SYNC_SUBCOMMITTEE": u(s.TargetAggregatorsPerSyncSubcommittee),
		"EPOCHS_PER_SYNC_COMMITTEE_PERIOD":         u(s.EpochsPerSyncCommitteePeriod),
		"MIN_SEED_LOOKAHEAD":                       u(s.MinSeedLookahead),
		"MAX_SEED_LOOKAHEAD":                       u(s.MaxSeedLookahead),
		"EPOCHS_PER_HISTORICAL_VECTOR":             u(s.EpochsPerHistoricalVector),
		"EPOCHS_PER_SLASHINGS_VECTOR":              "64",
		"SLOTS_PER_HISTORICAL_ROOT":                "64",
		"HISTORICAL_ROOTS_LIMIT":                   "16777216",
		"VALIDATOR_REGISTRY_LIMIT":                 "1099511627776",
		"MAX_EFFECTIVE_BALANCE":                    u(s.MaxEffectiveBalance),
		"MAX_EFFECTIVE_BALANCE_ELECTRA":            u(s.MaxEffectiveBalanceElectra),
		"MIN_ACTIVATION_BALANCE":                   "32000000000",
		"EFFECTIVE_BALANCE_INCREMENT":              "1000000000",
		"EJECTION_BALANCE":                         "16000000000",
		"MIN_DEPOSIT_AMOUNT":                       "1000000000",
		"BASE_REWARD_FACTOR":                       "64",
		"WHISTLEBLOWER_REWARD_QUOTIENT":            "512",
		"PROPOSER_REWARD_QUOTIENT":                 "8",
		"INACTIVITY_PENALTY_QUOTIENT":              "33554432",
		"MIN_SLASHING_PENALTY_QUOTIENT":            "64",
		"PROPORTIONAL_SLASHING_MULTIPLIER":         "2",
		"HYSTERESIS_QUOTIENT":                      "4",
		"HYSTERESIS_DOWNWARD_MULTIPLIER":           "1",
		"HYSTERESIS_UPWARD_MULTIPLIER":             "5",
		"MIN_ATTESTATION_INCLUSION_DELAY":          "1",
		"MIN_EPOCHS_TO_INACTIVITY_PENALTY":         "4",
		"EPOCHS_PER_ETH1_VOTING_PERIOD":            "4",
		"ETH1_FOLLOW_DISTANCE":                     "16",
		"SECONDS_PER_ETH1_BLOCK":                   "14",
		"MIN_VALIDATOR_WITHDRAWABILITY_DELAY":      "256",
		"SHARD_COMMITTEE_PERIOD":                   "64",
		"MAX_SEED_LOOKAHEAD_EPOCHS":                u(s.MaxSeedLookahead),
		"MIN_PER_EPOCH_CHURN_LIMIT":                "2",
		"CHURN_LIMIT_QUOTIENT":                     "32",
		"MAX_PER_EPOCH_ACTIVATION_CHURN_LIMIT":     "4",
		"MAX_PROPOSER_SLASHINGS":                   "16",
		"MAX_ATTESTER_SLASHINGS":                   "2",
		"MAX_ATTESTER_SLASHINGS_ELECTRA":           "1",
		"MAX_ATTESTATIONS":                         "128",
		"MAX_ATTESTATIONS_ELECTRA":                 "8",
		"MAX_DEPOSITS":                             "16",
		"MAX_VOLUNTARY_EXITS":                      "16",
		"MAX_BLS_TO_EXECUTION_CHANGES":             "16",
		"MAX_WITHDRAWALS_PER_PAYLOAD":              "16",
		"MAX_BLOBS_PER_BLOCK":                      "6",
		"MAX_BLOBS_PER_BLOCK_ELECTRA":              "9",
		"MAX_BLOB_COMMITMENTS_PER_BLOCK":           "4096",
		"ATTESTATION_SUBNET_COUNT":                 "64",
		"TERMINAL_TOTAL_DIFFICULTY":                "0",
		"TERMINAL_BLOCK_HASH":                      "0x0000000000000000000000000000000000000000000000000000000000000000",
		"TERMINAL_BLOCK_HASH_ACTIVATION_EPOCH":     u(eth.FarFutureEpoch),
		"DEPOSIT_CHAIN_ID":                         u(depositChainID),
		"DEPOSIT_NETWORK_ID":                       u(depositChainID),
		"DEPOSIT_CONTRACT_ADDRESS":                 fmt.Sprintf("%#x", depositContractAddress[:]),
		"BLS_WITHDRAWAL_PREFIX":                    "0x00",
		"ETH1_ADDRESS_WITHDRAWAL_PREFIX":           "0x01",
		"COMPOUNDING_WITHDRAWAL_PREFIX":            "0x02",
		"FAR_FUTURE_EPOCH":                         u(eth.FarFutureEpoch),
	}
	domains := map[string]eth.DomainType{
		"DOMAIN_BEACON_PROPOSER":                eth.DomainBeaconProposer,
		"DOMAIN_BEACON_ATTESTER":                eth.DomainBeaconAttester,
		"DOMAIN_RANDAO":                         eth.DomainRandao,
		"DOMAIN_DEPOSIT":                        eth.DomainDeposit,
		"DOMAIN_VOLUNTARY_EXIT":                 eth.DomainVoluntaryExit,
		"DOMAIN_SELECTION_PROOF":                eth.DomainSelectionProof,
		"DOMAIN_AGGREGATE_AND_PROOF":            eth.DomainAggregateAndProof,
		"DOMAIN_SYNC_COMMITTEE":                 eth.DomainSyncCommittee,
		"DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF": eth.DomainSyncCommitteeSelectionProof,
		"DOMAIN_CONTRIBUTION_AND_PROOF":         eth.DomainContributionAndProof,
		"DOMAIN_APPLICATION_BUILDER":            eth.DomainApplicationBuilder,
		"DOMAIN_APPLICATION_MASK":               eth.DomainApplicationBuilder,
		"DOMAIN_BLS_TO_EXECUTION_CHANGE":        {0x0a, 0x00, 0x00, 0x00},
	}
	for k, v := range domains {
		m[k] = v.String()
	}
	for _, f := range s.Forks {
		if f.Name == eth.ForkPhase0 {
			continue
		}
		name := map[string]string{
			eth.ForkAltair: "ALTAIR", eth.ForkBellatrix: "BELLATRIX", eth.ForkCapella: "CAPELLA",
			eth.ForkDeneb: "DENEB", eth.ForkElectra: "ELECTRA", eth.ForkFulu: "FULU",
		}[f.Name]
		m[name+"_FORK_VERSION"] = f.Version.String()
		m[name+"_FORK_EPOCH"] = u(f.Epoch)
	}
	return m
}

func (d *Devnet) handleConfigSpec(w http.ResponseWriter, _ *http.Request) {
	writeData(w, d.specValues())
}

// forkSchedule returns the fork schedule as phase0.Fork entries.
func (d *Devnet) forkSchedule() []*phase0.Fork {
	out := make([]*phase0.Fork, 0, len(d.spec.Forks))
	prev := d.spec.GenesisForkVersion
	for _, f := range d.spec.Forks {
		out = append(out, &phase0.Fork{
			PreviousVersion: phase0.Version(prev), CurrentVersion: phase0.Version(f.Version), Epoch: phase0.Epoch(f.Epoch),
		})
		prev = f.Version
	}
	return out
}

func (d *Devnet) handleForkSchedule(w http.ResponseWriter, _ *http.Request) {
	writeData(w, d.forkSchedule())
}

func (d *Devnet) handleDepositContract(w http.ResponseWriter, _ *http.Request) {
	writeData(w, &apiv1.DepositContract{ChainID: depositChainID, Address: depositContractAddress[:]})
}
