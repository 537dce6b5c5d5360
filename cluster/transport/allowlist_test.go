package transport

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newTestTransport(t *testing.T, key crypto.PrivKey, allowed []peer.ID, logger *slog.Logger) *Transport {
	t.Helper()
	cfg := DefaultConfig()
	cfg.PrivateKey = key
	cfg.Allowed = allowed
	cfg.Timeout = 3 * time.Second
	cfg.Logger = logger
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// serveAppendEntries answers every RPC on tr's consumer with success and
// counts them.
func serveAppendEntries(tr *Transport) *atomic.Int64 {
	var served atomic.Int64
	go func() {
		for {
			select {
			case rpc := <-tr.Consumer():
				served.Add(1)
				rpc.Respond(&raft.AppendEntriesResponse{Term: 1, LastLog: 9, Success: true}, nil)
			case <-tr.shutdownCh:
				return
			}
		}
	}()
	return &served
}

func testAppend() *raft.AppendEntriesRequest {
	return &raft.AppendEntriesRequest{Term: 1, Leader: []byte("c"), PrevLogEntry: 8, PrevLogTerm: 1,
		Entries: []*raft.Log{{Index: 9, Term: 1, Data: []byte("x")}}}
}

// rawAttempt connects c's host to a directly and writes a valid frame on a
// raw stream; it reports whether a response came back.
func rawAttempt(t *testing.T, c, a *Transport) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ctx = network.WithForceDirectDial(ctx, "test")
	info, err := parseAddress(a.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.host.Connect(ctx, *info) // may fail: the point is what follows
	s, err := c.host.NewStream(ctx, a.PeerID(), ProtocolID)
	if err != nil {
		return false
	}
	defer s.Reset()
	_ = s.SetDeadline(time.Now().Add(3 * time.Second))
	b, err := appendFrame(nil, &frame{typ: frameAppendEntriesRequest, msg: testAppend()}, testMaxFrame)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(b); err != nil {
		return false
	}
	var hdr [frameHeaderSize]byte
	_, err = s.Read(hdr[:])
	return err == nil
}

func TestAllowlistRefusesStrangers(t *testing.T) {
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	keyA, keyB, keyC := mustKey(t), mustKey(t), mustKey(t)
	idB, idC := peerIDOf(t, keyB), peerIDOf(t, keyC)
	a := newTestTransport(t, keyA, []peer.ID{idB}, logger)
	// The stranger allows a, so only a's allowlist stands in the way.
	c := newTestTransport(t, keyC, []peer.ID{a.PeerID()}, quietLogger())
	served := serveAppendEntries(a)

	var resp raft.AppendEntriesResponse
	if err := c.AppendEntries("a", a.LocalAddr(), testAppend(), &resp); err == nil {
		t.Fatal("a stranger's AppendEntries was answered")
	}
	if rawAttempt(t, c, a) {
		t.Fatal("a stranger's raw stream got a response")
	}
	if n := served.Load(); n != 0 {
		t.Fatalf("raft was handed %d RPCs from a stranger", n)
	}
	if got := a.Stats().Received; got != (FrameCounts{}) {
		t.Fatalf("frames from a stranger were read: %+v", got)
	}
	if l := logs.String(); !strings.Contains(l, `"peer_id":"`+idC.String()+`"`) || !strings.Contains(l, `"remote_addr":"/ip4/127.0.0.1/tcp/`) || !strings.Contains(l, `"stage":"handshake"`) {
		t.Fatalf("refusal not logged with peer_id and remote_addr:\n%s", l)
	}

	// Admitting the peer at run time lets it in.
	a.SetAllowed([]peer.ID{idB, idC})
	resp = raft.AppendEntriesResponse{}
	if err := c.AppendEntries("a", a.LocalAddr(), testAppend(), &resp); err != nil {
		t.Fatalf("admitted peer: %v", err)
	}
	if !resp.Success || resp.LastLog != 9 || served.Load() != 1 {
		t.Fatalf("admitted peer got %+v, served %d", resp, served.Load())
	}

	// Removing it closes the connection and refuses it again.
	a.SetAllowed([]peer.ID{idB})
	if err := c.AppendEntries("a", a.LocalAddr(), testAppend(), &resp); err == nil {
		t.Fatal("removed peer's AppendEntries was answered")
	}
	if served.Load() != 1 {
		t.Fatalf("raft was handed %d RPCs, want 1", served.Load())
	}
}

// TestStreamHandlerChecksAllowlist covers the second line of defence: a
// connection that exists while its peer is no longer allowed cannot open a
// raft stream.
func TestStreamHandlerChecksAllowlist(t *testing.T) {
	logs := &syncBuffer{}
	keyA, keyC := mustKey(t), mustKey(t)
	idC := peerIDOf(t, keyC)
	a := newTestTransport(t, keyA, []peer.ID{idC}, slog.New(slog.NewJSONHandler(logs, nil)))
	c := newTestTransport(t, keyC, []peer.ID{a.PeerID()}, quietLogger())
	served := serveAppendEntries(a)
	if !rawAttempt(t, c, a) {
		t.Fatal("allowed peer's raw stream got no response")
	}
	// Drop the peer from the set without closing its connection, as a
	// race with SetAllowed could leave it.
	a.allow.set(nil)
	if a.host.Network().Connectedness(idC) != network.Connected {
		t.Fatal("test needs the connection to stay open")
	}
	if rawAttempt(t, c, a) {
		t.Fatal("a stream from a no longer allowed peer got a response")
	}
	if served.Load() != 1 {
		t.Fatalf("raft was handed %d RPCs, want 1", served.Load())
	}
	if l := logs.String(); !strings.Contains(l, `"stage":"stream"`) || !strings.Contains(l, idC.String()) {
		t.Fatalf("stream refusal not logged:\n%s", l)
	}
}

// TestRefusalLogsAreRateLimited: a stranger retrying in a loop gets one log line per minute, and the next line
// says how many refusals it did not log.
func TestRefusalLogsAreRateLimited(t *testing.T) {
	logs := &syncBuffer{}
	a := newAllowlist(peerIDOf(t, mustKey(t)), nil, slog.New(slog.NewJSONHandler(logs, nil)))
	now := time.Unix(1_800_000_000, 0)
	a.now = func() time.Time { return now }
	stranger, other := peerIDOf(t, mustKey(t)), peerIDOf(t, mustKey(t))
	for i := 0; i < 100; i++ {
		a.refuse(stranger, nil, "handshake")
		now = now.Add(100 * time.Millisecond)
	}
	a.refuse(other, nil, "handshake")
	if n := strings.Count(logs.String(), "\n"); n != 2 {
		t.Fatalf("%d log lines for 100 refusals of one peer and 1 of another, want 2:\n%s", n, logs.String())
	}
	now = now.Add(refusalLogEvery)
	a.refuse(stranger, nil, "handshake")
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if last := lines[len(lines)-1]; len(lines) != 3 || !strings.Contains(last, `"refusals_not_logged":99`) {
		t.Fatalf("after a minute, want a third line counting 99 unlogged refusals:\n%s", logs.String())
	}
}
