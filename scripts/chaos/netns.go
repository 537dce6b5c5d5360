package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"syscall"
)

// A netns is one Linux network namespace with its loopback up. Each node runs in its own, so the only way
// between two nodes is the chaos proxy: a node's real listening address is not reachable from another node
// (even one that learned it through libp2p identify), because 127.0.0.1 inside one namespace is not the
// 127.0.0.1 of another.
type netns struct {
	name string
	path string
}

// sysSetns is setns(2) on linux/amd64 and linux/arm64.
func sysSetns() uintptr {
	if runtime.GOARCH == "arm64" {
		return 268
	}
	return 308
}

// newNetns creates the namespace and brings its loopback up.
func newNetns(name string) (*netns, error) {
	_ = exec.Command("ip", "netns", "del", name).Run()
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %v: %s", name, err, out)
	}
	if out, err := exec.Command("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		_ = exec.Command("ip", "netns", "del", name).Run()
		return nil, fmt.Errorf("bring up lo in %s: %v: %s", name, err, out)
	}
	return &netns{name: name, path: "/run/netns/" + name}, nil
}

// Close deletes the namespace.
func (n *netns) Close() error {
	if out, err := exec.Command("ip", "netns", "del", n.name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", n.name, err, out)
	}
	return nil
}

// do runs f on an OS thread switched into the namespace. The thread is never handed back to the scheduler
// (the goroutine exits while still locked, so the runtime discards it): no other goroutine can ever run in
// the wrong namespace. Sockets created by f stay in the namespace.
func (n *netns) do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := os.Open(n.path)
		if err != nil {
			errc <- fmt.Errorf("open %s: %w", n.path, err)
			return
		}
		defer fd.Close()
		if _, _, e := syscall.RawSyscall(sysSetns(), fd.Fd(), syscall.CLONE_NEWNET, 0); e != 0 {
			errc <- fmt.Errorf("setns %s: %w", n.name, e)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// listen opens a TCP listener inside the namespace.
func (n *netns) listen(addr string) (net.Listener, error) {
	var l net.Listener
	err := n.do(func() error {
		var err error
		l, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s in %s: %w", addr, n.name, err)
	}
	return l, nil
}

// dial opens a TCP connection from inside the namespace.
func (n *netns) dial(ctx context.Context, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.do(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, "tcp", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s in %s: %w", addr, n.name, err)
	}
	return c, nil
}
