package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/phalanx-eth/phalanx/node/devnet"
)

// nodeProc is one `phalanx node` process and what it has logged.
type nodeProc struct {
	id  string
	cmd *exec.Cmd
	mu  sync.Mutex
	log bytes.Buffer
}

func (p *nodeProc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// lastLeadership returns when the process last logged that it became leader or lost leadership.
func (p *nodeProc) leads() bool {
	l := p.logs()
	became := strings.LastIndex(l, `msg="became leader"`)
	lost := strings.LastIndex(l, `msg="lost leadership"`)
	return became >= 0 && became > lost
}

// TestMultiProcessLeaderKill starts the embedded devnet and three `phalanx node` processes, waits until the
// cluster's attestations are being included, SIGKILLs the leader process, and checks that the remaining two
// keep signing: the devnet receives and includes cluster attestations for slots after the kill.
func TestMultiProcessLeaderKill(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test: skipped with -short")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "phalanx")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = os.Environ()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}

	const slot = time.Second
	cfg := devnet.DefaultConfig()
	cfg.SlotDuration = slot
	cfg.GenesisTime = time.Now().Add(6 * time.Second).Truncate(time.Second)
	for i := uint64(0); i < 32; i++ {
		cfg.ClusterValidators = append(cfg.ClusterValidators, i)
	}
	dn, err := devnet.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := dn.Start(); err != nil {
		t.Fatal(err)
	}
	defer dn.Close()

	base := 20000 + os.Getpid()%20000
	out := filepath.Join(dir, "cluster")
	init := exec.Command(bin, "cluster", "init", "--out", out, "--interop-validators", "0-31", "--light-kdf",
		"--beacon-url", dn.URL(), "--p2p-base-port", fmt.Sprint(base), "--api-base-port", "0", "--slot-time", slot.String())
	if b, err := init.CombinedOutput(); err != nil {
		t.Fatalf("cluster init: %v\n%s", err, b)
	}

	procs := make([]*nodeProc, 3)
	for i := range procs {
		p := &nodeProc{id: fmt.Sprintf("node-%d", i+1)}
		p.cmd = exec.Command(bin, "node", "--config", filepath.Join(out, p.id, "node.json"), "--no-doppelganger-check")
		stderr, err := p.cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			sc := bufio.NewScanner(stderr)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				p.mu.Lock()
				p.log.WriteString(sc.Text() + "\n")
				p.mu.Unlock()
			}
			io.Copy(io.Discard, stderr)
		}()
		procs[i] = p
	}
	t.Cleanup(func() {
		for _, p := range procs {
			if p.cmd.ProcessState == nil {
				p.cmd.Process.Signal(syscall.SIGTERM)
				done := make(chan struct{})
				go func() { p.cmd.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					p.cmd.Process.Kill()
				}
			}
			if t.Failed() {
				l := p.logs()
				if len(l) > 6000 {
					l = l[len(l)-6000:]
				}
				t.Logf("%s log tail:\n%s", p.id, l)
			}
		}
	})

	received := func(from uint64) (recv, incl int) {
		for _, s := range dn.Stats().Slots {
			if s.Slot >= from {
				recv += s.ClusterAttestationsReceived
				incl += s.ClusterAttestationsIncluded
			}
		}
		return
	}
	waitFor := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for time.Now().Before(deadline) {
			if cond() {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("timed out after %s waiting for %s (devnet slot %d)", d, what, dn.Stats().Slot)
	}
	waitFor("cluster attestations to be included", 60*time.Second, func() bool { _, incl := received(0); return incl >= 8 })

	var leader *nodeProc
	waitFor("a leader", 10*time.Second, func() bool {
		for _, p := range procs {
			if p.leads() {
				leader = p
				return true
			}
		}
		return false
	})
	killSlot := dn.Stats().Slot
	if err := leader.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	leader.cmd.Wait()
	t.Logf("SIGKILLed the leader %s at slot %d", leader.id, killSlot)

	// The two survivors elect a leader and keep signing: attestations for slots after the kill arrive.
	waitFor("attestations signed after the kill", 40*time.Second, func() bool {
		recv, incl := received(killSlot + 2)
		return recv >= 8 && incl >= 4
	})
	newLeader := ""
	for _, p := range procs {
		if p != leader && p.leads() {
			newLeader = p.id
		}
	}
	recv, incl := received(killSlot + 2)
	t.Logf("after the kill: new leader %s; %d cluster attestations received and %d included since slot %d", newLeader, recv, incl, killSlot+2)
	if st := dn.Stats(); st.Totals.Rejected > 0 {
		for _, r := range st.Rejections {
			if r.Kind == "attestation" {
				t.Errorf("devnet rejected a cluster attestation: %+v", r)
			}
		}
	}
}
