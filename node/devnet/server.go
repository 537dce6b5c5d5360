package devnet

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/attestantio/go-eth2-client/spec"

	"github.com/phalanx-eth/phalanx/fsm/eth"
)

// maxBodyBytes bounds request bodies.
const maxBodyBytes = 16 << 20

// nodeVersion is what /eth/v1/node/version reports.
const nodeVersion = "phalanx-devnet/v0.1.0"

// route is one entry of the route table.
type route struct {
	pattern string
	handler http.HandlerFunc
	// validator routes are refused with 503 while the node is syncing.
	validator bool
}

// routes is the devnet's route table.
func (d *Devnet) routes() []route {
	return []route{
		// node
		{"GET /eth/v1/node/version", d.handleNodeVersion, false},
		{"GET /eth/v1/node/syncing", d.handleNodeSyncing, false},
		{"GET /eth/v1/node/health", d.handleNodeHealth, false},
		{"GET /eth/v1/node/identity", d.handleNodeIdentity, false},
		{"GET /eth/v1/node/peers", d.handleNodePeers, false},
		{"GET /eth/v1/node/peer_count", d.handleNodePeerCount, false},
		// config
		{"GET /eth/v1/config/spec", d.handleConfigSpec, false},
		{"GET /eth/v1/config/fork_schedule", d.handleForkSchedule, false},
		{"GET /eth/v1/config/deposit_contract", d.handleDepositContract, false},
		// beacon
		{"GET /eth/v1/beacon/genesis", d.handleGenesis, false},
		{"GET /eth/v1/beacon/states/{state_id}/root", d.handleStateRoot, false},
		{"GET /eth/v1/beacon/states/{state_id}/fork", d.handleStateFork, false},
		{"GET /eth/v1/beacon/states/{state_id}/finality_checkpoints", d.handleFinality, false},
		{"GET /eth/v1/beacon/states/{state_id}/validators", d.handleValidators, false},
		{"POST /eth/v1/beacon/states/{state_id}/validators", d.handleValidators, false},
		{"GET /eth/v1/beacon/states/{state_id}/validators/{validator_id}", d.handleValidator, false},
		{"GET /eth/v1/beacon/states/{state_id}/validator_balances", d.handleValidatorBalances, false},
		{"POST /eth/v1/beacon/states/{state_id}/validator_balances", d.handleValidatorBalances, false},
		{"GET /eth/v1/beacon/states/{state_id}/committees", d.handleCommittees, false},
		{"GET /eth/v1/beacon/states/{state_id}/sync_committees", d.handleSyncCommittees, false},
		{"GET /eth/v1/beacon/states/{state_id}/randao", d.handleRandao, false},
		{"GET /eth/v1/beacon/headers", d.handleHeaders, false},
		{"GET /eth/v1/beacon/headers/{block_id}", d.handleHeader, false},
		{"GET /eth/v1/beacon/blocks/{block_id}/root", d.handleBlockRoot, false},
		{"GET /eth/v2/beacon/blocks/{block_id}", d.handleBlock, false},
		{"POST /eth/v2/beacon/blocks", d.handleSubmitBlock, true},
		{"POST /eth/v1/beacon/blocks", d.handleSubmitBlock, true},
		{"POST /eth/v2/beacon/blinded_blocks", d.handleSubmitBlindedBlock, true},
		{"POST /eth/v1/beacon/blinded_blocks", d.handleSubmitBlindedBlock, true},
		// beacon pool
		{"POST /eth/v1/beacon/pool/attestations", d.handleSubmitAttestationsV1, true},
		{"POST /eth/v2/beacon/pool/attestations", d.handleSubmitAttestationsV2, true},
		{"POST /eth/v1/beacon/pool/sync_committees", d.handleSubmitSyncMessages, true},
		{"POST /eth/v1/beacon/pool/voluntary_exits", d.handleSubmitExit, true},
		{"GET /eth/v1/beacon/pool/voluntary_exits", d.handleGetExits, false},
		// validator
		{"POST /eth/v1/validator/duties/attester/{epoch}", d.handleAttesterDuties, true},
		{"GET /eth/v1/validator/duties/proposer/{epoch}", d.handleProposerDuties, true},
		{"POST /eth/v1/validator/duties/sync/{epoch}", d.handleSyncDuties, true},
		{"GET /eth/v1/validator/attestation_data", d.handleAttestationData, true},
		{"GET /eth/v1/validator/aggregate_attestation", d.handleAggregateAttestationV1, true},
		{"GET /eth/v2/validator/aggregate_attestation", d.handleAggregateAttestationV2, true},
		{"GET /eth/v3/validator/blocks/{slot}", d.handleProduceBlock, true},
		{"POST /eth/v1/validator/beacon_committee_subscriptions", d.handleCommitteeSubscriptions, true},
		{"POST /eth/v1/validator/sync_committee_subscriptions", d.handleSyncSubscriptions, true},
		{"POST /eth/v1/validator/aggregate_and_proofs", d.handleSubmitAggregatesV1, true},
		{"POST /eth/v2/validator/aggregate_and_proofs", d.handleSubmitAggregatesV2, true},
		{"GET /eth/v1/validator/sync_committee_contribution", d.handleSyncContribution, true},
		{"POST /eth/v1/validator/contribution_and_proofs", d.handleSubmitContributions, true},
		{"POST /eth/v1/validator/prepare_beacon_proposer", d.handlePrepareProposer, true},
		{"POST /eth/v1/validator/register_validator", d.handleRegisterValidator, true},
		{"POST /eth/v1/validator/liveness/{epoch}", d.handleLiveness, true},
		// events
		{"GET /eth/v1/events", d.handleEvents, false},
		// devnet status (not part of the Beacon API)
		{"GET /phalanx/devnet/v1/status", d.handleStatus, false},
	}
}

// handler returns the devnet's HTTP handler: the route table behind the
// fault knobs.
func (d *Devnet) handler() http.Handler {
	mux := http.NewServeMux()
	for _, r := range d.routes() {
		h := r.handler
		if r.validator {
			h = d.refuseWhileSyncing(h)
		}
		mux.HandleFunc(r.pattern, h)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Route %s %s not found", r.Method, r.URL.Path))
	})
	return d.faults(mux)
}

// faults applies SlowResponses and SetUnavailable.
func (d *Devnet) faults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if delay := time.Duration(d.slow.Load()); delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-r.Context().Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if d.unavailable.Load() {
			writeError(w, http.StatusServiceUnavailable, "Beacon node is unavailable")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refuseWhileSyncing answers 503 while SetSyncing(true) is in effect.
func (d *Devnet) refuseWhileSyncing(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if d.syncing.Load() {
			writeError(w, http.StatusServiceUnavailable, "Beacon node is currently syncing and not serving request on that endpoint")
			return
		}
		h(w, r)
	}
}

// apiError is the Beacon API error body.
type apiError struct {
	Code     int            `json:"code"`
	Message  string         `json:"message"`
	Failures []indexedError `json:"failures,omitempty"`
}

// indexedError is one failed item of a list submission.
type indexedError struct {
	Index   int    `json:"index"`
	Message string `json:"message"`
}

// writeJSON writes v as a JSON body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"code":500,"message":"failed to encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeError writes the Beacon API error shape.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{Code: status, Message: msg})
}

// writeFailures writes a 400 with per-item failures.
func writeFailures(w http.ResponseWriter, msg string, failures []indexedError) {
	writeJSON(w, http.StatusBadRequest, apiError{Code: http.StatusBadRequest, Message: msg, Failures: failures})
}

// dataResponse is the common {"data": ...} envelope.
type dataResponse struct {
	ExecutionOptimistic *bool  `json:"execution_optimistic,omitempty"`
	Finalized           *bool  `json:"finalized,omitempty"`
	DependentRoot       string `json:"dependent_root,omitempty"`
	Data                any    `json:"data"`
}

// writeData writes {"data": v}.
func writeData(w http.ResponseWriter, v any) {
	writeJSON(w, http.StatusOK, dataResponse{Data: v})
}

// writeStateData writes {"execution_optimistic", "finalized", "data"} for
// data read from a state or block.
func writeStateData(w http.ResponseWriter, finalized bool, v any) {
	f := false
	writeJSON(w, http.StatusOK, dataResponse{ExecutionOptimistic: &f, Finalized: &finalized, Data: v})
}

// versionedResponse is the {"version", "data"} envelope.
type versionedResponse struct {
	Version             string `json:"version"`
	ExecutionOptimistic *bool  `json:"execution_optimistic,omitempty"`
	Finalized           *bool  `json:"finalized,omitempty"`
	Data                any    `json:"data"`
}

// writeVersioned writes {"version", "data"} with the Eth-Consensus-Version header.
func writeVersioned(w http.ResponseWriter, version spec.DataVersion, finalized *bool, v any) {
	w.Header().Set("Eth-Consensus-Version", version.String())
	var opt *bool
	if finalized != nil {
		f := false
		opt = &f
	}
	writeJSON(w, http.StatusOK, versionedResponse{Version: version.String(), ExecutionOptimistic: opt, Finalized: finalized, Data: v})
}

// readBody reads a request body, bounded.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	if len(b) > maxBodyBytes {
		return nil, errors.New("request body too large")
	}
	return b, nil
}

// decodeJSON decodes a JSON request body into v.
func decodeJSON(r *http.Request, v any) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("invalid JSON body: %w", err)
	}
	return nil
}

// parseUint parses a decimal uint64 path or query value.
func parseUint(s, name string) (uint64, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid %s %q: must be a decimal unsigned integer", name, s)
	}
	return v, nil
}

// parseRoot parses a 0x-prefixed 32-byte hex value.
func parseRoot(s string) (eth.Root, error) {
	var r eth.Root
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil || len(b) != 32 || !strings.HasPrefix(s, "0x") {
		return r, fmt.Errorf("invalid root %q: must be 0x and 64 hex digits", s)
	}
	copy(r[:], b)
	return r, nil
}

// splitComma splits a comma-separated query value, dropping empty parts.
func splitComma(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// uintList decodes a JSON array of validator indices given as strings or numbers.
func uintList(b []byte) ([]uint64, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("invalid JSON body: expected an array of indices: %w", err)
	}
	out := make([]uint64, 0, len(raw))
	for i, r := range raw {
		s := strings.Trim(string(r), `"`)
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("invalid index at position %d: %s", i, r)
		}
		out = append(out, v)
	}
	return out, nil
}

// handleStatus serves the devnet's status report.
func (d *Devnet) handleStatus(w http.ResponseWriter, _ *http.Request) {
	writeData(w, d.Stats())
}
