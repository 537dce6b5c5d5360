package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Member is one server of the cluster configuration.
type Member struct {
	// ID is the raft server ID: a short, stable node name such as "node-1".
	ID string `json:"id"`
	// Address is the node's libp2p multiaddr including its peer ID: /ip4/127.0.0.1/tcp/9000/p2p/12D3Koo…
	Address string `json:"address"`
	// Voter is false for non-voting members (they replicate but do not count for quorum).
	Voter bool `json:"voter"`
}

// Config is what a cluster node needs. Start from DefaultConfig and fill in the identity, directories and
// members; Validate names any bad value.
type Config struct {
	// ID is this node's raft server ID; it must appear in Bootstrap when Bootstrap is set.
	ID string
	// DataDir holds the raft log (raft.db), snapshots and the signed-by-me record (signed-by-me.db).
	DataDir string
	// Identity is this node's libp2p identity; its peer ID is part of every member address.
	Identity *Identity
	// ListenAddr is the multiaddr to listen on, such as /ip4/127.0.0.1/tcp/9000.
	ListenAddr string
	// Bootstrap is the initial configuration, used only when DataDir holds no raft state yet.
	Bootstrap []Member
	// AllowedPeers are peer IDs (besides current members) that may connect: the cluster lock file's list.
	AllowedPeers []string
	// SlotDuration is the beacon chain's slot time; raft timeouts derive from it (see RaftTimeouts).
	SlotDuration time.Duration
	// Keys holds this node's secret shares.
	Keys KeyRing
	// ProposeTimeout bounds how long Propose waits for a duty's group signatures.
	ProposeTimeout time.Duration
	// SnapshotThreshold and TrailingLogs tune raft's log compaction.
	SnapshotThreshold uint64
	TrailingLogs      uint64
	// SnapshotInterval is how often raft checks whether to snapshot.
	SnapshotInterval time.Duration
	// Logger receives structured logs; nil means slog.Default().
	Logger *slog.Logger
	// HeartbeatTimeout, ElectionTimeout and LeaderLeaseTimeout override RaftTimeouts(SlotDuration) when set.
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout time.Duration
	// OnFatal, when set, is called when the member cannot continue safely (ErrStateNotDurable: its raft term
	// or vote could not be written). A program should log and exit; if OnFatal returns, hashicorp/raft panics.
	OnFatal func(error)
}

// DefaultConfig returns defaults for everything but identity, directories, members and keys.
func DefaultConfig() Config {
	return Config{
		ListenAddr:        "/ip4/127.0.0.1/tcp/0",
		SlotDuration:      12 * time.Second,
		ProposeTimeout:    4 * time.Second,
		SnapshotThreshold: 8192,
		TrailingLogs:      4096,
		SnapshotInterval:  30 * time.Second,
	}
}

// ErrInvalidConfig wraps every error Validate returns.
var ErrInvalidConfig = errors.New("invalid cluster config")

// Validate reports the first bad value. It changes nothing.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.ID == "":
		return bad("ID is empty")
	case c.DataDir == "":
		return bad("DataDir is empty")
	case c.Identity == nil:
		return bad("Identity is nil")
	case c.ListenAddr == "":
		return bad("ListenAddr is empty")
	case c.SlotDuration < time.Second:
		return bad("SlotDuration %s is below 1s", c.SlotDuration)
	case c.Keys == nil:
		return bad("Keys is nil")
	case c.ProposeTimeout <= 0:
		return bad("ProposeTimeout %s must be positive", c.ProposeTimeout)
	}
	if len(c.Bootstrap) > 0 {
		seen := make(map[string]bool)
		self := false
		for _, m := range c.Bootstrap {
			if m.ID == "" || m.Address == "" {
				return bad("bootstrap member %+v needs an ID and an address", m)
			}
			if seen[m.ID] {
				return bad("bootstrap member %q appears twice", m.ID)
			}
			seen[m.ID] = true
			if _, err := peerIDOfAddress(m.Address); err != nil {
				return bad("bootstrap member %q: %v", m.ID, err)
			}
			if m.ID == c.ID {
				self = true
			}
		}
		if !self {
			return bad("bootstrap members do not include this node (%q)", c.ID)
		}
	}
	for _, p := range c.AllowedPeers {
		if _, err := decodePeerID(p); err != nil {
			return bad("allowed peer %q: %v", p, err)
		}
	}
	return nil
}

// RaftTimeouts derives raft's heartbeat/election timeout and leader lease from the slot time. Failover takes
// roughly 1–2 election timeouts, so the timeout is slot/30 (400 ms for 12 s slots), kept between 300 ms —
// below that, leaders flap when both cores of a small machine are busy — and 500 ms, so that a leader
// crash costs well under a second and never a whole attestation window.
func RaftTimeouts(slot time.Duration) (heartbeat, election, lease time.Duration) {
	t := slot / 30
	if t < 300*time.Millisecond {
		t = 300 * time.Millisecond
	}
	if t > 500*time.Millisecond {
		t = 500 * time.Millisecond
	}
	// The leader's lease is as long as raft allows (the heartbeat timeout): a leader steps down when it has
	// heard from no quorum for that long, and on a busy machine a shorter lease only causes needless
	// elections. A deposed leader cannot commit anything meanwhile, so safety does not depend on it.
	return t, t, t
}
