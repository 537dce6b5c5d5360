package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/phalanx-eth/phalanx/api/apitest"
	"github.com/phalanx-eth/phalanx/fsm/eth"
	"github.com/phalanx-eth/phalanx/threshold"
)

// signAttempt is one HTTP round trip of the signing load.
type signAttempt struct {
	epoch     uint64
	validator int
	url       string
	status    int // 0: the request did not get an HTTP answer
	body      string
	// window is true when the attempt overlapped a leadership change the test made.
	window bool
}

// signLoad keeps sending distinct attestation signing requests, epoch after epoch, for every validator of the
// harness through the API of whichever live member is next, retrying an attempt that got a retryable answer
// the way a validator client does (an identical request is safe to repeat).
type signLoad struct {
	c    *apitest.Cluster
	spec *eth.Spec

	// live are the nodes the load may send to. A membership step takes liveMu for writing to change it; every
	// attempt holds it for reading, so once the step has it no attempt is still in flight to a retired node.
	liveMu sync.RWMutex
	live   []int

	// gen is odd while a leadership change is under way.
	gen atomic.Uint64

	mu       sync.Mutex
	attempts []signAttempt
	signed   int
	failures []string
}

func (l *signLoad) setLive(nodes ...int) {
	l.liveMu.Lock()
	l.live = append([]int(nil), nodes...)
	l.liveMu.Unlock()
}

func (l *signLoad) signedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.signed
}

func (l *signLoad) failf(format string, args ...any) {
	l.mu.Lock()
	l.failures = append(l.failures, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

// waitSigned waits until n more requests got their signature.
func (l *signLoad) waitSigned(what string, n int) {
	l.c.T.Helper()
	want := l.signedCount() + n
	l.c.WaitFor(fmt.Sprintf("%d more signatures (%s)", n, what), 60*time.Second, func() bool { return l.signedCount() >= want })
}

func mroot(b byte, e uint64) phase0.Root {
	var r phase0.Root
	r[0] = b
	r[1] = byte(e >> 8)
	r[2] = byte(e)
	return r
}

// attestation returns the attestation data of epoch e for validator v (source e-1, target e: never
// slashable against the ones before) and its JSON signing request.
func (l *signLoad) attestation(e uint64, v int) (*phase0.AttestationData, []byte) {
	d := &phase0.AttestationData{
		Slot: phase0.Slot(e*apitest.SlotsPerEpoch + uint64(v)), Index: 0, BeaconBlockRoot: mroot(0xb0, e),
		Source: &phase0.Checkpoint{Epoch: phase0.Epoch(e - 1), Root: mroot(0x50, e-1)},
		Target: &phase0.Checkpoint{Epoch: phase0.Epoch(e), Root: mroot(0x50, e)},
	}
	fv := "0x" + hex.EncodeToString(apitest.GenesisForkVersion[:])
	body, err := json.Marshal(map[string]any{
		"type": "ATTESTATION",
		"fork_info": map[string]any{
			"fork":                    map[string]string{"previous_version": fv, "current_version": fv, "epoch": "0"},
			"genesis_validators_root": "0x" + hex.EncodeToString(apitest.GVR[:]),
		},
		"attestation": d,
	})
	if err != nil {
		panic(err) // plain structs: cannot fail
	}
	return d, body
}

// run signs until ctx ends.
func (l *signLoad) run(ctx context.Context) {
	hc := &http.Client{Timeout: 20 * time.Second}
	turn := 0
	for e := uint64(2); ctx.Err() == nil; e++ {
		for v, val := range l.c.Validators {
			data, body := l.attestation(e, v)
			root, err := l.spec.AttestationSigningRoot(data)
			if err != nil {
				l.failf("signing root of epoch %d: %v", e, err)
				return
			}
			for try := 0; ; try++ {
				if ctx.Err() != nil {
					return
				}
				a := l.attempt(hc, &turn, e, v, val, body)
				if a.status == http.StatusOK {
					if err := verifySignature(val, root, a.body); err != nil {
						l.failf("epoch %d validator %d via %s: %v", e, v, a.url, err)
					}
					l.mu.Lock()
					l.signed++
					l.mu.Unlock()
					break
				}
				retryable := a.status == 0 || a.status == http.StatusServiceUnavailable || a.status == http.StatusBadGateway
				if !retryable {
					l.failf("epoch %d validator %d via %s: %d %s (not retryable)", e, v, a.url, a.status, a.body)
					break
				}
				if try > 200 {
					l.failf("epoch %d validator %d: still no signature after %d tries; last %d %s", e, v, try, a.status, a.body)
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			time.Sleep(10 * time.Millisecond) // keep the load light on a shared machine
		}
	}
}

func (l *signLoad) attempt(hc *http.Client, turn *int, e uint64, v int, val *apitest.Validator, body []byte) signAttempt {
	l.liveMu.RLock()
	defer l.liveMu.RUnlock()
	node := l.live[*turn%len(l.live)]
	*turn++
	a := signAttempt{epoch: e, validator: v, url: l.c.URLs[node]}
	g0 := l.gen.Load()
	resp, err := hc.Post(a.url+"/api/v1/eth2/sign/"+val.Hex(), "application/json", bytes.NewReader(body))
	if err != nil {
		a.body = err.Error()
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		a.status, a.body = resp.StatusCode, strings.TrimSpace(string(b))
	}
	g1 := l.gen.Load()
	a.window = g0%2 == 1 || g1%2 == 1 || g0 != g1
	l.mu.Lock()
	l.attempts = append(l.attempts, a)
	l.mu.Unlock()
	return a
}

// verifySignature checks a returned group signature against the validator's whole public key and the root.
func verifySignature(v *apitest.Validator, root [32]byte, sigHex string) error {
	b, err := hex.DecodeString(strings.TrimPrefix(sigHex, "0x"))
	if err != nil {
		return fmt.Errorf("signature %q is not hex: %w", sigHex, err)
	}
	sig, err := threshold.SignatureFromBytes(b)
	if err != nil {
		return fmt.Errorf("signature %q: %w", sigHex, err)
	}
	if !v.PK.Verify(root[:], sig) {
		return fmt.Errorf("signature %s does not verify against validator %s", sigHex, v.Hex())
	}
	return nil
}

// peerRow is one line of `phalanx cluster peers`.
type peerRow struct {
	id, state string
	voter     bool
}

func parsePeers(t *testing.T, out string) []peerRow {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "Node") {
		t.Fatalf("peers output has no header:\n%s", out)
	}
	var rows []peerRow
	for _, ln := range lines[1:] {
		f := strings.Fields(ln)
		if len(f) < 5 {
			t.Fatalf("peers line %q: want 5 columns (node, address, state, voter, readiness)", ln)
		}
		rows = append(rows, peerRow{id: f[0], state: f[2], voter: f[3] == "true"})
	}
	return rows
}

// waitPeers waits until `phalanx cluster peers`, asked of every node in askNodes, lists exactly the members
// want, all voters, with leader as the one leader.
func waitPeers(t *testing.T, c *apitest.Cluster, tok string, askNodes []int, want []string, leader string) {
	t.Helper()
	sort.Strings(want)
	for _, n := range askNodes {
		var last string
		ok := false
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			out, err := runCLI(t, "cluster", "peers", "--api", c.URLs[n], "--token-file", tok)
			if err != nil {
				last = err.Error()
			} else {
				last = out
				var ids []string
				good := true
				for _, r := range parsePeers(t, out) {
					ids = append(ids, r.id)
					if !r.voter || (r.state == "leader") != (r.id == leader) {
						good = false
					}
				}
				if good && strings.Join(ids, ",") == strings.Join(want, ",") {
					ok = true
					break
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !ok {
			t.Fatalf("cluster peers via %s: want members %v led by %s; last answer:\n%s", apitest.Name(n), want, leader, last)
		}
	}
}

// TestMembershipRotateHardware changes the membership of a cluster end to end while it keeps signing.
//
// The operator's plan: move a cluster to new machines. Its validator keys were split 3-of-5 from the start,
// so shares 4 and 5 exist (on the machines that will join) before those machines do. Three machines run
// first; with threshold 3 every one of them must sign, which is why this phase is kept short. The operator
// grows the cluster to five voters with `phalanx cluster add-voter`, hands leadership to a new machine with
// `phalanx cluster transfer-leader` and retires two of the first machines with `phalanx cluster remove`. At
// the end nodes 3, 4 and 5 hold shares 3, 4 and 5: still the threshold, and the two new machines sign.
// (With keys split 2-of-3 this rotation is impossible: the new members would hold no share, and retiring
// two first machines would leave one; see TestMembershipGrowWithoutShares.)
func TestMembershipRotateHardware(t *testing.T) {
	runMembership(t, apitest.Options{Nodes: 3, Spare: 2, Threshold: 3, Validators: 2}, []int{0, 1})
}

// TestMembershipGrowWithoutShares grows a 2-of-3 cluster to five voters whose new members hold no key share,
// as an operator does to add replicas (or to move leadership off a machine under maintenance) without
// resharing the keys. The new members vote and replicate; led by one of them, the cluster still signs with
// the shares of the first three machines, which the shareless leader gathers from its followers. Then the
// operator removes the two new members again, the leader first: leadership moves back to a first machine.
func TestMembershipGrowWithoutShares(t *testing.T) {
	runMembership(t, apitest.Options{Nodes: 3, Spare: 2, Threshold: 2, Validators: 2, SparesWithoutShares: true}, []int{3, 4})
}

// runMembership starts a 3-node harness with 2 spares, grows it to 5 voters (add-voter through a follower),
// transfers leadership to node-4, then removes the members in retire one by one. Throughout, a goroutine sends
// distinct attestation signing requests with increasing epochs through the API of any live member (followers
// forward to the leader). Every request must end with a group signature that verifies against the
// validator's key; an attempt may get a retryable 503/502 answer only while leadership moves.
// `phalanx cluster peers` must show the expected members at each step, asked of every live member, and at
// the end every live node's FSM snapshot must be identical.
func runMembership(t *testing.T, opts apitest.Options, retire []int) {
	c := apitest.New(t, opts)
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte(apitest.AdminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cli := func(node int, args ...string) string {
		t.Helper()
		out, err := runCLI(t, append(args, "--api", c.URLs[node], "--token-file", tok)...)
		if err != nil {
			t.Fatalf("phalanx %s (via %s): %v\n%s", strings.Join(args, " "), apitest.Name(node), err, out)
		}
		return out
	}
	spec, ok := c.Nodes[0].Machine().Spec()
	if !ok {
		t.Fatal("the harness registered no chain")
	}
	names := func(nodes []int) []string {
		var out []string
		for _, n := range nodes {
			out = append(out, apitest.Name(n))
		}
		return out
	}

	load := &signLoad{c: c, spec: spec}
	live := []int{0, 1, 2}
	load.setLive(live...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); load.run(ctx) }()
	stopLoad := func() {
		cancel()
		<-done
	}
	defer stopLoad()

	leader := apitest.Name(c.WaitLeader())
	load.waitSigned("three nodes", 6)
	waitPeers(t, c, tok, live, names(live), leader)

	// Grow: start each new machine, then add it through a follower's API (forwarded to the leader).
	for _, n := range []int{3, 4} {
		c.Start(n)
		via := c.Follower()
		if out := cli(via, "cluster", "add-voter", apitest.Name(n), c.PeerAddress(n)); !strings.Contains(out, "added "+apitest.Name(n)+" as a voter") {
			t.Fatalf("add-voter %s: %s", apitest.Name(n), out)
		}
		c.WaitFor(apitest.Name(n)+" to know the leader", 30*time.Second, func() bool {
			id, _ := c.Nodes[n].Leader()
			return id == leader
		})
		live = append(live, n)
		load.setLive(live...)
		waitPeers(t, c, tok, live, names(live), leader)
		load.waitSigned("after adding "+apitest.Name(n), 6)
	}

	// Hand leadership to a new member. Retryable answers are allowed only inside this window.
	load.gen.Add(1)
	cli(0, "cluster", "transfer-leader", "node-4")
	c.WaitFor("node-4 to lead", 30*time.Second, func() bool { return c.Leader() == 3 })
	c.WaitLeader()
	load.gen.Add(1)
	leader = "node-4"
	waitPeers(t, c, tok, live, names(live), leader)
	load.waitSigned("node-4 leading", 6)

	// Shrink: remove the members in retire, asking through a member that stays. Removing the leader moves
	// leadership: a window for retryable answers too.
	for _, n := range retire {
		var stay []int
		for _, m := range live {
			if m != n {
				stay = append(stay, m)
			}
		}
		load.setLive(stay...) // no attempt is in flight to the retiring node after this
		wasLeader := apitest.Name(n) == leader
		if wasLeader {
			load.gen.Add(1)
		}
		if out := cli(stay[len(stay)-1], "cluster", "remove", apitest.Name(n)); !strings.Contains(out, "removed "+apitest.Name(n)) {
			t.Fatalf("remove %s: %s", apitest.Name(n), out)
		}
		c.Stop(n)
		live = stay
		if wasLeader {
			leader = apitest.Name(c.WaitLeader())
			load.gen.Add(1)
		}
		waitPeers(t, c, tok, live, names(live), leader)
		load.waitSigned("after removing "+apitest.Name(n), 6)
	}
	stopLoad()

	load.mu.Lock()
	attempts, failures, signed := load.attempts, load.failures, load.signed
	load.mu.Unlock()
	for _, f := range failures {
		t.Error(f)
	}
	retried := 0
	for _, a := range attempts {
		if a.status == http.StatusOK {
			continue
		}
		retried++
		if !a.window {
			t.Errorf("epoch %d validator %d via %s: %d %q outside a leadership change", a.epoch, a.validator, a.url, a.status, a.body)
		} else if a.status != 0 && !strings.Contains(a.body, "retry") && !strings.Contains(a.body, "leader") {
			t.Errorf("epoch %d validator %d: retryable answer %d %q does not tell the client to retry", a.epoch, a.validator, a.status, a.body)
		}
	}
	t.Logf("%d signatures, %d attempts, %d retried during leadership changes; final members %v led by %s", signed, len(attempts), retried, names(live), leader)

	snaps := c.Snapshots()
	if len(snaps) != len(live) {
		t.Fatalf("%d running nodes; want %d", len(snaps), len(live))
	}
	for i := 1; i < len(snaps); i++ {
		if !bytes.Equal(snaps[0], snaps[i]) {
			t.Fatalf("FSM snapshots of the live nodes differ (%s vs %s)", apitest.Name(live[0]), apitest.Name(live[i]))
		}
	}
}
