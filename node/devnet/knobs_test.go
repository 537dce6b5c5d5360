package devnet

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/api"
)

func TestFaultKnobsAndStatus(t *testing.T) {
	d := startDevnet(t, Config{NumValidators: 16, SlotDuration: 300 * time.Millisecond, SlotsPerEpoch: 4})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := connect(t, ctx, d)
	waitSlot(t, d, 2)

	d.SetSyncing(true)
	sync, err := c.NodeSyncing(ctx, &api.NodeSyncingOpts{})
	if err != nil || !sync.Data.IsSyncing {
		t.Fatalf("NodeSyncing while syncing: %v %v", sync, err)
	}
	resp, err := http.Get(d.URL() + "/eth/v1/validator/attestation_data?slot=1&committee_index=0")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("attestation_data while syncing: %d; want 503", resp.StatusCode)
	}
	d.SetSyncing(false)

	d.SetUnavailable(true)
	resp, err = http.Get(d.URL() + "/eth/v1/node/syncing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("syncing while unavailable: %d; want 503", resp.StatusCode)
	}
	d.SetUnavailable(false)

	d.SlowResponses(300 * time.Millisecond)
	start := time.Now()
	if _, err := http.Get(d.URL() + "/eth/v1/node/version"); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 300*time.Millisecond {
		t.Fatal("SlowResponses did not delay the response")
	}
	d.SlowResponses(0)

	resp, err = http.Get(d.URL() + "/phalanx/devnet/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Data Stats }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.Data.Validators != 16 || len(body.Data.Slots) == 0 || body.Data.HeadRoot == "" {
		t.Fatalf("status = %+v", body.Data)
	}

	// Pool submissions without the consensus version header are refused, as Lodestar does.
	resp, err = http.Post(d.URL()+"/eth/v2/beacon/pool/attestations", "application/json", bytes.NewReader([]byte("[]")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("v2 attestations without Eth-Consensus-Version: %d; want 400", resp.StatusCode)
	}
}

func FuzzUintList(f *testing.F) {
	for _, s := range []string{`["1","2"]`, `[1,2]`, `[]`, `["x"]`, `{}`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := uintList(b)
		if err == nil && out == nil {
			t.Fatal("nil list without an error")
		}
	})
}

func FuzzParseRoot(f *testing.F) {
	f.Add("0x" + "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	f.Add("0x12")
	f.Add("zz")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseRoot(s)
		if err == nil && r.String() != s && r.String() != lowerHex(s) {
			t.Fatalf("parseRoot(%q) = %s", s, r)
		}
	})
}

// lowerHex lowercases hex digits.
func lowerHex(s string) string { return string(bytes.ToLower([]byte(s))) }

// FuzzSubmitBlock feeds arbitrary bodies (SSZ and JSON) to the block
// submission route of a devnet that is not running: nothing may panic and
// nothing may be imported.
func FuzzSubmitBlock(f *testing.F) {
	d, err := New(Config{NumValidators: 8})
	if err != nil {
		f.Fatal(err)
	}
	h := d.handler()
	f.Add([]byte{}, true)
	f.Add([]byte(`{"signed_block":{}}`), false)
	f.Add(bytes.Repeat([]byte{0x04, 0x00, 0x00, 0x00}, 64), true)
	f.Fuzz(func(t *testing.T, body []byte, ssz bool) {
		req := httptest.NewRequest(http.MethodPost, "/eth/v2/beacon/blocks", bytes.NewReader(body))
		req.Header.Set("Eth-Consensus-Version", "electra")
		if ssz {
			req.Header.Set("Content-Type", "application/octet-stream")
		} else {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			t.Fatal("a fuzzed block was accepted")
		}
	})
}
