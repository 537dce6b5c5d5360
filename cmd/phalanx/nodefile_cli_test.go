package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadNodeFile: the node config decoder never panics, accepts only objects with a non-empty id and no
// unknown field, and what it accepts survives a write and a reload unchanged.
func FuzzLoadNodeFile(f *testing.F) {
	f.Add([]byte(`{"id":"node-1","data_dir":"data","identity_file":"identity.json","lock_file":"../lock.json","keys_dir":"keys",` +
		`"password_file":"password.txt","p2p_listen":"/ip4/127.0.0.1/tcp/9000","api_listen":"127.0.0.1:5060",` +
		`"beacon_urls":["http://127.0.0.1:5052"],"api_token_file":"api-token.txt","member_apis":{"node-1":"http://127.0.0.1:5060"},"slot_time":"12s"}`))
	f.Add([]byte(`{"id":"node-1","data_dri":"data"}`))
	f.Add([]byte(`{"id":""}`))
	f.Add([]byte(`{"id":"x"} {"id":"y"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"id":"node-1","beacon_urls":null,"member_apis":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "node.json")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		nf, base, err := loadNodeFile(path)
		if err != nil {
			return
		}
		if nf.ID == "" {
			t.Fatal("accepted a config with an empty id")
		}
		if base != dir {
			t.Fatalf("base %q; want %q", base, dir)
		}
		again, err := json.Marshal(nf)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, again, 0o600); err != nil {
			t.Fatal(err)
		}
		nf2, _, err := loadNodeFile(path)
		if err != nil {
			t.Fatalf("reload of %s: %v", again, err)
		}
		// Empty and absent lists and maps are the same config; compare what would be written.
		again2, err := json.Marshal(nf2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, again2) {
			t.Fatalf("round trip changed the config: %s vs %s", again, again2)
		}
	})
}
