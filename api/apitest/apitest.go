// Package apitest runs an in-process phalanx cluster with its API servers, for tests of the api package
// and of the CLI: real cluster.Nodes on loopback libp2p transports with their own data directories, real
// threshold keys, and one api.Server per node serving on loopback.
package apitest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phalanx-eth/phalanx/api"
	"github.com/phalanx-eth/phalanx/cluster"
	"github.com/phalanx-eth/phalanx/fsm"
	"github.com/phalanx-eth/phalanx/threshold"
)

// Tokens the harness configures on every server.
const (
	AdminToken      = "admin-token-0123456789abcdef"
	KeymanagerToken = "keymanager-token-0123456789abcdef"
)

// GVR is the genesis validators root of the harness chain.
var GVR = [32]byte{0x4b, 0x36, 0x3d, 0xb9, 0x01}

// GenesisForkVersion is the harness chain's only fork version.
var GenesisForkVersion = [4]byte{0x10, 0, 0, 0}

// SlotsPerEpoch and SecondsPerSlot of the harness chain.
const (
	SlotsPerEpoch  = 8
	SecondsPerSlot = 2
	GenesisTime    = 1_700_000_000
)

// Validator is one validator of the harness; the test keeps the whole key to check group signatures.
type Validator struct {
	SK     *threshold.SecretKey
	PK     *threshold.PublicKey
	Pubkey [48]byte
	Index  uint64
	shares []threshold.SecretShare
	commit threshold.Commitments
}

// Hex returns the 0x public key.
func (v *Validator) Hex() string { return "0x" + hex.EncodeToString(v.Pubkey[:]) }

// Options shape a harness.
type Options struct {
	// Nodes started and bootstrapped (default 3); Spare more are prepared (keys, identities, API) but not
	// started, for membership tests.
	Nodes, Spare int
	// Threshold of every validator (default majority of Nodes).
	Threshold int
	// SparesWithoutShares splits the validator keys among the Nodes only: spare nodes hold no share, so once
	// added they replicate and vote but never sign (a cluster grown without resharing its keys).
	SparesWithoutShares bool
	// Validators registered (default 2).
	Validators int
	// UpstreamBeaconURLs are given to every server.
	UpstreamBeaconURLs []string
}

// Cluster is a running harness.
type Cluster struct {
	T          testing.TB
	Opts       Options
	Nodes      []*cluster.Node // nil for spare or stopped nodes
	Servers    []*api.Server
	URLs       []string // API base URL per node
	Members    []cluster.Member
	Validators []*Validator

	ids     []*cluster.Identity
	dirs    []string
	addrs   []string
	lns     []net.Listener
	cancels []context.CancelFunc
	done    []chan struct{}
	mu      sync.Mutex
}

// Name is the raft server ID of node i.
func Name(i int) string { return fmt.Sprintf("node-%d", i+1) }

func logger() *slog.Logger {
	if os.Getenv("PHALANX_TEST_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// New starts the harness, waits for a leader and registers the chain and the validators through the log.
func New(t testing.TB, o Options) *Cluster {
	t.Helper()
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Threshold == 0 {
		o.Threshold = o.Nodes/2 + 1
	}
	if o.Validators == 0 {
		o.Validators = 2
	}
	total := o.Nodes + o.Spare
	c := &Cluster{T: t, Opts: o}
	base := t.TempDir()
	for i := 0; i < total; i++ {
		id, err := cluster.GenerateIdentity()
		if err != nil {
			t.Fatal(err)
		}
		c.ids = append(c.ids, id)
		c.dirs = append(c.dirs, filepath.Join(base, Name(i)))
		addr := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", freePort(t))
		c.addrs = append(c.addrs, addr)
		c.Members = append(c.Members, cluster.Member{ID: Name(i), Address: addr + "/p2p/" + id.PeerID(), Voter: true})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c.lns = append(c.lns, ln)
		c.URLs = append(c.URLs, "http://"+ln.Addr().String())
	}
	for v := 0; v < o.Validators; v++ {
		sk, err := threshold.GenerateSecretKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		holders := total
		if o.SparesWithoutShares {
			holders = o.Nodes
		}
		shares, commit, err := threshold.Split(sk, o.Threshold, holders, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		val := &Validator{SK: sk, PK: sk.PublicKey(), Index: uint64(100 + v), shares: shares, commit: commit}
		copy(val.Pubkey[:], val.PK.Bytes())
		c.Validators = append(c.Validators, val)
	}
	c.Nodes = make([]*cluster.Node, total)
	c.Servers = make([]*api.Server, total)
	c.cancels = make([]context.CancelFunc, total)
	c.done = make([]chan struct{}, total)
	t.Cleanup(c.Close)
	for i := 0; i < o.Nodes; i++ {
		c.Start(i)
	}
	c.WaitLeader()
	c.register()
	return c
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start starts node i and its API server (again, after Stop: same identity, data and address).
func (c *Cluster) Start(i int) {
	c.T.Helper()
	cfg := cluster.DefaultConfig()
	cfg.ID = Name(i)
	cfg.DataDir = c.dirs[i]
	cfg.Identity = c.ids[i]
	cfg.ListenAddr = c.addrs[i]
	if i < c.Opts.Nodes {
		cfg.Bootstrap = c.Members[:c.Opts.Nodes]
	}
	for _, id := range c.ids {
		cfg.AllowedPeers = append(cfg.AllowedPeers, id.PeerID())
	}
	cfg.SlotDuration = SecondsPerSlot * time.Second
	cfg.ProposeTimeout = 5 * time.Second
	cfg.Logger = logger().With("test_node", i+1)
	kr := make(cluster.MapKeyRing)
	for _, v := range c.Validators {
		if i >= len(v.shares) {
			continue // a spare without shares
		}
		s := v.shares[i]
		kr[v.Pubkey] = &s
	}
	cfg.Keys = kr
	reg := prometheus.NewRegistry()
	nd, err := cluster.New(cfg, cluster.WithMetrics(cluster.NewMetrics(reg)))
	if err != nil {
		c.T.Fatal(err)
	}
	if err := nd.Start(); err != nil {
		c.T.Fatalf("start %s: %v", Name(i), err)
	}
	acfg := api.DefaultConfig()
	acfg.AdminToken = AdminToken
	acfg.KeymanagerToken = KeymanagerToken
	acfg.Registry = reg
	acfg.Version = "test"
	acfg.UpstreamBeaconURLs = c.Opts.UpstreamBeaconURLs
	acfg.SignTimeout = 8 * time.Second
	acfg.Logger = cfg.Logger
	acfg.MemberAPIs = make(map[string]string)
	for j, u := range c.URLs {
		acfg.MemberAPIs[Name(j)] = u
	}
	srv, err := api.New(acfg, api.Deps{Cluster: nd, State: nd.Machine()})
	if err != nil {
		c.T.Fatal(err)
	}
	ln := c.lns[i]
	if ln == nil {
		var lerr error
		addr := c.URLs[i][len("http://"):]
		for try := 0; try < 50; try++ {
			if ln, lerr = net.Listen("tcp", addr); lerr == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if lerr != nil {
			c.T.Fatal(lerr)
		}
	}
	c.lns[i] = nil
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ctx, ln)
	}()
	c.mu.Lock()
	c.Nodes[i], c.Servers[i], c.cancels[i], c.done[i] = nd, srv, cancel, done
	c.mu.Unlock()
}

// Stop stops node i's API server and node.
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	nd, cancel, done := c.Nodes[i], c.cancels[i], c.done[i]
	c.Nodes[i], c.Servers[i], c.cancels[i] = nil, nil, nil
	c.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	if nd != nil {
		_ = nd.Close()
	}
}

// Close stops everything.
func (c *Cluster) Close() {
	for i := range c.Nodes {
		c.Stop(i)
	}
	for i, ln := range c.lns {
		if ln != nil {
			ln.Close()
			c.lns[i] = nil
		}
	}
}

// WaitFor polls cond until it holds or d passes.
func (c *Cluster) WaitFor(what string, d time.Duration, cond func() bool) {
	c.T.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.T.Fatalf("timed out after %s waiting for %s", d, what)
}

// Leader returns the index of the leading node, or -1.
func (c *Cluster) Leader() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, nd := range c.Nodes {
		if nd != nil && nd.IsLeader() {
			return i
		}
	}
	return -1
}

// Follower returns the index of a running node that does not lead and knows the leader, or -1.
func (c *Cluster) Follower() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, nd := range c.Nodes {
		if nd != nil && !nd.IsLeader() {
			if id, _ := nd.Leader(); id != "" {
				return i
			}
		}
	}
	return -1
}

// WaitLeader waits until a node leads and every running node knows it.
func (c *Cluster) WaitLeader() int {
	c.T.Helper()
	c.WaitFor("a leader known to every node", 30*time.Second, func() bool {
		l := c.Leader()
		if l < 0 {
			return false
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, nd := range c.Nodes {
			if nd == nil {
				continue
			}
			if id, _ := nd.Leader(); id != Name(l) {
				return false
			}
		}
		return true
	})
	return c.Leader()
}

// Propose sends e to whoever leads, retrying across elections.
func (c *Cluster) Propose(e fsm.Entry) *cluster.Outcome {
	c.T.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		l := c.Leader()
		if l < 0 {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		out, err := c.Nodes[l].Propose(ctx, e)
		cancel()
		if err == nil {
			if out.Result.Status != fsm.StatusApplied {
				c.T.Fatalf("propose %T: rejected: %s", e, out.Result.Reason)
			}
			return out
		}
		last = err
		if !errors.Is(err, cluster.ErrNotLeader) {
			c.T.Fatalf("propose %T: %v", e, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.T.Fatalf("no leader accepted %T: %v", e, last)
	return nil
}

func (c *Cluster) register() {
	c.T.Helper()
	c.Propose(&fsm.ChainConfig{
		GenesisTime:           GenesisTime,
		GenesisValidatorsRoot: GVR,
		GenesisForkVersion:    GenesisForkVersion,
		Forks:                 []fsm.ForkSchedule{{Version: GenesisForkVersion, Epoch: 0}},
		SecondsPerSlot:        SecondsPerSlot,
		SlotsPerEpoch:         SlotsPerEpoch,
	})
	for _, v := range c.Validators {
		add := &fsm.ValidatorAdd{Pubkey: v.Pubkey, Threshold: uint8(c.Opts.Threshold), ValidatorIndex: v.Index}
		for s := 1; s <= len(v.shares); s++ {
			spk, err := v.commit.SharePublicKey(uint32(s))
			if err != nil {
				c.T.Fatal(err)
			}
			var b [48]byte
			copy(b[:], spk.Bytes())
			add.SharePubkeys = append(add.SharePubkeys, b)
		}
		c.Propose(add)
	}
}

// WaitApplied waits until every running node has applied the leader's commit index.
func (c *Cluster) WaitApplied() {
	c.T.Helper()
	c.WaitFor("every node to apply the same index", 30*time.Second, func() bool {
		l := c.Leader()
		if l < 0 {
			return false
		}
		st, err := c.Nodes[l].Status()
		if err != nil {
			return false
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, nd := range c.Nodes {
			if nd != nil && nd.Machine().AppliedIndex() < st.CommitIndex {
				return false
			}
		}
		return true
	})
}

// Snapshots returns every running node's FSM snapshot after WaitApplied.
func (c *Cluster) Snapshots() [][]byte {
	c.T.Helper()
	c.WaitApplied()
	var out [][]byte
	for _, nd := range c.Nodes {
		if nd == nil {
			continue
		}
		b, err := nd.Machine().Snapshot()
		if err != nil {
			c.T.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// PeerAddress is node i's full libp2p address.
func (c *Cluster) PeerAddress(i int) string { return c.Members[i].Address }
