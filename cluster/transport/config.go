package transport

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Hooks lets the cluster layer add extensions to AppendEntries traffic and
// read the ones that come back. Methods may be called concurrently from
// several streams and must not block for long: they run on the replication
// path.
type Hooks interface {
	// RequestExtensions runs on the leader before an AppendEntries request
	// (heartbeats included) is sent to target, and returns the extensions to
	// attach, for example requests for signature shares. req must not be
	// modified.
	RequestExtensions(target raft.ServerID, req *raft.AppendEntriesRequest) []Extension
	// OnAppendEntriesHandled runs on a follower after raft has handled an
	// AppendEntries request and before the response is written. When
	// resp.Success is true the request's entries are durably in the local
	// log. reqExt are the extensions the leader attached. It returns the
	// extensions to attach to the response. req and resp must not be modified.
	OnAppendEntriesHandled(req *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse, reqExt []Extension) []Extension
	// OnResponseExtensions runs on the leader for every AppendEntries
	// response, pipelined or not, that carries extensions.
	OnResponseExtensions(from raft.ServerID, resp *raft.AppendEntriesResponse, ext []Extension)
}

// PreAppendHook is an optional extension of Hooks. When Hooks implements it, BeforeAppendEntries runs on a
// follower for every AppendEntries request that carries entries, before the request is handed to raft, so the
// cluster layer can prepare (check, record, sign) while raft appends and fsyncs. It must return quickly, and
// nothing it prepares may leave the node before OnAppendEntriesHandled reports that raft accepted the entries.
type PreAppendHook interface {
	BeforeAppendEntries(req *raft.AppendEntriesRequest)
}

// Config configures a Transport. Start from DefaultConfig.
type Config struct {
	// PrivateKey is the node's libp2p identity (Ed25519); the peer ID derives from it.
	PrivateKey crypto.PrivKey
	// ListenAddrs are the multiaddrs to listen on, such as "/ip4/127.0.0.1/tcp/0".
	ListenAddrs []string
	// Allowed lists the only peers that may connect, besides this node itself.
	// Anyone else is refused at the security handshake. SetAllowed replaces it
	// at run time.
	Allowed []peer.ID
	// Hooks adds and receives AppendEntries extensions; nil means none.
	Hooks Hooks
	// Timeout bounds the I/O of one RPC (connection set-up included). For
	// InstallSnapshot it is scaled up with the snapshot size.
	Timeout time.Duration
	// MaxPipeline is the number of AppendEntries requests that may be in
	// flight on a pipeline; below 2 pipelining is disabled and raft sends
	// every request synchronously.
	MaxPipeline int
	// MaxFrameSize bounds the body of one frame, in bytes, both ways. It must
	// hold the largest AppendEntries batch raft builds (MaxAppendEntries
	// entries).
	MaxFrameSize int
	// Logger receives the transport's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Limits of the configuration values.
const (
	minFrameSize = 4 << 10
	maxFrameSize = 1 << 30
)

// DefaultConfig returns a configuration with defaults for everything but
// the identity and the allowlist: loopback listening on a free port, a 10 s
// RPC timeout, a pipeline of 2 in flight (raft's own default, see
// hashicorp/raft#541) and 16 MiB frames.
func DefaultConfig() Config {
	return Config{
		ListenAddrs:  []string{"/ip4/127.0.0.1/tcp/0"},
		Timeout:      10 * time.Second,
		MaxPipeline:  2,
		MaxFrameSize: 16 << 20,
	}
}

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("invalid transport config")

// Validate reports the first bad value in c. It changes nothing.
func (c Config) Validate() error {
	if c.PrivateKey == nil {
		return fmt.Errorf("%w: PrivateKey is nil; generate one with GenerateIdentity", ErrInvalidConfig)
	}
	if _, err := peer.IDFromPrivateKey(c.PrivateKey); err != nil {
		return fmt.Errorf("%w: PrivateKey yields no peer ID: %v", ErrInvalidConfig, err)
	}
	if len(c.ListenAddrs) == 0 {
		return fmt.Errorf("%w: ListenAddrs is empty", ErrInvalidConfig)
	}
	for _, a := range c.ListenAddrs {
		if _, err := ma.NewMultiaddr(a); err != nil {
			return fmt.Errorf("%w: ListenAddrs entry %q is not a multiaddr: %v", ErrInvalidConfig, a, err)
		}
	}
	for i, id := range c.Allowed {
		if _, err := peer.IDFromBytes([]byte(id)); err != nil {
			return fmt.Errorf("%w: Allowed[%d] is not a peer ID: %v", ErrInvalidConfig, i, err)
		}
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("%w: Timeout %v must be positive", ErrInvalidConfig, c.Timeout)
	}
	if c.MaxPipeline < 0 {
		return fmt.Errorf("%w: MaxPipeline %d is negative", ErrInvalidConfig, c.MaxPipeline)
	}
	if c.MaxFrameSize < minFrameSize || c.MaxFrameSize > maxFrameSize {
		return fmt.Errorf("%w: MaxFrameSize %d is outside [%d, %d]", ErrInvalidConfig, c.MaxFrameSize, minFrameSize, maxFrameSize)
	}
	return nil
}
