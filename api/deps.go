package api

import (
	"context"
	"io"
	"time"

	"github.com/phalanx-eth/phalanx/cluster"
	"github.com/phalanx-eth/phalanx/fsm"
	"github.com/phalanx-eth/phalanx/fsm/eth"
)

// Cluster is what the server needs from this node's cluster membership. *cluster.Node satisfies it.
type Cluster interface {
	// ID is this node's raft server ID.
	ID() string
	// PeerID is this node's libp2p peer ID.
	PeerID() string
	// IsLeader reports whether this node leads.
	IsLeader() bool
	// Leader returns the leader's server ID and address, empty when unknown.
	Leader() (id, address string)
	// Propose appends an entry and waits for it to commit (and, for a duty, for its group signatures).
	Propose(ctx context.Context, e fsm.Entry) (*cluster.Outcome, error)
	// Status is this node's view of the cluster.
	Status() (cluster.Status, error)
	// SigningError is the failure that disabled signing on this node, if any.
	SigningError() error

	AddVoter(id, address string) error
	AddNonvoter(id, address string) error
	RemoveServer(id string) error
	TransferLeadership(id string) error
	SaveSnapshot(w io.Writer) error
	RestoreSnapshot(r io.Reader) error
}

// State is a read-only view of the replicated state machine. *fsm.Machine satisfies it.
type State interface {
	ChainConfig() (*fsm.ChainConfig, bool)
	Spec() (*eth.Spec, bool)
	Validator(pk [48]byte) (fsm.ValidatorInfo, bool)
	Validators() []fsm.ValidatorInfo
	ChainView() fsm.ChainView
	Halted() (bool, string)
	History(slot uint64, pk [48]byte) []fsm.DutyRecord
	ExportInterchange(pubkeys [][48]byte, complete bool) ([]byte, error)
	// Check returns what applying data would decide now, changing nothing.
	Check(data []byte) *fsm.Result
}

// Deps are the server's required collaborators.
type Deps struct {
	Cluster Cluster
	State   State
	// Now is the clock for sync distance; nil means time.Now.
	Now func() time.Time
	// NodeStatus, if set, reports the node's duty status (served at /v1/node/status): the leader's scheduler
	// view of recent slots, beacon-node health.
	NodeStatus func() any
}

var (
	_ Cluster = (*cluster.Node)(nil)
	_ State   = (*fsm.Machine)(nil)
)
