package cluster

import (
	"context"
	"crypto/rand"
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

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/phalanx-eth/phalanx/fsm"
	"github.com/phalanx-eth/phalanx/threshold"
)

// testSlot is the slot time the harness derives raft timeouts from.
const testSlot = 2 * time.Second

// testValidator is one validator of the harness: its group key (kept only by the test, to check
// recombination) and every node's share.
type testValidator struct {
	sk     *threshold.SecretKey
	pk     *threshold.PublicKey
	pkb    [48]byte
	shares []threshold.SecretShare
	commit threshold.Commitments
}

// harness is an in-process cluster of real nodes on loopback libp2p transports, each with its own data
// directory, that tests can kill, restart and partition.
type harness struct {
	t          testing.TB
	n, thresh  int
	dirs       []string
	ids        []*Identity
	addrs      []string
	nodes      []*Node
	validators []*testValidator
	members    []Member
	opts       func(i int) []Option
	cfgHook    func(i int, c *Config)

	mu     sync.Mutex
	signed []signedRecord // every group signature the cluster produced, for the invariant checks
}

// signedRecord is one group signature as the independent checker sees it.
type signedRecord struct {
	index  uint64
	kind   fsm.DutyKind
	pubkey [48]byte
	slot   uint64
	source uint64
	target uint64
	root   [32]byte
	sig    *threshold.Signature
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

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("PHALANX_TEST_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// makeCluster builds n nodes with threshold t and numValidators validators, starts them, waits for a leader
// and registers the chain and the validators through the log.
func makeCluster(t testing.TB, n, thresh, numValidators int, configure ...func(h *harness)) *harness {
	t.Helper()
	h := &harness{t: t, n: n, thresh: thresh}
	for _, c := range configure {
		c(h)
	}
	base := t.TempDir()
	for i := 0; i < n; i++ {
		id, err := GenerateIdentity()
		if err != nil {
			t.Fatal(err)
		}
		h.ids = append(h.ids, id)
		h.dirs = append(h.dirs, filepath.Join(base, fmt.Sprintf("node-%d", i+1)))
		addr := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", freePort(t))
		h.addrs = append(h.addrs, addr)
		h.members = append(h.members, Member{ID: nodeName(i), Address: addr + "/p2p/" + id.PeerID(), Voter: true})
	}
	for v := 0; v < numValidators; v++ {
		h.validators = append(h.validators, newTestValidator(t, thresh, n))
	}
	h.nodes = make([]*Node, n)
	for i := 0; i < n; i++ {
		h.start(i)
	}
	t.Cleanup(h.closeAll)
	h.waitLeader()
	h.registerChainAndValidators()
	return h
}

func nodeName(i int) string { return fmt.Sprintf("node-%d", i+1) }

func newTestValidator(t testing.TB, thresh, n int) *testValidator {
	t.Helper()
	sk, err := threshold.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	shares, commit, err := threshold.Split(sk, thresh, n, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	v := &testValidator{sk: sk, pk: sk.PublicKey(), shares: shares, commit: commit}
	copy(v.pkb[:], v.pk.Bytes())
	return v
}

func (h *harness) keyRing(i int) MapKeyRing {
	kr := make(MapKeyRing)
	for _, v := range h.validators {
		s := v.shares[i]
		kr[v.pkb] = &s
	}
	return kr
}

func (h *harness) config(i int) Config {
	c := DefaultConfig()
	c.ID = nodeName(i)
	c.DataDir = h.dirs[i]
	c.Identity = h.ids[i]
	c.ListenAddr = h.addrs[i]
	c.Bootstrap = h.members
	c.SlotDuration = testSlot
	c.Keys = h.keyRing(i)
	c.Logger = testLogger(h.t).With("test_node", i+1)
	c.ProposeTimeout = 5 * time.Second
	if h.cfgHook != nil {
		h.cfgHook(i, &c)
	}
	return c
}

func (h *harness) start(i int) {
	h.t.Helper()
	var opts []Option
	if h.opts != nil {
		opts = h.opts(i)
	}
	opts = append(opts, WithRecovered(func(o *Outcome) { h.recordOutcome(o) }))
	nd, err := New(h.config(i), opts...)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := nd.Start(); err != nil {
		h.t.Fatalf("start %s: %v", nodeName(i), err)
	}
	h.nodes[i] = nd
}

// kill stops node i abruptly as far as the others can tell (its transport and raft stop; its files stay).
func (h *harness) kill(i int) {
	h.t.Helper()
	if h.nodes[i] == nil {
		return
	}
	if err := h.nodes[i].Close(); err != nil {
		h.t.Logf("close %s: %v", nodeName(i), err)
	}
	h.nodes[i] = nil
}

// restart starts node i again on the same data directory, identity and address.
func (h *harness) restart(i int) { h.start(i) }

// partition cuts the given nodes off from all the others (both directions).
func (h *harness) partition(group ...int) {
	in := make(map[int]bool)
	for _, g := range group {
		in[g] = true
	}
	for i, nd := range h.nodes {
		if nd == nil {
			continue
		}
		var block []string
		for j := range h.nodes {
			if j != i && in[i] != in[j] {
				block = append(block, h.ids[j].PeerID())
			}
		}
		nd.setBlocked(block)
	}
}

// heal removes every partition.
func (h *harness) heal() {
	for _, nd := range h.nodes {
		if nd != nil {
			nd.setBlocked(nil)
		}
	}
}

func (h *harness) closeAll() {
	for i := range h.nodes {
		if h.nodes[i] != nil {
			h.nodes[i].Close()
			h.nodes[i] = nil
		}
	}
}

// waitFor polls cond until it holds or the deadline passes. It coordinates the test with the cluster; no
// duty path sleeps.
func (h *harness) waitFor(what string, d time.Duration, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("timed out after %s waiting for %s", d, what)
}

func (h *harness) leader() (int, *Node) {
	for i, nd := range h.nodes {
		if nd != nil && nd.IsLeader() {
			return i, nd
		}
	}
	return -1, nil
}

func (h *harness) waitLeader() (int, *Node) {
	h.t.Helper()
	h.waitFor("a leader", 20*time.Second, func() bool { i, _ := h.leader(); return i >= 0 })
	return h.leader()
}

// propose sends e to whoever leads, retrying across elections until ctx ends.
func (h *harness) propose(e fsm.Entry) (*Outcome, error) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		_, nd := h.leader()
		if nd == nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		out, err := nd.Propose(ctx, e)
		cancel()
		if err == nil || errors.Is(err, ErrIncomplete) {
			if out != nil {
				h.recordOutcome(out)
			}
			return out, err
		}
		lastErr = err
		if !errors.Is(err, ErrNotLeader) {
			return nil, err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, fmt.Errorf("no leader accepted the entry: %w", lastErr)
}

func (h *harness) mustPropose(e fsm.Entry) *Outcome {
	h.t.Helper()
	out, err := h.propose(e)
	if err != nil {
		h.t.Fatalf("propose %T: %v", e, err)
	}
	if out.Result.Status != fsm.StatusApplied {
		h.t.Fatalf("propose %T: rejected: %s", e, out.Result.Reason)
	}
	return out
}

var testGVR = [32]byte{0x4b, 0x36, 0x3d, 0xb9}

func (h *harness) registerChainAndValidators() {
	h.t.Helper()
	h.mustPropose(&fsm.ChainConfig{
		GenesisTime:           1_700_000_000,
		GenesisValidatorsRoot: testGVR,
		GenesisForkVersion:    [4]byte{0x10, 0, 0, 0},
		Forks:                 []fsm.ForkSchedule{{Version: [4]byte{0x10, 0, 0, 0}, Epoch: 0}},
		SecondsPerSlot:        uint64(testSlot / time.Second),
		SlotsPerEpoch:         8,
	})
	for i, v := range h.validators {
		add := &fsm.ValidatorAdd{Pubkey: v.pkb, Threshold: uint8(h.thresh), ValidatorIndex: uint64(i)}
		for s := 1; s <= h.n; s++ {
			spk, err := v.commit.SharePublicKey(uint32(s))
			if err != nil {
				h.t.Fatal(err)
			}
			var b [48]byte
			copy(b[:], spk.Bytes())
			add.SharePubkeys = append(add.SharePubkeys, b)
		}
		h.mustPropose(add)
	}
}

// attestation builds one attestation duty for the given validators (indices into h.validators).
func (h *harness) attestation(slot, source, target uint64, blockRoot byte, vals ...int) *fsm.Duty {
	data := &phase0.AttestationData{
		Slot:            phase0.Slot(slot),
		Index:           0,
		BeaconBlockRoot: phase0.Root{blockRoot},
		Source:          &phase0.Checkpoint{Epoch: phase0.Epoch(source), Root: phase0.Root{byte(source)}},
		Target:          &phase0.Checkpoint{Epoch: phase0.Epoch(target), Root: phase0.Root{byte(target), blockRoot}},
	}
	b, err := data.MarshalSSZ()
	if err != nil {
		h.t.Fatal(err)
	}
	d := &fsm.Duty{Kind: fsm.DutyAttestation, Slot: slot, Epoch: target, Data: b}
	for _, v := range vals {
		d.Items = append(d.Items, fsm.DutyItem{Pubkey: h.validators[v].pkb, ValidatorIndex: uint64(v)})
	}
	return d
}

func (h *harness) allValidators() []int {
	out := make([]int, len(h.validators))
	for i := range out {
		out[i] = i
	}
	return out
}

// recordOutcome remembers every group signature for the invariant checks, after verifying it independently
// against the validator's group public key.
func (h *harness) recordOutcome(o *Outcome) {
	if o == nil || o.Result == nil || o.Result.Type != fsm.TypeDuty {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, sig := range o.Signatures {
		if sig == nil {
			continue
		}
		it := o.Result.Items[i]
		rec := signedRecord{index: o.Index, pubkey: it.Pubkey, root: it.SigningRoot, sig: sig}
		h.signed = append(h.signed, rec)
	}
}

// checkSignatures is the independent checker: every group signature verifies with the unsplit key's public
// key, and no two of them are slashable against each other (same target or surround for attestations read
// back from the log; same slot for proposals), written without fsm/slashing.
func (h *harness) checkSignatures(logDuties map[uint64]*fsm.Duty) {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	byKey := make(map[[48]byte]*testValidator)
	for _, v := range h.validators {
		byKey[v.pkb] = v
	}
	type vote struct {
		source, target uint64
		root           [32]byte
	}
	votes := make(map[[48]byte][]vote)
	for _, rec := range h.signed {
		v := byKey[rec.pubkey]
		if v == nil {
			h.t.Errorf("signature for unknown validator %x", rec.pubkey[:4])
			continue
		}
		if !v.pk.Verify(rec.root[:], rec.sig) {
			h.t.Errorf("log index %d: group signature does not verify for validator %x", rec.index, rec.pubkey[:4])
		}
		// The signature must equal what the unsplit key gives (BLS is deterministic).
		if want := v.sk.Sign(rec.root[:]); !want.Equal(rec.sig) {
			h.t.Errorf("log index %d: recombined signature differs from the unsplit key's", rec.index)
		}
		d := logDuties[rec.index]
		if d == nil || d.Kind != fsm.DutyAttestation {
			continue
		}
		var data phase0.AttestationData
		if err := data.UnmarshalSSZ(d.Data); err != nil {
			h.t.Errorf("log index %d: %v", rec.index, err)
			continue
		}
		votes[rec.pubkey] = append(votes[rec.pubkey], vote{uint64(data.Source.Epoch), uint64(data.Target.Epoch), rec.root})
	}
	for pk, vs := range votes {
		for a := range vs {
			for b := range vs {
				x, y := vs[a], vs[b]
				if x.root == y.root {
					continue
				}
				if x.target == y.target {
					h.t.Errorf("validator %x: double vote at target %d", pk[:4], x.target)
				}
				if x.source < y.source && y.target < x.target {
					h.t.Errorf("validator %x: surround vote (%d,%d) around (%d,%d)", pk[:4], x.source, x.target, y.source, y.target)
				}
			}
		}
	}
}

// committedDuties reads every committed duty entry from node i's log.
func (h *harness) committedDuties(i int) map[uint64]*fsm.Duty {
	h.t.Helper()
	nd := h.nodes[i]
	out := make(map[uint64]*fsm.Duty)
	first, _ := nd.store.FirstIndex()
	last := nd.r().CommitIndex()
	for idx := first; idx <= last && idx > 0; idx++ {
		l, ok := nd.logEntry(idx)
		if !ok {
			continue
		}
		e, err := fsm.Decode(l)
		if err != nil {
			continue
		}
		if d, ok := e.(*fsm.Duty); ok {
			out[idx] = d
		}
	}
	return out
}

// checkSnapshotsEqual waits until every live node has applied the same index, then compares FSM snapshot
// bytes.
func (h *harness) checkSnapshotsEqual() {
	h.t.Helper()
	h.waitFor("all live nodes to apply the same index", 30*time.Second, func() bool {
		var idx uint64
		first := true
		for _, nd := range h.nodes {
			if nd == nil {
				continue
			}
			a := nd.Machine().AppliedIndex()
			if first {
				idx, first = a, false
			} else if a != idx {
				return false
			}
		}
		// Everyone must also have applied what the leader committed.
		_, leader := h.leader()
		return !first && leader != nil && idx >= leader.r().CommitIndex()
	})
	var ref []byte
	for i, nd := range h.nodes {
		if nd == nil {
			continue
		}
		b, err := nd.Machine().Snapshot()
		if err != nil {
			h.t.Fatal(err)
		}
		if ref == nil {
			ref = b
		} else if string(ref) != string(b) {
			h.t.Fatalf("%s: FSM snapshot differs from the first live node's (%d vs %d bytes)", nodeName(i), len(b), len(ref))
		}
	}
}

// checkAllPublished: every approved item of every committed duty entry got a group signature (from Propose
// or rebuilt by a new leader).
func (h *harness) checkAllPublished(duties map[uint64]*fsm.Duty, machine *fsm.Machine) {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	have := make(map[uint64]map[[48]byte]bool)
	for _, r := range h.signed {
		if have[r.index] == nil {
			have[r.index] = make(map[[48]byte]bool)
		}
		have[r.index][r.pubkey] = true
	}
	for idx, d := range duties {
		for _, it := range d.Items {
			for _, rec := range machine.History(d.Slot, it.Pubkey) {
				if rec.Index == idx && rec.Item.Verdict.Approved && !have[idx][it.Pubkey] {
					h.t.Errorf("committed duty at log index %d (slot %d, validator %x) was never signed", idx, d.Slot, it.Pubkey[:4])
				}
			}
		}
	}
}
