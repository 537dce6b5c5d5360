package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phalanx-eth/phalanx/api/apitest"
)

func interchange(gvr string, pubkey string, slot int) string {
	return fmt.Sprintf(`{"metadata":{"interchange_format_version":"5","genesis_validators_root":"%s"},"data":[{"pubkey":"%s","signed_blocks":[{"slot":"%d"}],"signed_attestations":[]}]}`, gvr, pubkey, slot)
}

func TestKeymanagerAPI(t *testing.T) {
	router := loadSpec(t, filepath.Join(testdata(t, "keymanager-APIs"), "keymanager-oapi.yaml"))
	c := cluster(t)
	base := leaderURL(c)
	url := base + "/eth/v1/keystores"

	r := do(t, http.MethodGet, url, nil, km())
	if r.status != http.StatusOK {
		t.Fatalf("list: %v", r)
	}
	validate(t, router, http.MethodGet, url, km(), r)
	var list struct {
		Data []struct {
			ValidatingPubkey string `json:"validating_pubkey"`
		}
	}
	json.Unmarshal(r.body, &list)
	if len(list.Data) != len(c.Validators) {
		t.Fatalf("listed %d keys; want %d", len(list.Data), len(c.Validators))
	}
	for _, tc := range []struct {
		name   string
		hdr    map[string]string
		status int
	}{
		{"missing token", nil, 401}, {"wrong token", map[string]string{"Authorization": "Bearer nope"}, 403},
		{"admin token", admin(), 403},
	} {
		r := do(t, http.MethodGet, url, nil, tc.hdr)
		if r.status != tc.status {
			t.Errorf("%s: %v; want %d", tc.name, r, tc.status)
		}
		validate(t, router, http.MethodGet, url, tc.hdr, r)
	}

	gvr := "0x4b363db901" + strings.Repeat("00", 27)
	v := c.Validators[1]
	body := func(doc string) []byte {
		b, _ := json.Marshal(map[string]any{"keystores": []any{}, "passwords": []string{}, "slashing_protection": doc})
		return b
	}
	before := c.Snapshots()
	for _, tc := range []struct {
		name, doc string
	}{
		{"corrupt", `{"metadata":`},
		{"another chain", interchange("0x"+strings.Repeat("99", 32), v.Hex(), 5)},
	} {
		r := do(t, http.MethodPost, url, body(tc.doc), km())
		if r.status != http.StatusBadRequest {
			t.Errorf("%s interchange: %v; want 400", tc.name, r)
		}
		validate(t, router, http.MethodPost, url, km(), r)
	}
	if r := do(t, http.MethodPost, url, []byte(`{"keystores":`), km()); r.status != http.StatusBadRequest {
		t.Errorf("malformed body: %v", r)
	}
	after := c.Snapshots()
	if !bytes.Equal(before[0], after[0]) {
		t.Fatal("a refused import changed the replicated state")
	}
	// A good import goes through the log: a later proposal at or below the imported slot is refused.
	r = do(t, http.MethodPost, c.URLs[c.Follower()]+"/eth/v1/keystores", body(interchange(gvr, v.Hex(), 900)), km())
	if r.status != http.StatusOK {
		t.Fatalf("import via follower: %v", r)
	}
	validate(t, router, http.MethodPost, url, km(), r)
	after = c.Snapshots()
	if bytes.Equal(before[0], after[0]) {
		t.Fatal("import did not change the replicated state")
	}
	// DELETE: registered keys are refused one by one, the protection document is returned.
	db, _ := json.Marshal(map[string]any{"pubkeys": []string{v.Hex(), "0x" + strings.Repeat("ab", 48)}})
	r = do(t, http.MethodDelete, url, db, km())
	if r.status != http.StatusOK {
		t.Fatalf("delete: %v", r)
	}
	validate(t, router, http.MethodDelete, url, km(), r)
	_ = apitest.GVR
}
