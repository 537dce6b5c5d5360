package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phalanx-eth/phalanx/api"
	"github.com/phalanx-eth/phalanx/api/apitest"
)

// runCLI runs the root command with args and returns its output and error.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestAdminVerbs(t *testing.T) {
	c := apitest.New(t, apitest.Options{Validators: 1})
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte(apitest.AdminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("wrong-token-wrong-token"), 0o600)
	l := c.WaitLeader()
	f := c.Follower()
	flags := []string{"--api", c.URLs[f], "--token-file", tok}

	out, err := runCLI(t, append([]string{"cluster", "status"}, flags...)...)
	if err != nil || !strings.Contains(out, "Leader") || !strings.Contains(out, apitest.Name(l)) {
		t.Fatalf("status: %v\n%s", err, out)
	}
	out, err = runCLI(t, append([]string{"cluster", "peers"}, flags...)...)
	if err != nil || strings.Count(out, "node-") != 3 || !strings.Contains(out, "leader") {
		t.Fatalf("peers: %v\n%s", err, out)
	}
	// Wrong token, no token, unreachable node: non-zero exit with a clear message.
	if _, err := runCLI(t, "cluster", "status", "--api", c.URLs[f], "--token-file", bad); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("wrong token: %v", err)
	}
	t.Setenv("PHALANX_ADMIN_TOKEN", "")
	if _, err := runCLI(t, "cluster", "status", "--api", c.URLs[f]); err == nil || !strings.Contains(err.Error(), "token") {
		t.Fatalf("no token: %v", err)
	}
	if _, err := runCLI(t, "cluster", "remove", "node-9", "--api", c.URLs[f], "--token-file", tok); err == nil || !strings.Contains(err.Error(), "no such member") {
		t.Fatalf("remove unknown member: %v", err)
	}
	if _, err := runCLI(t, "cluster", "add-voter", "node-9", "/ip4/127.0.0.1/tcp/1", "--api", c.URLs[f], "--token-file", tok); err == nil {
		t.Fatal("add-voter with an address lacking /p2p/ succeeded")
	}
	if _, err := runCLI(t, "cluster", "why", "x", "1", "--api", c.URLs[f], "--token-file", tok); err == nil {
		t.Fatal("why with a bad slot succeeded")
	}

	// Sign something, then ask why.
	v := c.Validators[0]
	body := `{"type":"RANDAO_REVEAL","fork_info":{"fork":{"previous_version":"0x10000000","current_version":"0x10000000","epoch":"0"},"genesis_validators_root":"0x4b363db901` + strings.Repeat("00", 27) + `"},"randao_reveal":{"epoch":"2"}}`
	resp, err := http.Post(c.URLs[f]+"/api/v1/eth2/sign/"+v.Hex(), "application/json", strings.NewReader(body))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("sign: %v %v", err, resp)
	}
	resp.Body.Close()
	c.WaitApplied()
	out, err = runCLI(t, append([]string{"cluster", "why", "16", v.Hex()}, flags...)...)
	if err != nil || !strings.Contains(out, "randao") || !strings.Contains(out, "approved") {
		t.Fatalf("why: %v\n%s", err, out)
	}
	out, err = runCLI(t, append([]string{"cluster", "why", "16", "100"}, flags...)...)
	if err != nil || !strings.Contains(out, "randao") {
		t.Fatalf("why by index: %v\n%s", err, out)
	}

	// Slashing export and import round trip; a corrupt file and another chain's file change nothing.
	exp := filepath.Join(dir, "ic.json")
	if _, err := runCLI(t, append([]string{"slashing", "export", "--out", exp}, flags...)...); err != nil {
		t.Fatalf("export: %v", err)
	}
	if b, _ := os.ReadFile(exp); !bytes.Contains(b, []byte("interchange_format_version")) {
		t.Fatalf("export wrote %s", b)
	}
	snapBefore := c.Snapshots()[0]
	corrupt := filepath.Join(dir, "corrupt.json")
	os.WriteFile(corrupt, []byte(`{"metadata":{`), 0o600)
	other := filepath.Join(dir, "other.json")
	os.WriteFile(other, []byte(`{"metadata":{"interchange_format_version":"5","genesis_validators_root":"0x`+strings.Repeat("99", 32)+`"},"data":[]}`), 0o600)
	for _, p := range []string{corrupt, other} {
		if _, err := runCLI(t, append([]string{"slashing", "import", p}, flags...)...); err == nil || !api.IsStatus(err, 400) {
			t.Fatalf("import %s: %v; want a 400", filepath.Base(p), err)
		}
	}
	if !bytes.Equal(snapBefore, c.Snapshots()[0]) {
		t.Fatal("a refused import changed the state")
	}
	if out, err := runCLI(t, append([]string{"slashing", "import", exp}, flags...)...); err != nil || !strings.Contains(out, "log index") {
		t.Fatalf("import: %v\n%s", err, out)
	}

	// Snapshot save, then restore; a corrupt snapshot is refused and changes nothing.
	snap := filepath.Join(dir, "state.snap")
	if out, err := runCLI(t, append([]string{"cluster", "snapshot", "save", snap}, flags...)...); err != nil || !strings.Contains(out, "saved") {
		t.Fatalf("snapshot save: %v\n%s", err, out)
	}
	junk := filepath.Join(dir, "junk.snap")
	os.WriteFile(junk, []byte("not a snapshot"), 0o600)
	before := c.Snapshots()[0]
	if _, err := runCLI(t, append([]string{"cluster", "snapshot", "restore", junk}, flags...)...); err == nil || !strings.Contains(err.Error(), "magic") {
		t.Fatalf("restore junk: %v", err)
	}
	if !bytes.Equal(before, c.Snapshots()[0]) {
		t.Fatal("a refused restore changed the state")
	}
	if out, err := runCLI(t, append([]string{"cluster", "snapshot", "restore", snap}, flags...)...); err != nil || !strings.Contains(out, "restored") {
		t.Fatalf("snapshot restore: %v\n%s", err, out)
	}

	// Leadership transfer through a follower.
	if out, err := runCLI(t, append([]string{"cluster", "transfer-leader"}, flags...)...); err != nil {
		t.Fatalf("transfer-leader: %v\n%s", err, out)
	}
	c.WaitFor("a new leader", 20e9, func() bool { n := c.Leader(); return n >= 0 && n != l })
}
