package api_test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phalanx-eth/phalanx/fsm"
)

func TestBeaconAPIMatchesSpec(t *testing.T) {
	router := loadSpec(t, filepath.Join(testdata(t, "beacon-APIs"), "beacon-node-oapi.yaml"))
	c := cluster(t)
	// The finalized epoch stays 0 so that the other tests sharing the cluster can sign low slots.
	c.Propose(&fsm.ChainView{HeadSlot: 70, HeadRoot: [32]byte{7}, JustifiedEpoch: 7, JustifiedRoot: [32]byte{8},
		FinalizedEpoch: 0, FinalizedRoot: [32]byte{9}, ObservedSlot: 70, ObservedUnixMilli: 1})
	c.WaitApplied()
	base := leaderURL(c)
	v := c.Validators[0]
	paths := []string{
		"/eth/v1/node/version", "/eth/v1/node/syncing", "/eth/v1/node/identity", "/eth/v1/node/peers",
		"/eth/v1/beacon/genesis", "/eth/v1/beacon/states/head/fork", "/eth/v1/beacon/states/genesis/fork",
		"/eth/v1/beacon/states/70/fork", "/eth/v1/beacon/states/head/finality_checkpoints", "/eth/v1/config/spec",
		"/eth/v1/beacon/states/head/validators?id=" + v.Hex(), "/eth/v1/beacon/states/head/validators",
		"/eth/v1/beacon/headers/head",
	}
	for _, p := range paths {
		r := do(t, http.MethodGet, base+p, nil, nil)
		if r.status != http.StatusOK {
			t.Errorf("GET %s: %v", p, r)
			continue
		}
		validate(t, router, http.MethodGet, base+p, nil, r)
	}
	// The validator is not vacuous: a response missing required fields fails.
	bogus := result{status: 200, header: http.Header{"Content-Type": {"application/json"}}, body: []byte(`{"data":{}}`)}
	if err := validateErr(t, router, http.MethodGet, base+"/eth/v1/node/version", nil, bogus); err == nil {
		t.Error("a version answer without data.version passed validation")
	}
	// Answers from the replicated state.
	var g struct{ Data map[string]string }
	json.Unmarshal(do(t, http.MethodGet, base+"/eth/v1/beacon/genesis", nil, nil).body, &g)
	if g.Data["genesis_validators_root"] != "0x4b363db901"+strings.Repeat("00", 27) {
		t.Errorf("genesis: %v", g.Data)
	}
	var f struct {
		Data map[string]map[string]string
	}
	json.Unmarshal(do(t, http.MethodGet, base+"/eth/v1/beacon/states/head/finality_checkpoints", nil, nil).body, &f)
	if f.Data["finalized"]["epoch"] != "0" || f.Data["current_justified"]["epoch"] != "7" {
		t.Errorf("finality from the chain view: %v", f.Data)
	}
	// Validators: only the cluster's keys reach the upstream query.
	r := do(t, http.MethodGet, base+"/eth/v1/beacon/states/head/validators?id="+v.Hex()+",0x"+strings.Repeat("cd", 48)+",5", nil, nil)
	var vs struct{ Data []json.RawMessage }
	json.Unmarshal(r.body, &vs)
	if len(vs.Data) != 1 {
		t.Errorf("validators outside the cluster were asked upstream: %s", r.body)
	}
	// Bad state and validator IDs.
	if r := do(t, http.MethodGet, base+"/eth/v1/beacon/states/current/fork", nil, nil); r.status != http.StatusBadRequest {
		t.Errorf("bad state id: %v", r)
	}
	if r := do(t, http.MethodGet, base+"/eth/v1/beacon/states/head/validators?id=xyz", nil, nil); r.status != http.StatusBadRequest {
		t.Errorf("bad validator id: %v", r)
	}
	// Pass-through reached the upstream beacon node.
	found := false
	for _, u := range upstream.requests() {
		if u == "/eth/v1/beacon/headers/head" {
			found = true
		}
	}
	if !found {
		t.Errorf("headers were not passed through: upstream saw %v", upstream.requests())
	}
}

func TestHealthAndMetrics(t *testing.T) {
	c := cluster(t)
	for _, u := range c.URLs[:3] {
		if r := do(t, http.MethodGet, u+"/healthz", nil, nil); r.status != http.StatusOK {
			t.Errorf("healthz: %v", r)
		}
		if r := do(t, http.MethodGet, u+"/readyz", nil, nil); r.status != http.StatusOK {
			t.Errorf("readyz: %v", r)
		}
	}
	do(t, http.MethodGet, leaderURL(c)+"/eth/v1/node/version", nil, nil)
	m := do(t, http.MethodGet, leaderURL(c)+"/metrics", nil, nil)
	for _, name := range []string{"phalanx_api_requests_total", "phalanx_raft_commit_index", "phalanx_api_request_duration_seconds"} {
		if !strings.Contains(string(m.body), name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}
