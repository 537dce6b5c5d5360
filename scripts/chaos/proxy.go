package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// beaconEnd is the link end that stands for the beacon node in the fabric's link table.
const beaconEnd = -1

// linkKey is a directed link: bytes flowing from one end to the other.
type linkKey struct{ from, to int }

// linkState is what the fabric does to the bytes of one direction.
type linkState struct {
	// down refuses new connections and cuts existing ones (a partition).
	down bool
	// delay holds every chunk this long before delivering it (one-way latency).
	delay time.Duration
}

// fabric is the chaos network: loopback TCP proxies between the nodes' namespaces (and from each namespace to
// the devnet), with per-direction cuts and delays.
type fabric struct {
	log *slog.Logger

	mu    sync.Mutex
	links map[linkKey]linkState
	conns map[*proxyConn]struct{}
	ls    []net.Listener
}

func newFabric(log *slog.Logger) *fabric {
	return &fabric{log: log, links: make(map[linkKey]linkState), conns: make(map[*proxyConn]struct{})}
}

// state returns the link from→to.
func (f *fabric) state(from, to int) linkState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.links[linkKey{from, to}]
}

// set changes the link from→to; cutting it closes the open connections that carry it.
func (f *fabric) set(from, to int, s linkState) {
	f.mu.Lock()
	f.links[linkKey{from, to}] = s
	var cut []*proxyConn
	if s.down {
		for c := range f.conns {
			if (c.client == from && c.server == to) || (c.client == to && c.server == from) {
				cut = append(cut, c)
			}
		}
	}
	f.mu.Unlock()
	for _, c := range cut {
		c.close()
	}
}

// healAll restores every link.
func (f *fabric) healAll() {
	f.mu.Lock()
	f.links = make(map[linkKey]linkState)
	f.mu.Unlock()
}

// serve accepts on l (a listener inside client's namespace) and forwards each connection to server through
// dial, applying the links client→server and server→client.
func (f *fabric) serve(ctx context.Context, l net.Listener, client, server int, dial func(context.Context) (net.Conn, error)) {
	f.mu.Lock()
	f.ls = append(f.ls, l)
	f.mu.Unlock()
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go f.forward(ctx, c, client, server, dial)
	}
}

func (f *fabric) forward(ctx context.Context, in net.Conn, client, server int, dial func(context.Context) (net.Conn, error)) {
	if f.state(client, server).down || f.state(server, client).down {
		in.Close()
		return
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	out, err := dial(dctx)
	cancel()
	if err != nil {
		in.Close()
		return
	}
	pc := &proxyConn{client: client, server: server, in: in, out: out}
	f.mu.Lock()
	f.conns[pc] = struct{}{}
	f.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); f.pump(pc, in, out, client, server) }()
	go func() { defer wg.Done(); f.pump(pc, out, in, server, client) }()
	wg.Wait()
	pc.close()
	f.mu.Lock()
	delete(f.conns, pc)
	f.mu.Unlock()
}

// chunk is bytes read at a time, delivered after the link's delay.
type chunk struct {
	b  []byte
	at time.Time
}

// pump copies src to dst as the link from→to allows: chunks keep their order and each waits out the delay
// that was in force when it was read.
func (f *fabric) pump(pc *proxyConn, src, dst net.Conn, from, to int) {
	q := make(chan chunk, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range q {
			if d := time.Until(c.at); d > 0 {
				time.Sleep(d)
			}
			if _, err := dst.Write(c.b); err != nil {
				pc.close()
				for range q {
				}
				return
			}
		}
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			st := f.state(from, to)
			if st.down {
				pc.close()
				break
			}
			q <- chunk{b: append([]byte(nil), buf[:n]...), at: time.Now().Add(st.delay)}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				pc.close()
			}
			break
		}
	}
	close(q)
	<-done
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// proxyConn is one proxied connection: client dialed server.
type proxyConn struct {
	client, server int
	in, out        net.Conn
	once           sync.Once
}

func (c *proxyConn) close() {
	c.once.Do(func() {
		c.in.Close()
		c.out.Close()
	})
}

// closeAll stops every listener and connection.
func (f *fabric) closeAll() {
	f.mu.Lock()
	ls := f.ls
	f.ls = nil
	var cs []*proxyConn
	for c := range f.conns {
		cs = append(cs, c)
	}
	f.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
	for _, c := range cs {
		c.close()
	}
}
