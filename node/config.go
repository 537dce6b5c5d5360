package node

import (
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"log/slog"
	"net/url"
	"strings"
	"time"
)

// ErrInvalidConfig wraps every error Config.Validate returns.
var ErrInvalidConfig = errors.New("invalid node config")

// Config is what one phalanx node needs. Start from DefaultConfig; Validate names any bad value.
type Config struct {
	// ID is this node's member ID in the lock file (its raft server ID).
	ID string
	// DataDir holds the raft log, snapshots and the signed-by-me record.
	DataDir string
	// IdentityFile is this node's libp2p identity (see cluster.SaveIdentity); its peer ID must be the lock's.
	IdentityFile string
	// LockFile is the cluster lock (see Lock).
	LockFile string
	// KeysDir holds this node's share keystores, one per validator (see ShareKeystoreName).
	KeysDir string
	// PasswordFile holds the keystores' password.
	PasswordFile string
	// ListenAddr is the libp2p multiaddr to listen on, such as /ip4/0.0.0.0/tcp/9000.
	ListenAddr string
	// BeaconURLs are the beacon nodes' Beacon API addresses, in order of preference.
	BeaconURLs []string
	// BeaconTimeout bounds each beacon node request.
	BeaconTimeout time.Duration
	// SlotDuration is the chain's slot time, from which raft's timeouts derive (see cluster.RaftTimeouts).
	SlotDuration time.Duration
	// ProposeTimeout bounds how long a duty waits for its group signatures.
	ProposeTimeout time.Duration
	// Graffiti goes into proposed blocks (at most 32 bytes).
	Graffiti string
	// FeeRecipient is the execution address builder registrations name (20 bytes).
	FeeRecipient [20]byte
	// GasLimit goes into builder registrations.
	GasLimit uint64
	// Registrations enables builder validator registrations once per epoch.
	Registrations bool
	// DoppelgangerCheck runs the liveness check each time this node becomes leader, before any signing.
	DoppelgangerCheck bool
	// HandoverAfter is how long the leader's beacon node may stay unusable before the leader hands
	// leadership to a voter whose beacon node is usable. Zero means half a slot; negative disables handover.
	HandoverAfter time.Duration
	// Logger receives structured logs; nil means slog.Default().
	Logger *slog.Logger
	// Clock is the scheduler's time source; nil means the wall clock.
	Clock Clock
	// Beacon replaces the clients of BeaconURLs (for tests and embedding); nil builds them from BeaconURLs.
	Beacon Beacon
	// SnapshotThreshold, TrailingLogs and SnapshotInterval tune raft's log compaction; zero keeps the cluster
	// defaults.
	SnapshotThreshold, TrailingLogs uint64
	SnapshotInterval                time.Duration
	// Registry, if set, receives the node's and its cluster member's Prometheus metrics.
	Registry prometheus.Registerer
	// OnFatal is called when the cluster member cannot continue safely (see cluster.Config.OnFatal).
	OnFatal func(error)
}

// DefaultConfig returns defaults for everything but the member ID, files, directories and beacon nodes.
func DefaultConfig() Config {
	return Config{
		ListenAddr:        "/ip4/0.0.0.0/tcp/9000",
		BeaconTimeout:     10 * time.Second,
		SlotDuration:      12 * time.Second,
		ProposeTimeout:    4 * time.Second,
		GasLimit:          30_000_000,
		Registrations:     true,
		DoppelgangerCheck: true,
	}
}

// Validate reports every bad value, joined. It changes nothing.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...)))
	}
	if c.ID == "" {
		bad("ID is empty: set this node's member id from the lock file")
	}
	if c.DataDir == "" {
		bad("DataDir is empty")
	}
	if c.IdentityFile == "" {
		bad("IdentityFile is empty")
	}
	if c.LockFile == "" {
		bad("LockFile is empty")
	}
	if c.KeysDir == "" {
		bad("KeysDir is empty")
	}
	if c.PasswordFile == "" {
		bad("PasswordFile is empty")
	}
	if !strings.HasPrefix(c.ListenAddr, "/") {
		bad("ListenAddr %q is not a multiaddr such as /ip4/0.0.0.0/tcp/9000", c.ListenAddr)
	}
	if c.Beacon == nil {
		if len(c.BeaconURLs) == 0 {
			bad("BeaconURLs is empty: name at least one beacon node")
		}
		for _, u := range c.BeaconURLs {
			p, err := url.Parse(u)
			if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
				bad("beacon URL %q is not an http(s) URL", u)
			}
		}
	}
	if c.BeaconTimeout <= 0 {
		bad("BeaconTimeout %s must be positive", c.BeaconTimeout)
	}
	if c.SlotDuration < time.Second {
		bad("SlotDuration %s is below 1s", c.SlotDuration)
	}
	if c.ProposeTimeout <= 0 {
		bad("ProposeTimeout %s must be positive", c.ProposeTimeout)
	}
	if len(c.Graffiti) > 32 {
		bad("Graffiti is %d bytes; at most 32", len(c.Graffiti))
	}
	return errors.Join(errs...)
}
