package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

type authKind int

const (
	authNone authKind = iota
	authAdmin
	authKeymanager
)

// route is one entry of the route table.
type route struct {
	method, path string
	auth         authKind
	// leaderOnly routes are served by the leader; a follower forwards them.
	leaderOnly bool
	maxBody    int
	handler    gin.HandlerFunc
}

// routes is the one table of every route the server serves. Beacon API paths not listed here are passed
// through to the upstream beacon node by the leader.
func (s *Server) routes() []route {
	const get, post, del = http.MethodGet, http.MethodPost, http.MethodDelete
	return []route{
		// Operations.
		{method: get, path: "/healthz", handler: s.handleHealthz},
		{method: get, path: "/readyz", handler: s.handleReadyz},
		{method: get, path: "/metrics", handler: s.metricsHandler()},

		// Beacon API answered from replicated state (the leader answers; followers forward).
		{method: get, path: "/eth/v1/node/version", leaderOnly: true, handler: s.handleNodeVersion},
		{method: get, path: "/eth/v1/node/health", leaderOnly: true, handler: s.handleNodeHealth},
		{method: get, path: "/eth/v1/node/syncing", leaderOnly: true, handler: s.handleNodeSyncing},
		{method: get, path: "/eth/v1/node/identity", leaderOnly: true, handler: s.handleNodeIdentity},
		{method: get, path: "/eth/v1/node/peers", leaderOnly: true, handler: s.handleNodePeers},
		{method: get, path: "/eth/v1/beacon/genesis", leaderOnly: true, handler: s.handleGenesis},
		{method: get, path: "/eth/v1/beacon/states/:state_id/fork", leaderOnly: true, handler: s.handleStateFork},
		{method: get, path: "/eth/v1/beacon/states/:state_id/finality_checkpoints", leaderOnly: true, handler: s.handleFinality},
		{method: get, path: "/eth/v1/beacon/states/:state_id/validators", leaderOnly: true, handler: s.handleStateValidators},
		{method: get, path: "/eth/v1/config/spec", leaderOnly: true, handler: s.handleSpec},

		// Web3Signer-compatible remote signer.
		{method: get, path: "/upcheck", handler: s.handleUpcheck},
		{method: get, path: "/api/v1/eth2/publicKeys", handler: s.handlePublicKeys},
		{method: post, path: "/api/v1/eth2/sign/:identifier", leaderOnly: true, handler: s.handleSign},

		// Keymanager API subset.
		{method: get, path: "/eth/v1/keystores", auth: authKeymanager, handler: s.handleListKeystores},
		{method: post, path: "/eth/v1/keystores", auth: authKeymanager, leaderOnly: true, maxBody: bodyUpload, handler: s.handleImportKeystores},
		{method: del, path: "/eth/v1/keystores", auth: authKeymanager, handler: s.handleDeleteKeystores},

		// Admin API: one endpoint per CLI verb.
		{method: get, path: "/v1/cluster/status", auth: authAdmin, handler: s.handleAdminStatus},
		{method: get, path: "/v1/cluster/peers", auth: authAdmin, handler: s.handleAdminPeers},
		{method: get, path: "/v1/node/status", auth: authAdmin, handler: s.handleNodeStatus},
		{method: post, path: "/v1/cluster/add-voter", auth: authAdmin, leaderOnly: true, handler: s.handleAddVoter},
		{method: post, path: "/v1/cluster/add-nonvoter", auth: authAdmin, leaderOnly: true, handler: s.handleAddNonvoter},
		{method: post, path: "/v1/cluster/remove", auth: authAdmin, leaderOnly: true, handler: s.handleRemove},
		{method: post, path: "/v1/cluster/transfer-leader", auth: authAdmin, leaderOnly: true, handler: s.handleTransferLeader},
		{method: get, path: "/v1/cluster/snapshot", auth: authAdmin, handler: s.handleSnapshotSave},
		{method: post, path: "/v1/cluster/snapshot/restore", auth: authAdmin, leaderOnly: true, maxBody: bodyUpload, handler: s.handleSnapshotRestore},
		{method: get, path: "/v1/cluster/why/:slot/:validator", auth: authAdmin, handler: s.handleWhy},
		{method: get, path: "/v1/slashing/export", auth: authAdmin, handler: s.handleSlashingExport},
		{method: post, path: "/v1/slashing/import", auth: authAdmin, leaderOnly: true, maxBody: bodyUpload, handler: s.handleSlashingImport},
	}
}
