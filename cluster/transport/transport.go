package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// ProtocolID is the libp2p protocol that carries phalanx raft frames.
const ProtocolID = "/phalanx/raft/1.0.0"

const (
	// poolSize is how many idle streams are kept per peer. Raft uses one for
	// heartbeats and one for synchronous replication; the third absorbs votes.
	poolSize = 3
	// readBufferSize is the read buffer of every stream.
	readBufferSize = 64 << 10
	// snapshotChunkSize is the largest snapshot chunk body.
	snapshotChunkSize = 64 << 10
	// snapshotTimeoutScale is the snapshot size per Timeout of deadline
	// (raft's NetworkTransport uses the same figure).
	snapshotTimeoutScale = 256 << 10
)

// RemoteError is an error the remote raft returned for an RPC. It travels as
// an error_response frame.
type RemoteError struct {
	Message string
}

func (e *RemoteError) Error() string { return "remote raft: " + e.Message }

// ErrUnexpectedFrame reports a frame of a type that is not valid at that
// point of the exchange.
var ErrUnexpectedFrame = errors.New("unexpected frame")

// Transport is a raft.Transport over libp2p streams (TCP, noise, yamux)
// speaking ProtocolID. It also implements raft.WithPreVote and raft.WithClose.
//
// Synchronous RPCs use a small per-peer pool of streams, so the hot path pays
// no stream set-up; AppendEntriesPipeline opens a dedicated stream whose
// responses arrive in order; InstallSnapshot opens a stream of its own and
// streams the snapshot in chunk frames. Only peers in the allowlist (and this
// node) may connect.
type Transport struct {
	cfg       Config
	logger    *slog.Logger
	host      host.Host
	allow     *allowlist
	localAddr raft.ServerAddress

	consumeCh chan raft.RPC

	heartbeatMu sync.Mutex
	heartbeatFn func(raft.RPC)

	shutdownCh chan struct{}
	closeOnce  sync.Once
	closeErr   error

	poolMu sync.Mutex
	pool   map[peer.ID][]*stream

	addrMu sync.Mutex
	addrs  map[raft.ServerAddress]peer.ID

	counters counters
}

var (
	_ raft.Transport   = (*Transport)(nil)
	_ raft.WithPreVote = (*Transport)(nil)
	_ raft.WithClose   = (*Transport)(nil)
)

// New validates cfg, starts a libp2p host listening on cfg.ListenAddrs and
// returns the transport. Raft needs the listening address before it starts,
// so unlike most constructors this one opens sockets; Close releases them.
func New(cfg Config) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	self, err := peer.IDFromPrivateKey(cfg.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("derive peer ID: %w", err)
	}
	t := &Transport{
		cfg:        cfg,
		logger:     logger,
		allow:      newAllowlist(self, cfg.Allowed, logger),
		consumeCh:  make(chan raft.RPC),
		shutdownCh: make(chan struct{}),
		pool:       make(map[peer.ID][]*stream),
		addrs:      make(map[raft.ServerAddress]peer.ID),
	}
	h, err := libp2p.New(
		libp2p.Identity(cfg.PrivateKey),
		libp2p.ListenAddrStrings(cfg.ListenAddrs...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.ConnectionGater(t.allow),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.DisableIdentifyAddressDiscovery(),
		libp2p.Ping(false),
	)
	if err != nil {
		return nil, fmt.Errorf("start libp2p host: %w", err)
	}
	t.host = h
	addr, err := localAddress(h)
	if err != nil {
		_ = h.Close()
		return nil, err
	}
	t.localAddr = addr
	h.SetStreamHandler(ProtocolID, t.handleStream)
	return t, nil
}

// localAddress returns the first dialable listening address with /p2p/ appended.
func localAddress(h host.Host) (raft.ServerAddress, error) {
	var pick ma.Multiaddr
	for _, a := range h.Network().ListenAddresses() {
		if ip, err := manet.ToIP(a); err == nil && !ip.IsUnspecified() {
			pick = a
			break
		}
	}
	if pick == nil {
		if addrs := h.Addrs(); len(addrs) > 0 {
			pick = addrs[0]
		}
	}
	if pick == nil {
		return "", errors.New("libp2p host has no listening address")
	}
	p2p, err := ma.NewComponent("p2p", h.ID().String())
	if err != nil {
		return "", fmt.Errorf("build /p2p component: %w", err)
	}
	return raft.ServerAddress(pick.Encapsulate(p2p.Multiaddr()).String()), nil
}

// PeerID returns this node's libp2p peer ID.
func (t *Transport) PeerID() peer.ID { return t.host.ID() }

// LocalAddr returns this node's raft server address: a full multiaddr ending
// in /p2p/<peer ID>, such as "/ip4/127.0.0.1/tcp/9000/p2p/12D3KooW…".
func (t *Transport) LocalAddr() raft.ServerAddress { return t.localAddr }

// SetAllowed replaces the allowlist. Connections to peers that are no longer
// allowed are closed at once.
func (t *Transport) SetAllowed(ids []peer.ID) {
	removed := t.allow.set(ids)
	for _, id := range removed {
		if id == t.host.ID() {
			continue
		}
		t.dropPool(id)
		_ = t.host.Network().ClosePeer(id)
		t.logger.Info("peer removed from allowlist", "peer_id", id.String())
	}
}

// Consumer implements raft.Transport.
func (t *Transport) Consumer() <-chan raft.RPC { return t.consumeCh }

// SetHeartbeatHandler implements raft.Transport: heartbeats bypass the
// consumer channel so that they are not queued behind disk I/O.
func (t *Transport) SetHeartbeatHandler(cb func(rpc raft.RPC)) {
	t.heartbeatMu.Lock()
	t.heartbeatFn = cb
	t.heartbeatMu.Unlock()
}

// EncodePeer implements raft.Transport.
func (t *Transport) EncodePeer(_ raft.ServerID, addr raft.ServerAddress) []byte {
	return []byte(addr)
}

// DecodePeer implements raft.Transport.
func (t *Transport) DecodePeer(b []byte) raft.ServerAddress { return raft.ServerAddress(b) }

// Close stops the transport: pooled streams and the libp2p host are closed
// and blocked handlers return. It is safe to call more than once.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		close(t.shutdownCh)
		t.poolMu.Lock()
		for id, ss := range t.pool {
			for _, s := range ss {
				_ = s.s.Reset()
			}
			delete(t.pool, id)
		}
		t.poolMu.Unlock()
		if err := t.host.Close(); err != nil {
			t.closeErr = fmt.Errorf("close libp2p host: %w", err)
		}
	})
	return t.closeErr
}

func (t *Transport) isShutdown() bool {
	select {
	case <-t.shutdownCh:
		return true
	default:
		return false
	}
}

// stream is one outbound libp2p stream with its read buffer and a reusable
// encode buffer.
type stream struct {
	s    network.Stream
	peer peer.ID
	r    *bufio.Reader
	buf  []byte
}

func (s *stream) writeFrame(f *frame, maxSize int) error {
	b, err := appendFrame(s.buf[:0], f, maxSize)
	if err != nil {
		return err
	}
	s.buf = b
	if _, err := s.s.Write(b); err != nil {
		return fmt.Errorf("write %s frame: %w", f.typ, err)
	}
	return nil
}

// resolve maps a raft server address to its peer ID, teaching the peerstore
// the address the first time it is seen.
func (t *Transport) resolve(target raft.ServerAddress) (peer.ID, error) {
	t.addrMu.Lock()
	id, ok := t.addrs[target]
	t.addrMu.Unlock()
	if ok {
		return id, nil
	}
	info, err := parseAddress(target)
	if err != nil {
		return "", err
	}
	t.host.Peerstore().AddAddrs(info.ID, info.Addrs, peerstore.PermanentAddrTTL)
	t.addrMu.Lock()
	t.addrs[target] = info.ID
	t.addrMu.Unlock()
	return info.ID, nil
}

// openStream opens a new stream to target, dialing if needed.
func (t *Transport) openStream(target raft.ServerAddress) (*stream, error) {
	if t.isShutdown() {
		return nil, raft.ErrTransportShutdown
	}
	id, err := t.resolve(target)
	if err != nil {
		return nil, err
	}
	if !t.allow.allowed(id) {
		return nil, fmt.Errorf("open stream to %s: peer is not in the allowlist", id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), t.cfg.Timeout)
	defer cancel()
	// Raft retries with its own backoff; the swarm's dial backoff would
	// delay reconnecting to a restarted node for seconds.
	ctx = network.WithForceDirectDial(ctx, "raft rpc")
	s, err := t.host.NewStream(ctx, id, ProtocolID)
	if err != nil {
		return nil, fmt.Errorf("open stream to %s: %w", id, err)
	}
	return &stream{s: s, peer: id, r: bufio.NewReaderSize(s, readBufferSize)}, nil
}

// getStream takes a pooled stream to target or opens a new one.
func (t *Transport) getStream(target raft.ServerAddress) (*stream, error) {
	id, err := t.resolve(target)
	if err != nil {
		return nil, err
	}
	t.poolMu.Lock()
	if ss := t.pool[id]; len(ss) > 0 {
		s := ss[len(ss)-1]
		ss[len(ss)-1] = nil
		t.pool[id] = ss[:len(ss)-1]
		t.poolMu.Unlock()
		return s, nil
	}
	t.poolMu.Unlock()
	return t.openStream(target)
}

// putStream returns a healthy stream to the pool, or closes it.
func (t *Transport) putStream(s *stream) {
	t.poolMu.Lock()
	if !t.isShutdown() && len(t.pool[s.peer]) < poolSize && t.allow.allowed(s.peer) {
		t.pool[s.peer] = append(t.pool[s.peer], s)
		t.poolMu.Unlock()
		return
	}
	t.poolMu.Unlock()
	_ = s.s.Close()
}

// discard resets a failed stream together with the idle streams to the same
// peer: after an I/O failure they are likely dead too (the peer restarted or
// the connection dropped), and raft's retry should dial afresh.
func (t *Transport) discard(s *stream) {
	_ = s.s.Reset()
	t.dropPool(s.peer)
}

func (t *Transport) dropPool(id peer.ID) {
	t.poolMu.Lock()
	ss := t.pool[id]
	delete(t.pool, id)
	t.poolMu.Unlock()
	for _, s := range ss {
		_ = s.s.Reset()
	}
}

// roundTrip sends one request frame on a pooled stream and reads the
// response frame, which must be of type want or an error response.
func (t *Transport) roundTrip(target raft.ServerAddress, req *frame, want frameType) (*frame, error) {
	s, err := t.getStream(target)
	if err != nil {
		return nil, err
	}
	_ = s.s.SetDeadline(time.Now().Add(t.cfg.Timeout))
	if err := s.writeFrame(req, t.cfg.MaxFrameSize); err != nil {
		t.discard(s)
		return nil, fmt.Errorf("%s to %s: %w", req.typ, target, err)
	}
	resp, err := readFrame(s.r, t.cfg.MaxFrameSize)
	if err != nil {
		t.discard(s)
		return nil, fmt.Errorf("%s to %s: read response: %w", req.typ, target, err)
	}
	if resp.typ != want && resp.typ != frameErrorResponse {
		_ = s.s.Reset()
		return nil, fmt.Errorf("%s to %s: %s in response: %w", req.typ, target, resp.typ, ErrUnexpectedFrame)
	}
	t.putStream(s)
	if resp.typ == frameErrorResponse {
		t.counters.received(frameErrorResponse)
		return nil, &RemoteError{Message: resp.errMsg}
	}
	return resp, nil
}

// call runs a synchronous RPC and copies the response into resp.
func call[Resp any](t *Transport, target raft.ServerAddress, typ, want frameType, args any, ext []Extension, resp *Resp) ([]Extension, error) {
	t.counters.sent(typ)
	f, err := t.roundTrip(target, &frame{typ: typ, msg: args, ext: ext}, want)
	if err != nil {
		return nil, err
	}
	m, ok := f.msg.(*Resp)
	if !ok {
		return nil, fmt.Errorf("%s response holds %T: %w", typ, f.msg, ErrUnexpectedFrame)
	}
	*resp = *m
	return f.ext, nil
}

// AppendEntries implements raft.Transport. Hooks add request extensions and
// receive response extensions.
func (t *Transport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	var ext []Extension
	if t.cfg.Hooks != nil {
		ext = t.cfg.Hooks.RequestExtensions(id, args)
	}
	if isHeartbeat(args) {
		t.counters.heartbeatsSent.Add(1)
	}
	respExt, err := call(t, target, frameAppendEntriesRequest, frameAppendEntriesResponse, args, ext, resp)
	if err != nil {
		return err
	}
	if len(respExt) > 0 && t.cfg.Hooks != nil {
		t.cfg.Hooks.OnResponseExtensions(id, resp, respExt)
	}
	return nil
}

// RequestVote implements raft.Transport.
func (t *Transport) RequestVote(_ raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	_, err := call(t, target, frameRequestVoteRequest, frameRequestVoteResponse, args, nil, resp)
	return err
}

// RequestPreVote implements raft.WithPreVote.
func (t *Transport) RequestPreVote(_ raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	_, err := call(t, target, frameRequestPreVoteRequest, frameRequestPreVoteResponse, args, nil, resp)
	return err
}

// TimeoutNow implements raft.Transport.
func (t *Transport) TimeoutNow(_ raft.ServerID, target raft.ServerAddress, args *raft.TimeoutNowRequest, resp *raft.TimeoutNowResponse) error {
	_, err := call(t, target, frameTimeoutNowRequest, frameTimeoutNowResponse, args, nil, resp)
	return err
}

// InstallSnapshot implements raft.Transport. It sends the request frame on a
// stream of its own, then args.Size bytes of data in chunk frames, and never
// holds more than one chunk in memory.
func (t *Transport) InstallSnapshot(_ raft.ServerID, target raft.ServerAddress, args *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader) error {
	t.counters.sent(frameInstallSnapshotRequest)
	s, err := t.openStream(target)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if ok {
			_ = s.s.Close()
		} else {
			_ = s.s.Reset()
		}
	}()
	timeout := t.cfg.Timeout
	if scaled := t.cfg.Timeout * time.Duration(args.Size/snapshotTimeoutScale); scaled > timeout {
		timeout = scaled
	}
	_ = s.s.SetDeadline(time.Now().Add(timeout))
	if err := s.writeFrame(&frame{typ: frameInstallSnapshotRequest, msg: args}, t.cfg.MaxFrameSize); err != nil {
		return fmt.Errorf("install snapshot to %s: %w", target, err)
	}
	chunk := min(snapshotChunkSize, t.cfg.MaxFrameSize)
	buf := make([]byte, frameHeaderSize+chunk)
	for remaining := args.Size; remaining > 0; {
		n := int(min(int64(chunk), remaining))
		if _, err := io.ReadFull(data, buf[frameHeaderSize:frameHeaderSize+n]); err != nil {
			return fmt.Errorf("install snapshot to %s: read snapshot (%d of %d bytes left): %w", target, remaining, args.Size, err)
		}
		putFrameHeader(buf, frameSnapshotChunk, n)
		if _, err := s.s.Write(buf[:frameHeaderSize+n]); err != nil {
			return fmt.Errorf("install snapshot to %s: write chunk: %w", target, err)
		}
		t.counters.snapshotChunksSent.Add(1)
		remaining -= int64(n)
	}
	f, err := readFrame(s.r, t.cfg.MaxFrameSize)
	if err != nil {
		return fmt.Errorf("install snapshot to %s: read response: %w", target, err)
	}
	switch m := f.msg.(type) {
	case *raft.InstallSnapshotResponse:
		*resp = *m
	default:
		if f.typ == frameErrorResponse {
			ok = true
			return &RemoteError{Message: f.errMsg}
		}
		return fmt.Errorf("install snapshot to %s: %s in response: %w", target, f.typ, ErrUnexpectedFrame)
	}
	ok = true
	return nil
}

func putFrameHeader(b []byte, typ frameType, n int) {
	b[0] = frameVersion
	b[1] = byte(typ)
	b[2] = byte(n >> 24)
	b[3] = byte(n >> 16)
	b[4] = byte(n >> 8)
	b[5] = byte(n)
}

// isHeartbeat reports whether req is one of raft's heartbeats, which carry a
// term and a leader but no log position (the same test raft's NetworkTransport
// applies before taking its heartbeat fast path).
func isHeartbeat(req *raft.AppendEntriesRequest) bool {
	leader := req.Addr
	if len(leader) == 0 {
		leader = req.Leader
	}
	return req.Term != 0 && leader != nil && req.PrevLogEntry == 0 && req.PrevLogTerm == 0 &&
		len(req.Entries) == 0 && req.LeaderCommitIndex == 0
}

// errStreamDone ends a handler loop after a response that leaves the stream
// unusable for further requests (InstallSnapshot).
var errStreamDone = errors.New("stream done")

// handleStream serves one inbound stream: request frames in, response frames
// out, until the peer closes it or an error occurs.
func (t *Transport) handleStream(s network.Stream) {
	remote := s.Conn().RemotePeer()
	if !t.allow.allowed(remote) {
		t.allow.refuse(remote, s.Conn().RemoteMultiaddr(), "stream")
		_ = s.Reset()
		return
	}
	r := bufio.NewReaderSize(s, readBufferSize)
	var buf []byte
	for {
		f, err := readFrame(r, t.cfg.MaxFrameSize)
		if err != nil {
			if !errors.Is(err, io.EOF) && !t.isShutdown() {
				t.logger.Debug("raft stream ended", "peer_id", remote.String(), "error", err)
			}
			_ = s.Reset()
			return
		}
		buf, err = t.serve(s, r, f, buf)
		if err != nil {
			if errors.Is(err, errStreamDone) {
				_ = s.Close()
				return
			}
			if !t.isShutdown() {
				t.logger.Debug("raft stream failed", "peer_id", remote.String(), "error", err)
			}
			_ = s.Reset()
			return
		}
	}
}

// serve hands one request to raft, waits for its answer and writes the
// response frame, encoding into buf.
func (t *Transport) serve(s network.Stream, r *bufio.Reader, f *frame, buf []byte) ([]byte, error) {
	respCh := make(chan raft.RPCResponse, 1)
	rpc := raft.RPC{Command: f.msg, RespChan: respCh}
	var (
		aeReq     *raft.AppendEntriesRequest
		snap      *chunkReader
		heartbeat bool
	)
	switch f.typ {
	case frameAppendEntriesRequest:
		aeReq = f.msg.(*raft.AppendEntriesRequest)
		heartbeat = isHeartbeat(aeReq)
		if heartbeat {
			t.counters.heartbeatsReceived.Add(1)
		}
	case frameInstallSnapshotRequest:
		req := f.msg.(*raft.InstallSnapshotRequest)
		snap = &chunkReader{s: s, r: r, remaining: req.Size, maxSize: t.cfg.MaxFrameSize, timeout: t.cfg.Timeout}
		rpc.Reader = snap
	case frameRequestVoteRequest, frameRequestPreVoteRequest, frameTimeoutNowRequest:
	default:
		return buf, fmt.Errorf("%s from a client: %w", f.typ, ErrUnexpectedFrame)
	}
	t.counters.received(f.typ)

	// Let the cluster layer start work on the entries while raft makes them durable (it must not release
	// anything before raft has answered; see PreAppendHook).
	if aeReq != nil && !heartbeat {
		if pre, ok := t.cfg.Hooks.(PreAppendHook); ok {
			pre.BeforeAppendEntries(aeReq)
		}
	}
	dispatched := false
	if heartbeat {
		t.heartbeatMu.Lock()
		fn := t.heartbeatFn
		t.heartbeatMu.Unlock()
		if fn != nil {
			fn(rpc)
			dispatched = true
		}
	}
	if !dispatched {
		select {
		case t.consumeCh <- rpc:
		case <-t.shutdownCh:
			return buf, raft.ErrTransportShutdown
		}
	}
	var res raft.RPCResponse
	select {
	case res = <-respCh:
	case <-t.shutdownCh:
		return buf, raft.ErrTransportShutdown
	}

	out := &frame{}
	if res.Error != nil {
		out.typ = frameErrorResponse
		out.errMsg = res.Error.Error()
		t.counters.sent(frameErrorResponse)
	} else {
		typ, err := frameTypeOf(res.Response)
		if err != nil {
			return buf, fmt.Errorf("raft answered %s: %w", f.typ, err)
		}
		out.typ, out.msg = typ, res.Response
		if aeResp, ok := res.Response.(*raft.AppendEntriesResponse); ok && aeReq != nil && t.cfg.Hooks != nil {
			out.ext = t.cfg.Hooks.OnAppendEntriesHandled(aeReq, aeResp, f.ext)
		}
	}
	b, err := appendFrame(buf[:0], out, t.cfg.MaxFrameSize)
	if err != nil {
		return buf, fmt.Errorf("encode response to %s: %w", f.typ, err)
	}
	_ = s.SetWriteDeadline(time.Now().Add(t.cfg.Timeout))
	if _, err := s.Write(b); err != nil {
		return b, fmt.Errorf("write %s: %w", out.typ, err)
	}
	if snap != nil {
		return b, errStreamDone
	}
	return b, nil
}

// chunkReader reads the snapshot_chunk frames that follow an
// install_snapshot_request frame, yielding exactly remaining bytes. Chunk
// bodies are copied straight into the caller's buffer.
type chunkReader struct {
	s         network.Stream
	r         *bufio.Reader
	remaining int64
	chunkLeft int
	maxSize   int
	timeout   time.Duration
	err       error
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.remaining == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	_ = c.s.SetReadDeadline(time.Now().Add(c.timeout))
	if c.chunkLeft == 0 {
		typ, n, err := readFrameHeader(c.r, c.maxSize)
		if err != nil {
			c.err = fmt.Errorf("read snapshot chunk: %w", noEOF(err))
			return 0, c.err
		}
		if typ != frameSnapshotChunk || n == 0 || int64(n) > c.remaining {
			c.err = fmt.Errorf("%s of %d bytes with %d snapshot bytes left: %w", typ, n, c.remaining, ErrUnexpectedFrame)
			return 0, c.err
		}
		c.chunkLeft = n
	}
	k := min(len(p), c.chunkLeft)
	n, err := c.r.Read(p[:k])
	c.chunkLeft -= n
	c.remaining -= int64(n)
	if err != nil {
		c.err = fmt.Errorf("read snapshot chunk: %w", noEOF(err))
		return n, c.err
	}
	return n, nil
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
