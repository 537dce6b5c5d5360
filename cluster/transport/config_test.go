package transport

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestConfigValidate(t *testing.T) {
	key := mustKey(t)
	ok := DefaultConfig()
	ok.PrivateKey = key
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	cases := []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"no key", func(c *Config) { c.PrivateKey = nil }, "PrivateKey"},
		{"no listen addrs", func(c *Config) { c.ListenAddrs = nil }, "ListenAddrs"},
		{"bad listen addr", func(c *Config) { c.ListenAddrs = []string{"127.0.0.1:9000"} }, "ListenAddrs"},
		{"bad allowed", func(c *Config) { c.Allowed = []peer.ID{"nope"} }, "Allowed[0]"},
		{"zero timeout", func(c *Config) { c.Timeout = 0 }, "Timeout"},
		{"negative pipeline", func(c *Config) { c.MaxPipeline = -1 }, "MaxPipeline"},
		{"tiny frames", func(c *Config) { c.MaxFrameSize = 100 }, "MaxFrameSize"},
		{"huge frames", func(c *Config) { c.MaxFrameSize = 1 << 31 }, "MaxFrameSize"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			c.ListenAddrs = append([]string(nil), ok.ListenAddrs...)
			tc.edit(&c)
			before := c
			err := c.Validate()
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("err = %v, want ErrInvalidConfig naming %s", err, tc.field)
			}
			if c.Timeout != before.Timeout || c.MaxPipeline != before.MaxPipeline || c.MaxFrameSize != before.MaxFrameSize {
				t.Fatal("Validate changed the config")
			}
			if _, err := New(c); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("New accepted an invalid config: %v", err)
			}
		})
	}
}

func TestIdentityRoundTrip(t *testing.T) {
	key := mustKey(t)
	b, err := MarshalIdentity(key)
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalIdentity(b)
	if err != nil {
		t.Fatal(err)
	}
	if !key.Equals(back) {
		t.Fatal("identity changed in a round trip")
	}
	if _, err := UnmarshalIdentity(b[:len(b)-1]); err == nil {
		t.Error("truncated key accepted")
	}
	secp, _, err := crypto.GenerateSecp256k1Key(bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	sb, err := MarshalIdentity(secp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := UnmarshalIdentity(sb); err == nil {
		t.Error("non-Ed25519 key accepted")
	}
	if _, err := MarshalIdentity(nil); err == nil {
		t.Error("nil key marshalled")
	}
}

func TestAddressPeerID(t *testing.T) {
	key := mustKey(t)
	id := peerIDOf(t, key)
	cfg := DefaultConfig()
	cfg.PrivateKey = key
	cfg.Timeout = time.Second
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	addr := tr.LocalAddr()
	if !strings.HasPrefix(string(addr), "/ip4/127.0.0.1/tcp/") || !strings.HasSuffix(string(addr), "/p2p/"+id.String()) {
		t.Fatalf("LocalAddr = %q", addr)
	}
	if strings.Contains(string(addr), "/tcp/0/") {
		t.Fatalf("LocalAddr %q has no bound port", addr)
	}
	got, err := AddressPeerID(addr)
	if err != nil || got != id || tr.PeerID() != id {
		t.Fatalf("AddressPeerID(%q) = %s, %v; want %s", addr, got, err, id)
	}
	if got := tr.DecodePeer(tr.EncodePeer("x", addr)); got != addr {
		t.Fatalf("peer encoding round trip gave %q", got)
	}
	for _, bad := range []raft.ServerAddress{"", "127.0.0.1:9000", "/ip4/127.0.0.1/tcp/9000", "/ip4/127.0.0.1/tcp/9000/p2p/notapeer"} {
		if _, err := AddressPeerID(bad); !errors.Is(err, ErrBadAddress) {
			t.Errorf("AddressPeerID(%q): err = %v, want ErrBadAddress", bad, err)
		}
	}
	if err := tr.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := tr.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	var resp raft.RequestVoteResponse
	if err := tr.RequestVote("y", addr, &raft.RequestVoteRequest{}, &resp); !errors.Is(err, raft.ErrTransportShutdown) {
		t.Fatalf("RPC after close: err = %v, want ErrTransportShutdown", err)
	}
}
