package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/phalanx-eth/phalanx/node/devnet"
)

var errNoLeader = errors.New("no leader to aim the fault at")

// slotSeen is the devnet's latest count for one slot.
type slotSeen struct {
	attesters, received int
}

// run is one chaos run.
type run struct {
	o     options
	log   *slog.Logger
	rng   *rand.Rand
	dn    *devnet.Devnet
	fab   *fabric
	nodes []*proc
	t0    time.Time

	mu        sync.Mutex
	slots     map[uint64]slotSeen
	maxCommit uint64
	records   []*faultRecord
	rss       map[string]int64 // highest VmRSS seen per node, KiB
	failovers []time.Duration  // leader lost -> another node leads
}

func (r *run) logf(format string, args ...any) {
	slot := r.dn.Stats().Slot
	fmt.Printf("[+%6.1fs slot %4d] %s\n", time.Since(r.t0).Seconds(), slot, fmt.Sprintf(format, args...))
}

// runChaos sets the cluster up, injects faults for o.duration, quiesces, checks and reports. It returns whether
// every check passed.
func runChaos(ctx context.Context, o options, log *slog.Logger) (bool, error) {
	r := &run{o: o, log: log, rng: rand.New(rand.NewSource(o.seed)), fab: newFabric(log), slots: make(map[uint64]slotSeen), rss: make(map[string]int64), t0: time.Now()}
	enabled, err := pickFaults(o.faults)
	if err != nil {
		return false, err
	}
	fmt.Printf("chaos: seed %d, %d nodes, %s of faults from %d kinds, slot %s, %d/%d validators\n",
		o.seed, o.nodes, o.duration, len(enabled), o.slot, o.clusterVal, o.validators)
	for i := 1; i <= 16; i++ {
		_ = exec.Command("umount", "-l", filepath.Join(o.work, "cluster", fmt.Sprintf("node-%d", i), "data")).Run()
	}
	if err := os.RemoveAll(o.work); err != nil {
		return false, fmt.Errorf("wipe %s: %w", o.work, err)
	}
	if err := os.MkdirAll(o.work, 0o755); err != nil {
		return false, err
	}
	defer r.teardown()

	// The cluster is configured first (a large one takes a while), then the devnet starts on the port its
	// config names; it runs in this process so the checker reads what it received straight from it.
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return false, err
	}
	beaconAddr := pl.Addr().String()
	pl.Close()
	clusterDir := filepath.Join(o.work, "cluster")
	initStart := time.Now()
	init := exec.Command(o.bin, "cluster", "init", "--out", clusterDir, "--nodes", strconv.Itoa(o.nodes),
		"--interop-validators", fmt.Sprintf("0-%d", o.clusterVal-1), "--light-kdf", "--beacon-url", "http://"+beaconAddr,
		"--p2p-base-port", strconv.Itoa(o.p2pBase), "--api-base-port", strconv.Itoa(o.apiBase), "--slot-time", o.slot.String())
	if out, err := init.CombinedOutput(); err != nil {
		return false, fmt.Errorf("cluster init: %v\n%s", err, out)
	}
	fmt.Printf("cluster init: %d validators split in %s\n", o.clusterVal, time.Since(initStart).Round(100*time.Millisecond))
	genesisDelay := o.genesis
	if genesisDelay == 0 {
		genesisDelay = 20*time.Second + time.Duration(o.clusterVal)*4*time.Millisecond
	}
	dcfg := devnet.DefaultConfig()
	dcfg.NumValidators = o.validators
	dcfg.SlotDuration = o.slot
	dcfg.SlotsPerEpoch = o.perEpoch
	dcfg.ListenAddr = beaconAddr
	dcfg.GenesisTime = time.Now().Add(genesisDelay)
	for i := 0; i < o.clusterVal; i++ {
		dcfg.ClusterValidators = append(dcfg.ClusterValidators, uint64(i))
	}
	dn, err := devnet.New(dcfg)
	if err != nil {
		return false, fmt.Errorf("devnet: %w", err)
	}
	if err := dn.Start(); err != nil {
		return false, fmt.Errorf("devnet: %w", err)
	}
	r.dn = dn

	tok, err := os.ReadFile(filepath.Join(clusterDir, "api-token.txt"))
	if err != nil {
		return false, err
	}
	token := strings.TrimSpace(string(tok))

	for i := 0; i < o.nodes; i++ {
		id := fmt.Sprintf("node-%d", i+1)
		ns, err := newNetns(fmt.Sprintf("phx%d-%s", os.Getpid(), id))
		if err != nil {
			return false, err
		}
		dir := filepath.Join(clusterDir, id)
		p := &proc{i: i, id: id, ns: ns, cfgPath: filepath.Join(dir, "node.json"), dataDir: filepath.Join(dir, "data"),
			logPath: filepath.Join(o.work, id+".log"), bin: o.bin,
			client: newAdminClient(ns, fmt.Sprintf("127.0.0.1:%d", o.apiBase+i), token)}
		r.nodes = append(r.nodes, p)
		if err := p.mountData(o.dataSize); err != nil {
			return false, err
		}
	}
	// Wire the fabric: in node i's namespace, the devnet's address and every peer's cluster address are proxies.
	for _, p := range r.nodes {
		l, err := p.ns.listen(beaconAddr)
		if err != nil {
			return false, err
		}
		go r.fab.serve(ctx, l, p.i, beaconEnd, func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", beaconAddr)
		})
		for _, q := range r.nodes {
			if q == p {
				continue
			}
			addr := fmt.Sprintf("127.0.0.1:%d", o.p2pBase+q.i)
			l, err := p.ns.listen(addr)
			if err != nil {
				return false, err
			}
			q := q
			go r.fab.serve(ctx, l, p.i, q.i, func(ctx context.Context) (net.Conn, error) { return q.ns.dial(ctx, addr) })
		}
	}
	for _, p := range r.nodes {
		if err := p.start(); err != nil {
			return false, err
		}
	}
	mctx, stopMonitor := context.WithCancel(ctx)
	defer stopMonitor()
	go r.monitor(mctx)
	r.logf("devnet at %s, genesis %s; %d nodes started (logs in %s)", dn.URL(), dn.GenesisTime().Format(time.TimeOnly), o.nodes, o.work)

	if err := r.waitFor(ctx, "the cluster's first attestations", genesisDelay+90*time.Second, func() bool {
		return dn.Stats().Totals.ClusterAttestationsReceived > 0
	}); err != nil {
		return false, err
	}
	r.sleep(ctx, 2*o.slot)
	firstSlot := dn.Stats().Slot
	r.logf("cluster is attesting; faults start")

	// Faults: one at a time, each held for 3-6 slots, then 4 slots to settle.
	end := time.Now().Add(o.duration)
	var queue []fault
	if len(enabled) == 0 {
		r.sleep(ctx, time.Until(end))
	}
	for len(enabled) > 0 && time.Now().Before(end) && ctx.Err() == nil {
		if len(queue) == 0 {
			queue = r.schedule(enabled)
		}
		f := queue[0]
		queue = queue[1:]
		rec := &faultRecord{name: f.name, start: time.Now(), startSlot: dn.Stats().Slot}
		desc, repair, err := f.inject(ctx, r)
		if err != nil {
			r.logf("fault %s skipped: %v", f.name, err)
			r.sleep(ctx, o.slot)
			continue
		}
		rec.desc = desc
		r.logf("FAULT %s: %s", f.name, desc)
		r.sleep(ctx, time.Duration(3+r.rng.Intn(4))*o.slot)
		msg := repair()
		rec.repaired, rec.endSlot = time.Now(), dn.Stats().Slot
		r.logf("REPAIR %s: %s", f.name, msg)
		r.mu.Lock()
		r.records = append(r.records, rec)
		r.mu.Unlock()
		r.sleep(ctx, 4*o.slot)
	}
	r.fab.healAll()
	r.logf("faults over; settling")
	r.sleep(ctx, 4*o.slot)
	lastSlot := dn.Stats().Slot - 1

	// Quiesce: stop the chain, so no new duty is proposed, and wait until every node applied the same index.
	finalStats := dn.Stats()
	cinfo, pubkeys, err := chainFacts(dn.URL(), filepath.Join(clusterDir, "lock.json"))
	if err != nil {
		return false, err
	}
	_ = dn.Close()
	stopMonitor()
	published := dn.Published()
	r.logf("devnet stopped; %d slashable messages from cluster validators recorded", len(published))
	applied, err := r.waitQuiet(ctx)
	if err != nil {
		return false, err
	}

	var bad []violation
	msgs, sigBad := checkSignatures(published, pubkeys, cinfo)
	bad = append(bad, sigBad...)
	bad = append(bad, checkSlashable(msgs)...)
	bad = append(bad, r.checkSnapshots(ctx)...)
	r.mu.Lock()
	maxCommit := r.maxCommit
	r.mu.Unlock()
	for _, p := range r.nodes {
		if applied[p.id] < maxCommit {
			bad = append(bad, violation{"survival", fmt.Sprintf("%s applied index %d is below the highest commit index seen during the run, %d", p.id, applied[p.id], maxCommit)})
		}
		var buf bytes.Buffer
		if err := p.client.SlashingExport(ctx, &buf, nil, true); err != nil {
			bad = append(bad, violation{"survival", fmt.Sprintf("%s: slashing export: %v", p.id, err)})
			continue
		}
		bad = append(bad, checkSurvived(p.id, buf.Bytes(), msgs, pubkeys, finalStats.FinalizedEpoch, cinfo.SlotsPerEpoch)...)
	}
	r.report(msgs, firstSlot, lastSlot, maxCommit, finalStats, bad)
	return len(bad) == 0, nil
}

// pickFaults parses the -faults list.
func pickFaults(spec string) ([]fault, error) {
	if spec == "" || spec == "all" {
		return faults, nil
	}
	if spec == "none" {
		return nil, nil
	}
	var out []fault
	for _, name := range strings.Split(spec, ",") {
		found := false
		for _, f := range faults {
			if f.name == strings.TrimSpace(name) {
				out, found = append(out, f), true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown fault %q; known: %s", name, strings.Join(faultNames(), ","))
		}
	}
	return out, nil
}

func (r *run) sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func (r *run) waitFor(ctx context.Context, what string, d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("timed out after %s waiting for %s", d, what)
}

// monitor records the devnet's per-slot counts and the highest commit index any node reports.
func (r *run) monitor(ctx context.Context) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		st := r.dn.Stats()
		r.mu.Lock()
		for _, s := range st.Slots {
			r.slots[s.Slot] = slotSeen{attesters: s.ClusterAttesters, received: s.ClusterAttestationsReceived}
		}
		r.mu.Unlock()
		if n%4 == 0 {
			for _, p := range r.nodes {
				if kb := p.rssKB(); kb > 0 {
					r.mu.Lock()
					r.rss[p.id] = max(r.rss[p.id], kb)
					r.mu.Unlock()
				}
			}
		}
		if n%2 == 0 {
			for _, p := range r.nodes {
				if !p.running() {
					continue
				}
				if s, err := p.status(ctx); err == nil {
					r.mu.Lock()
					r.maxCommit = max(r.maxCommit, s.CommitIndex)
					r.mu.Unlock()
				}
			}
		}
	}
}

// leader returns the running node that reports itself leader.
func (r *run) leader(ctx context.Context) *proc {
	var found *proc
	_ = r.waitFor(ctx, "a leader", 5*r.o.slot, func() bool {
		for _, p := range r.nodes {
			if p.running() {
				if s, err := p.status(ctx); err == nil && s.State == "Leader" {
					found = p
					return true
				}
			}
		}
		return false
	})
	return found
}

// follower returns a random running node that is not the leader.
func (r *run) follower(ctx context.Context) *proc {
	l := r.leader(ctx)
	if l == nil {
		return nil
	}
	var fs []*proc
	for _, p := range r.nodes {
		if p != l && p.running() {
			fs = append(fs, p)
		}
	}
	if len(fs) == 0 {
		return nil
	}
	return fs[r.rng.Intn(len(fs))]
}

func (r *run) restart(p *proc, extra ...string) {
	if err := p.start(extra...); err != nil {
		r.logf("restart %s: %v", p.id, err)
	}
}

// isolate cuts (or heals) every link between p and the other nodes, both ways.
func (r *run) isolate(p *proc, down bool) {
	for _, q := range r.nodes {
		if q != p {
			r.fab.set(p.i, q.i, linkState{down: down})
			r.fab.set(q.i, p.i, linkState{down: down})
		}
	}
}

// observeStepDown reports how a node with a failed disk behaves: it must say so and stop leading.
func (r *run) observeStepDown(p *proc) string {
	ctx, cancel := context.WithTimeout(context.Background(), 3*r.o.slot)
	defer cancel()
	var last string
	for ctx.Err() == nil {
		if !p.running() {
			if msg := lastError(p.logPath); msg != "" {
				return p.id + " exited: " + msg
			}
			return p.id + " exited"
		}
		s, err := p.status(ctx)
		if err == nil {
			last = fmt.Sprintf("%s state=%s signing_error=%q", p.id, s.State, s.SigningError)
			if s.SigningError != "" && s.State != "Leader" {
				return "stepped down: " + last
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	if last == "" {
		return p.id + " did not answer"
	}
	return "NOT stepped down: " + last
}

// lastError returns the message and error of the last ERROR line in a node's log, shortened.
func lastError(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(string(b), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		ln := lines[i]
		if strings.HasPrefix(ln, "=== chaos: start") {
			return ""
		}
		if !strings.Contains(ln, "level=ERROR") {
			continue
		}
		if j := strings.Index(ln, "msg="); j >= 0 {
			ln = ln[j:]
		}
		if len(ln) > 240 {
			ln = ln[:240] + "…"
		}
		return ln
	}
	return ""
}

// transferTo makes p the leader, once it has caught up.
func (r *run) transferTo(ctx context.Context, p *proc) string {
	var target uint64
	if err := r.waitFor(ctx, p.id+" to catch up", 10*r.o.slot, func() bool {
		s, err := p.status(ctx)
		if err != nil || s.LeaderID == "" {
			return false
		}
		if l := r.leader(ctx); l != nil {
			ls, err := l.status(ctx)
			target = ls.CommitIndex
			return err == nil && s.AppliedIndex+8 >= target
		}
		return false
	}); err != nil {
		return err.Error()
	}
	l := r.leader(ctx)
	if l == nil {
		return "no leader"
	}
	if l == p {
		return "already leader"
	}
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := l.client.TransferLeader(tctx, p.id); err != nil {
		return "transfer failed: " + err.Error()
	}
	return "transferred"
}

// waitQuiet waits until every node reports the same commit and applied index for three polls in a row.
func (r *run) waitQuiet(ctx context.Context) (map[string]uint64, error) {
	var prev string
	stable := 0
	applied := make(map[string]uint64)
	err := r.waitFor(ctx, "every node to apply the same index", 60*time.Second, func() bool {
		var parts []string
		for _, p := range r.nodes {
			s, err := p.status(ctx)
			if err != nil {
				stable = 0
				return false
			}
			applied[p.id] = s.AppliedIndex
			parts = append(parts, fmt.Sprintf("%d/%d", s.CommitIndex, s.AppliedIndex))
		}
		key := strings.Join(parts, " ")
		same := true
		for _, x := range parts[1:] {
			same = same && x == parts[0]
		}
		if same && key == prev {
			stable++
		} else {
			stable = 0
		}
		prev = key
		time.Sleep(700 * time.Millisecond)
		return stable >= 3
	})
	return applied, err
}

// checkSnapshots compares the FSM snapshots of every node.
func (r *run) checkSnapshots(ctx context.Context) []violation {
	var bad []violation
	var first string
	for _, p := range r.nodes {
		var buf bytes.Buffer
		if _, err := p.client.SnapshotSave(ctx, &buf); err != nil {
			bad = append(bad, violation{"snapshot", fmt.Sprintf("%s: %v", p.id, err)})
			continue
		}
		index, fsmBytes, err := splitSnapshot(buf.Bytes())
		if err != nil {
			bad = append(bad, violation{"snapshot", fmt.Sprintf("%s: %v", p.id, err)})
			continue
		}
		sum := sha256.Sum256(fsmBytes)
		h := fmt.Sprintf("index %d sha256 %s", index, hex.EncodeToString(sum[:8]))
		fmt.Printf("  %s FSM snapshot: %d bytes at %s…\n", p.id, len(fsmBytes), h)
		if first == "" {
			first = h
		} else if h != first {
			bad = append(bad, violation{"snapshot", fmt.Sprintf("%s's FSM snapshot differs (%s vs %s)", p.id, h, first)})
		}
	}
	return bad
}

// teardown stops the nodes and removes namespaces and mounts.
func (r *run) teardown() {
	for _, p := range r.nodes {
		p.stop(15, 10*time.Second)
	}
	r.fab.closeAll()
	if r.dn != nil {
		_ = r.dn.Close()
	}
	for _, p := range r.nodes {
		p.unmountData()
		_ = p.ns.Close()
	}
}

// chainFacts reads the signing-domain inputs from the beacon node and the validators' group keys, by index,
// from the beacon node's validator list restricted to the lock file's validators.
func chainFacts(url, lockPath string) (chainInfo, map[uint64][]byte, error) {
	var ci chainInfo
	get := func(path string, v any) error {
		resp, err := http.Get(url + path)
		if err != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return json.NewDecoder(resp.Body).Decode(v)
	}
	var gen struct {
		Data struct {
			Root string `json:"genesis_validators_root"`
		} `json:"data"`
	}
	var fork struct {
		Data struct {
			Prev  string `json:"previous_version"`
			Curr  string `json:"current_version"`
			Epoch string `json:"epoch"`
		} `json:"data"`
	}
	var spec struct {
		Data map[string]any `json:"data"`
	}
	var vals struct {
		Data []struct {
			Index     string `json:"index"`
			Validator struct {
				Pubkey string `json:"pubkey"`
			} `json:"validator"`
		} `json:"data"`
	}
	for path, v := range map[string]any{"/eth/v1/beacon/genesis": &gen, "/eth/v1/beacon/states/head/fork": &fork,
		"/eth/v1/config/spec": &spec, "/eth/v1/beacon/states/head/validators": &vals} {
		if err := get(path, v); err != nil {
			return ci, nil, err
		}
	}
	unhex := func(s string, out []byte) error {
		b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
		if err != nil || len(b) != len(out) {
			return fmt.Errorf("bad hex %q", s)
		}
		copy(out, b)
		return nil
	}
	if err := errors.Join(unhex(gen.Data.Root, ci.GenesisValidatorsRoot[:]), unhex(fork.Data.Prev, ci.PreviousVersion[:]),
		unhex(fork.Data.Curr, ci.CurrentVersion[:])); err != nil {
		return ci, nil, fmt.Errorf("chain facts: %w", err)
	}
	ci.ForkEpoch, _ = strconv.ParseUint(fork.Data.Epoch, 10, 64)
	spe, _ := spec.Data["SLOTS_PER_EPOCH"].(string)
	ci.SlotsPerEpoch, _ = strconv.ParseUint(spe, 10, 64)
	if ci.SlotsPerEpoch == 0 {
		return ci, nil, errors.New("chain facts: no SLOTS_PER_EPOCH")
	}
	lb, err := os.ReadFile(lockPath)
	if err != nil {
		return ci, nil, err
	}
	var lock struct {
		Validators []struct {
			Pubkey string `json:"pubkey"`
		} `json:"validators"`
	}
	if err := json.Unmarshal(lb, &lock); err != nil {
		return ci, nil, fmt.Errorf("lock: %w", err)
	}
	inLock := make(map[string]bool)
	for _, v := range lock.Validators {
		inLock[strings.ToLower(strings.TrimPrefix(v.Pubkey, "0x"))] = true
	}
	pubkeys := make(map[uint64][]byte)
	for _, v := range vals.Data {
		pk := strings.ToLower(strings.TrimPrefix(v.Validator.Pubkey, "0x"))
		if !inLock[pk] {
			continue
		}
		idx, _ := strconv.ParseUint(v.Index, 10, 64)
		b, _ := hex.DecodeString(pk)
		pubkeys[idx] = b
	}
	return ci, pubkeys, nil
}

// splitSnapshot takes a snapshot file of the admin API apart: a NUL-terminated magic, the length of a JSON header
// (raft's snapshot metadata, which names the node's own snapshot ID and so differs between nodes), the
// header, then the FSM bytes. It returns the raft index of the snapshot and the FSM bytes.
func splitSnapshot(b []byte) (uint64, []byte, error) {
	z := bytes.IndexByte(b, 0)
	if z < 0 {
		return 0, nil, errors.New("snapshot file: no magic")
	}
	rest := b[z+1:]
	nl := bytes.IndexByte(rest, '\n')
	if nl < 0 {
		return 0, nil, errors.New("snapshot file: no header length")
	}
	n, err := strconv.Atoi(string(rest[:nl]))
	if err != nil || n < 0 || n > len(rest)-nl-1 {
		return 0, nil, fmt.Errorf("snapshot file: bad header length %q", rest[:nl])
	}
	hdr := rest[nl+1 : nl+1+n]
	var meta struct{ Index uint64 }
	if err := json.Unmarshal(hdr, &meta); err != nil {
		return 0, nil, fmt.Errorf("snapshot file: header: %w", err)
	}
	return meta.Index, rest[nl+1+n:], nil
}
