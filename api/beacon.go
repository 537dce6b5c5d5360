package api

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/phalanx-eth/phalanx/fsm"
	"github.com/phalanx-eth/phalanx/fsm/eth"
)

// The Beacon API routes the cluster answers itself. Everything else under /eth/ is passed through to the
// upstream beacon node by the leader (see noRoute).

type dataResponse struct {
	Data any `json:"data"`
}

type stateResponse struct {
	ExecutionOptimistic bool `json:"execution_optimistic"`
	Finalized           bool `json:"finalized"`
	Data                any  `json:"data"`
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }

// handleNodeVersion answers GET /eth/v1/node/version.
func (s *Server) handleNodeVersion(c *gin.Context) {
	c.JSON(http.StatusOK, dataResponse{Data: map[string]string{"version": "phalanx/" + s.cfg.Version}})
}

// handleNodeHealth answers GET /eth/v1/node/health: 200 when the node is ready to sign, 503 otherwise.
func (s *Server) handleNodeHealth(c *gin.Context) {
	if err := s.ready(); err != nil {
		c.Status(http.StatusServiceUnavailable)
		return
	}
	c.Status(http.StatusOK)
}

// handleNodeSyncing answers GET /eth/v1/node/syncing from the replicated chain view: the head the leader
// last observed, and its distance from the current slot.
func (s *Server) handleNodeSyncing(c *gin.Context) {
	spec, ok := s.deps.State.Spec()
	if !ok {
		fail(c, http.StatusServiceUnavailable, "the cluster is not bound to a chain yet")
		return
	}
	view := s.deps.State.ChainView()
	current := s.currentSlot(spec)
	var dist uint64
	if current > view.HeadSlot {
		dist = current - view.HeadSlot
	}
	c.JSON(http.StatusOK, dataResponse{Data: map[string]any{
		"head_slot":     u64(view.HeadSlot),
		"sync_distance": u64(dist),
		"is_syncing":    dist > 1,
		"is_optimistic": false,
		"el_offline":    false,
	}})
}

func (s *Server) currentSlot(spec *eth.Spec) uint64 {
	now := s.deps.Now().Unix()
	if now <= int64(spec.GenesisTime) || spec.SecondsPerSlot == 0 {
		return 0
	}
	return (uint64(now) - spec.GenesisTime) / spec.SecondsPerSlot
}

// handleNodeIdentity answers GET /eth/v1/node/identity with this member's libp2p identity. phalanx nodes do
// not take part in discv5, so enr is empty and there are no discovery addresses.
func (s *Server) handleNodeIdentity(c *gin.Context) {
	st, err := s.deps.Cluster.Status()
	if err != nil {
		fail(c, http.StatusInternalServerError, "cluster status: %v", err)
		return
	}
	addrs := []string{}
	for _, m := range st.Members {
		if m.ID == st.ID {
			addrs = append(addrs, m.Address)
		}
	}
	c.JSON(http.StatusOK, dataResponse{Data: map[string]any{
		"peer_id":             st.PeerID,
		"enr":                 "",
		"p2p_addresses":       addrs,
		"discovery_addresses": []string{},
		"metadata":            map[string]string{"seq_number": "0", "attnets": "0x0000000000000000"},
	}})
}

// handleNodePeers answers GET /eth/v1/node/peers with the other cluster members. Members are reported as
// connected while the cluster has a leader, disconnected otherwise.
func (s *Server) handleNodePeers(c *gin.Context) {
	st, err := s.deps.Cluster.Status()
	if err != nil {
		fail(c, http.StatusInternalServerError, "cluster status: %v", err)
		return
	}
	state := "connected"
	if st.LeaderID == "" {
		state = "disconnected"
	}
	peers := []map[string]any{}
	for _, m := range st.Members {
		if m.ID == st.ID {
			continue
		}
		pid := m.Address
		if i := strings.LastIndex(pid, "/p2p/"); i >= 0 {
			pid = pid[i+len("/p2p/"):]
		}
		peers = append(peers, map[string]any{
			"peer_id": pid, "enr": nil, "last_seen_p2p_address": m.Address, "state": state, "direction": "outbound",
		})
	}
	c.JSON(http.StatusOK, map[string]any{"data": peers, "meta": map[string]int{"count": len(peers)}})
}

// handleGenesis answers GET /eth/v1/beacon/genesis from the replicated chain config.
func (s *Server) handleGenesis(c *gin.Context) {
	cfg, ok := s.deps.State.ChainConfig()
	if !ok {
		fail(c, http.StatusNotFound, "chain genesis unknown: the cluster is not bound to a chain yet")
		return
	}
	c.JSON(http.StatusOK, dataResponse{Data: map[string]string{
		"genesis_time":            u64(cfg.GenesisTime),
		"genesis_validators_root": hex0x(cfg.GenesisValidatorsRoot[:]),
		"genesis_fork_version":    hex0x(cfg.GenesisForkVersion[:]),
	}})
}

// stateEpoch resolves a state_id the replicated view can answer: head, genesis, finalized, justified or a
// slot number. ok is false for block roots, which only the beacon node knows.
func (s *Server) stateEpoch(id string, spec *eth.Spec, view fsm.ChainView) (epoch uint64, finalized, ok bool, err error) {
	switch id {
	case "head":
		return spec.EpochAtSlot(view.HeadSlot), false, true, nil
	case "genesis":
		return 0, true, true, nil
	case "finalized":
		return view.FinalizedEpoch, true, true, nil
	case "justified":
		return view.JustifiedEpoch, false, true, nil
	}
	if strings.HasPrefix(id, "0x") {
		return 0, false, false, nil
	}
	slot, perr := strconv.ParseUint(id, 10, 64)
	if perr != nil {
		return 0, false, false, fmt.Errorf("invalid state ID: %s", abbreviate(id))
	}
	e := spec.EpochAtSlot(slot)
	return e, e < view.FinalizedEpoch, true, nil
}

// handleStateFork answers GET /eth/v1/beacon/states/{state_id}/fork from the replicated fork schedule.
func (s *Server) handleStateFork(c *gin.Context) {
	spec, ok := s.deps.State.Spec()
	if !ok {
		s.passThrough(c)
		return
	}
	epoch, finalized, ok, err := s.stateEpoch(c.Param("state_id"), spec, s.deps.State.ChainView())
	if err != nil {
		fail(c, http.StatusBadRequest, "%v", err)
		return
	}
	if !ok {
		s.passThrough(c)
		return
	}
	cur := spec.ForkAtEpoch(epoch)
	prev := cur
	for i, f := range spec.Forks {
		if f.Name == cur.Name && i > 0 {
			prev = spec.Forks[i-1]
		}
	}
	if cur.Epoch == 0 || cur.Name == eth.ForkPhase0 {
		prev = cur
	}
	c.JSON(http.StatusOK, stateResponse{Finalized: finalized, Data: map[string]string{
		"previous_version": hex0x(prev.Version[:]),
		"current_version":  hex0x(cur.Version[:]),
		"epoch":            u64(cur.Epoch),
	}})
}

func checkpoint(epoch uint64, root [32]byte) map[string]string {
	return map[string]string{"epoch": u64(epoch), "root": hex0x(root[:])}
}

// handleFinality answers GET /eth/v1/beacon/states/head/finality_checkpoints from the replicated chain view.
// The view does not carry the previous justified checkpoint; the finalized checkpoint, which is never newer,
// stands in for it. Other state IDs are passed through.
func (s *Server) handleFinality(c *gin.Context) {
	if c.Param("state_id") != "head" {
		s.passThrough(c)
		return
	}
	if _, ok := s.deps.State.ChainConfig(); !ok {
		s.passThrough(c)
		return
	}
	v := s.deps.State.ChainView()
	c.JSON(http.StatusOK, stateResponse{Data: map[string]any{
		"previous_justified": checkpoint(v.FinalizedEpoch, v.FinalizedRoot),
		"current_justified":  checkpoint(v.JustifiedEpoch, v.JustifiedRoot),
		"finalized":          checkpoint(v.FinalizedEpoch, v.FinalizedRoot),
	}})
}

// handleSpec answers GET /eth/v1/config/spec with the replicated chain parameters.
func (s *Server) handleSpec(c *gin.Context) {
	spec, ok := s.deps.State.Spec()
	if !ok {
		s.passThrough(c)
		return
	}
	c.JSON(http.StatusOK, dataResponse{Data: specValues(spec)})
}

// specValues renders the parameters the cluster's chain config fixes, in the Beacon API's string form.
func specValues(spec *eth.Spec) map[string]string {
	preset := "mainnet"
	if spec.SlotsPerEpoch == 8 {
		preset = "minimal"
	}
	out := map[string]string{
		"PRESET_BASE":                              preset,
		"SECONDS_PER_SLOT":                         u64(spec.SecondsPerSlot),
		"SLOTS_PER_EPOCH":                          u64(spec.SlotsPerEpoch),
		"MIN_GENESIS_TIME":                         u64(spec.GenesisTime),
		"GENESIS_FORK_VERSION":                     hex0x(spec.GenesisForkVersion[:]),
		"SHUFFLE_ROUND_COUNT":                      u64(spec.ShuffleRoundCount),
		"TARGET_COMMITTEE_SIZE":                    u64(spec.TargetCommitteeSize),
		"MAX_COMMITTEES_PER_SLOT":                  u64(spec.MaxCommitteesPerSlot),
		"MAX_VALIDATORS_PER_COMMITTEE":             u64(spec.MaxValidatorsPerCommittee),
		"TARGET_AGGREGATORS_PER_COMMITTEE":         u64(spec.TargetAggregatorsPerCommittee),
		"SYNC_COMMITTEE_SIZE":                      u64(spec.SyncCommitteeSize),
		"SYNC_COMMITTEE_SUBNET_COUNT":              u64(spec.SyncCommitteeSubnetCount),
		"TARGET_AGGREGATORS_PER_SYNC_SUBCOMMITTEE": u64(spec.TargetAggregatorsPerSyncSubcommittee),
		"EPOCHS_PER_SYNC_COMMITTEE_PERIOD":         u64(spec.EpochsPerSyncCommitteePeriod),
		"MIN_SEED_LOOKAHEAD":                       u64(spec.MinSeedLookahead),
		"MAX_SEED_LOOKAHEAD":                       u64(spec.MaxSeedLookahead),
		"EPOCHS_PER_HISTORICAL_VECTOR":             u64(spec.EpochsPerHistoricalVector),
		"MAX_EFFECTIVE_BALANCE":                    u64(spec.MaxEffectiveBalance),
		"MAX_EFFECTIVE_BALANCE_ELECTRA":            u64(spec.MaxEffectiveBalanceElectra),
	}
	if spec.ConfigName != "" {
		out["CONFIG_NAME"] = spec.ConfigName
	}
	for _, f := range spec.Forks {
		if f.Name == eth.ForkPhase0 {
			continue
		}
		name := strings.ToUpper(f.Name)
		out[name+"_FORK_VERSION"] = hex0x(f.Version[:])
		out[name+"_FORK_EPOCH"] = u64(f.Epoch)
	}
	domains := map[string]eth.DomainType{
		"DOMAIN_BEACON_PROPOSER": eth.DomainBeaconProposer, "DOMAIN_BEACON_ATTESTER": eth.DomainBeaconAttester,
		"DOMAIN_RANDAO": eth.DomainRandao, "DOMAIN_DEPOSIT": eth.DomainDeposit, "DOMAIN_VOLUNTARY_EXIT": eth.DomainVoluntaryExit,
		"DOMAIN_SELECTION_PROOF": eth.DomainSelectionProof, "DOMAIN_AGGREGATE_AND_PROOF": eth.DomainAggregateAndProof,
		"DOMAIN_SYNC_COMMITTEE": eth.DomainSyncCommittee, "DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF": eth.DomainSyncCommitteeSelectionProof,
		"DOMAIN_CONTRIBUTION_AND_PROOF": eth.DomainContributionAndProof, "DOMAIN_APPLICATION_BUILDER": eth.DomainApplicationBuilder,
	}
	for k, d := range domains {
		out[k] = hex0x(d[:])
	}
	return out
}

// maxValidatorIDs is the Beacon API's limit on ids in one validators query.
const maxValidatorIDs = 64

// handleStateValidators answers GET /eth/v1/beacon/states/{state_id}/validators for the cluster's own keys:
// the requested ids are narrowed to the registry (all of it when none are given) and the query is passed to
// the upstream beacon node, which alone knows balances and statuses.
func (s *Server) handleStateValidators(c *gin.Context) {
	var requested []string
	for _, v := range c.QueryArray("id") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				requested = append(requested, p)
			}
		}
	}
	if len(requested) > maxValidatorIDs {
		fail(c, http.StatusRequestURITooLong, "%d validator ids; the limit is %d", len(requested), maxValidatorIDs)
		return
	}
	keys := make(map[string]bool)
	indices := make(map[string]string)
	for _, v := range s.deps.State.Validators() {
		k := hex0x(v.Pubkey[:])
		keys[k] = true
		if v.ValidatorIndex != fsm.UnknownValidatorIndex {
			indices[u64(v.ValidatorIndex)] = k
		}
	}
	var ids []string
	if len(requested) == 0 {
		for k := range keys {
			ids = append(ids, k)
		}
	}
	for _, r := range requested {
		lr := strings.ToLower(r)
		if strings.HasPrefix(lr, "0x") {
			if _, err := hex.DecodeString(lr[2:]); err != nil || len(lr) != 98 {
				fail(c, http.StatusBadRequest, "invalid validator ID: %s", abbreviate(r))
				return
			}
			if keys[lr] {
				ids = append(ids, lr)
			}
			continue
		}
		if _, err := strconv.ParseUint(r, 10, 64); err != nil {
			fail(c, http.StatusBadRequest, "invalid validator ID: %s", abbreviate(r))
			return
		}
		if k, ok := indices[r]; ok {
			ids = append(ids, k)
		}
	}
	if len(ids) == 0 {
		c.JSON(http.StatusOK, stateResponse{Data: []any{}})
		return
	}
	q := url.Values{}
	q.Set("id", strings.Join(uniqueSorted(ids), ","))
	for _, st := range c.QueryArray("status") {
		q.Add("status", st)
	}
	c.Request.URL.RawQuery = q.Encode()
	s.passThrough(c)
}
