package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/phalanx-eth/phalanx/api"
	"github.com/phalanx-eth/phalanx/cluster"
)

// proc is one `phalanx node` process in its own network namespace.
type proc struct {
	i       int // 0-based
	id      string
	ns      *netns
	cfgPath string
	dataDir string
	logPath string
	bin     string
	client  *api.Client

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	mounted bool
}

// start runs the node with extra flags; its stderr is appended to its log file.
func (p *proc) start(extra ...string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("%s is already running", p.id)
	}
	lf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("node log: %w", err)
	}
	args := append([]string{"netns", "exec", p.ns.name, p.bin, "node", "--config", p.cfgPath, "--no-doppelganger-check"}, extra...)
	fmt.Fprintf(lf, "=== chaos: start %s %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(extra, " "))
	cmd := exec.Command("ip", args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return fmt.Errorf("start %s: %w", p.id, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); lf.Close(); close(exited) }()
	p.cmd, p.exited = cmd, exited
	return nil
}

// signal sends sig and, for SIGKILL, waits for the process to be gone.
func (p *proc) stop(sig syscall.Signal, wait time.Duration) {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(wait):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// running reports whether the process is up.
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// status asks the node for its view of the cluster.
func (p *proc) status(ctx context.Context) (cluster.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return p.client.Status(ctx)
}

// newAdminClient returns an admin API client that reaches addr inside ns.
func newAdminClient(ns *netns, addr, token string) *api.Client {
	tr := &http.Transport{
		DialContext:  func(ctx context.Context, _, _ string) (net.Conn, error) { return ns.dial(ctx, addr) },
		MaxIdleConns: 4, IdleConnTimeout: 5 * time.Second,
	}
	return &api.Client{BaseURL: "http://" + addr, Token: token, HTTP: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// mountData puts the node's data directory on its own small tmpfs, so that "disk full" is a real
// file-system fault.
func (p *proc) mountData(size string) error {
	if err := os.MkdirAll(p.dataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", p.dataDir).CombinedOutput(); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %v: %s", p.dataDir, err, out)
	}
	p.mounted = true
	return nil
}

// fillerPath is the file that fills the data directory's tmpfs.
func (p *proc) fillerPath() string { return filepath.Join(p.dataDir, "chaos-filler") }

// fillDisk writes until the data directory's file system is full.
func (p *proc) fillDisk() error {
	f, err := os.Create(p.fillerPath())
	if err != nil {
		return fmt.Errorf("fill %s: %w", p.dataDir, err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return nil
			}
			return fmt.Errorf("fill %s: %w", p.dataDir, err)
		}
	}
}

// unfillDisk removes the filler.
func (p *proc) unfillDisk() error {
	if err := os.Remove(p.fillerPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("unfill %s: %w", p.dataDir, err)
	}
	return nil
}

// writeSyscalls are the system calls through which a node changes its files. Sockets and log output use
// write and sendmsg, which stay untouched.
const writeSyscalls = "pwrite64,pwritev,pwritev2,fsync,fdatasync,ftruncate,fallocate,rename,renameat,renameat2," +
	"unlink,unlinkat,mkdir,mkdirat"

// readOnly makes every change the running node makes to its files fail with EROFS, as it would on a file
// system remounted read-only (a tmpfs in use cannot be remounted here, and a read-only bind mount would not
// reach the files the node already holds open). strace attaches to the process and injects the error into
// writeSyscalls; the returned function detaches it, which makes the files writable again.
func (p *proc) readOnly() (undo func(), err error) {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return nil, fmt.Errorf("%s is not running", p.id)
	}
	tr := exec.Command("strace", "-qq", "-f", "-p", fmt.Sprint(cmd.Process.Pid), "-e", "trace="+writeSyscalls,
		"-e", "inject="+writeSyscalls+":error=EROFS", "-o", "/dev/null")
	var stderr strings.Builder
	tr.Stderr = &stderr
	if err := tr.Start(); err != nil {
		return nil, fmt.Errorf("strace (needed for the read-only fault): %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = tr.Wait(); close(exited) }()
	select {
	case <-exited:
		return nil, fmt.Errorf("strace did not attach to %s: %s", p.id, strings.TrimSpace(stderr.String()))
	case <-time.After(300 * time.Millisecond):
	}
	return func() {
		_ = tr.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = tr.Process.Kill()
			<-exited
		}
	}, nil
}

// unmountData removes the tmpfs.
func (p *proc) unmountData() {
	if p.mounted {
		_ = exec.Command("umount", "-l", p.dataDir).Run()
		p.mounted = false
	}
}

// rssKB returns the process's resident set size in KiB, or 0.
func (p *proc) rssKB() int64 {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb
		}
	}
	return 0
}
