package api_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/phalanx-eth/phalanx/api"
	"github.com/phalanx-eth/phalanx/api/apitest"
	"github.com/phalanx-eth/phalanx/fsm/eth"
	"github.com/phalanx-eth/phalanx/threshold"
)

var (
	sharedOnce sync.Once
	shared     *apitest.Cluster
	upstream   *fakeBeacon
)

// fakeBeacon is an upstream beacon node that records what it was asked.
type fakeBeacon struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []string
}

func newFakeBeacon() *fakeBeacon {
	f := &fakeBeacon{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.seen = append(f.seen, r.URL.RequestURI())
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/validators"):
			var data []map[string]any
			for _, id := range strings.Split(r.URL.Query().Get("id"), ",") {
				data = append(data, map[string]any{
					"index": "1", "balance": "32000000000", "status": "active_ongoing",
					"validator": map[string]any{
						"pubkey": id, "withdrawal_credentials": "0x" + strings.Repeat("00", 32), "effective_balance": "32000000000",
						"slashed": false, "activation_eligibility_epoch": "0", "activation_epoch": "0", "exit_epoch": "18446744073709551615",
						"withdrawable_epoch": "18446744073709551615",
					},
				})
			}
			json.NewEncoder(w).Encode(map[string]any{"execution_optimistic": false, "finalized": false, "data": data})
		case strings.HasPrefix(r.URL.Path, "/eth/v1/beacon/headers/"):
			io.WriteString(w, `{"execution_optimistic":false,"finalized":false,"data":{"root":"0x`+strings.Repeat("11", 32)+`","canonical":true,"header":{"message":{"slot":"1","proposer_index":"1","parent_root":"0x`+strings.Repeat("22", 32)+`","state_root":"0x`+strings.Repeat("33", 32)+`","body_root":"0x`+strings.Repeat("44", 32)+`"},"signature":"0x`+strings.Repeat("55", 96)+`"}}}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"code":404,"message":"not found upstream"}`)
		}
	}))
	return f
}

func (f *fakeBeacon) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

// cluster returns the 3-node cluster the tests share (starting it costs a few seconds).
func cluster(t *testing.T) *apitest.Cluster {
	t.Helper()
	sharedOnce.Do(func() {
		upstream = newFakeBeacon()
		shared = apitest.New(&sharedT{T: t}, apitest.Options{Validators: 3, UpstreamBeaconURLs: []string{upstream.srv.URL}})
	})
	if shared == nil {
		t.Fatal("shared cluster failed to start")
	}
	shared.T = t
	return shared
}

// sharedT lets the shared cluster outlive the test that started it; TestMain closes it.
type sharedT struct{ *testing.T }

func (s *sharedT) Cleanup(func()) {}
func (s *sharedT) TempDir() string {
	d, err := osMkdirTemp()
	if err != nil {
		s.T.Fatal(err)
	}
	return d
}

type result struct {
	status int
	header http.Header
	body   []byte
}

func (r result) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

func do(t *testing.T, method, url string, body []byte, hdr map[string]string) result {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return result{resp.StatusCode, resp.Header, b}
}

func admin() map[string]string {
	return map[string]string{"Authorization": "Bearer " + apitest.AdminToken}
}
func km() map[string]string {
	return map[string]string{"Authorization": "Bearer " + apitest.KeymanagerToken}
}

func forkInfo(gvr [32]byte) map[string]any {
	v := "0x" + hex.EncodeToString(apitest.GenesisForkVersion[:])
	return map[string]any{
		"fork":                    map[string]string{"previous_version": v, "current_version": v, "epoch": "0"},
		"genesis_validators_root": "0x" + hex.EncodeToString(gvr[:]),
	}
}

func attData(slot, source, target uint64, root byte) map[string]any {
	r := func(b byte) string { return "0x" + strings.Repeat(fmt.Sprintf("%02x", b), 32) }
	return map[string]any{
		"slot": fmt.Sprint(slot), "index": "0", "beacon_block_root": r(root),
		"source": map[string]string{"epoch": fmt.Sprint(source), "root": r(byte(source))},
		"target": map[string]string{"epoch": fmt.Sprint(target), "root": r(root)},
	}
}

func signBody(t *testing.T, typ string, field string, msg any) []byte {
	t.Helper()
	m := map[string]any{"type": typ, "fork_info": forkInfo(apitest.GVR)}
	if field != "" {
		m[field] = msg
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testSpec(t *testing.T, c *apitest.Cluster) *eth.Spec {
	t.Helper()
	for _, nd := range c.Nodes {
		if nd != nil {
			if s, ok := nd.Machine().Spec(); ok {
				return s
			}
		}
	}
	t.Fatal("no spec")
	return nil
}

// checkSig verifies a returned signature against the validator's whole key and the expected signing root.
func checkSig(t *testing.T, v *apitest.Validator, root [32]byte, sigHex string) {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(sigHex), "0x"))
	if err != nil {
		t.Fatalf("signature %q: %v", sigHex, err)
	}
	sig, err := threshold.SignatureFromBytes(b)
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	if !v.PK.Verify(root[:], sig) {
		t.Fatalf("signature does not verify against the validator key and root %x", root)
	}
	if want := v.SK.Sign(root[:]); !want.Equal(sig) {
		t.Fatal("group signature differs from the whole key's")
	}
}

func attRoot(t *testing.T, spec *eth.Spec, slot, source, target uint64, root byte) [32]byte {
	t.Helper()
	rr := func(b byte) phase0.Root {
		var x phase0.Root
		for i := range x {
			x[i] = b
		}
		return x
	}
	d := &phase0.AttestationData{Slot: phase0.Slot(slot), BeaconBlockRoot: rr(root),
		Source: &phase0.Checkpoint{Epoch: phase0.Epoch(source), Root: rr(byte(source))},
		Target: &phase0.Checkpoint{Epoch: phase0.Epoch(target), Root: rr(root)}}
	r, err := spec.AttestationSigningRoot(d)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func leaderURL(c *apitest.Cluster) string   { return c.URLs[c.WaitLeader()] }
func followerURL(c *apitest.Cluster) string { c.WaitLeader(); return c.URLs[c.Follower()] }

var _ = api.HeaderLeader
