package transport

import (
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// benchRafts starts a 3-node cluster over the named transport ("phalanx" for
// this package, "net" for raft's own TCP NetworkTransport) and returns the
// leader.
func benchRafts(b *testing.B, kind string) *raft.Raft {
	b.Helper()
	switch kind {
	case "phalanx":
		c := makeCluster(b, 3, clusterOpts{maxPipeline: 2})
		return c.leader().raft
	case "net":
		return netCluster(b)
	}
	b.Fatalf("unknown transport %q", kind)
	return nil
}

// netCluster is the baseline: the same raft configuration over
// raft.NetworkTransport on loopback TCP.
func netCluster(b *testing.B) *raft.Raft {
	var (
		trans []*raft.NetworkTransport
		rafts []*raft.Raft
		conf  raft.Configuration
	)
	b.Cleanup(func() {
		for _, r := range rafts {
			_ = r.Shutdown().Error()
		}
		for _, t := range trans {
			_ = t.Close()
		}
	})
	for i := 0; i < 3; i++ {
		t, err := raft.NewTCPTransport("127.0.0.1:0", nil, 3, 10*time.Second, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		trans = append(trans, t)
		conf.Servers = append(conf.Servers, raft.Server{ID: raft.ServerID(fmt.Sprintf("net-%d", i)), Address: t.LocalAddr()})
	}
	for i, t := range trans {
		id := conf.Servers[i].ID
		cfg := testRaftConfig(id, clusterOpts{})
		store := raft.NewInmemStore()
		snaps := raft.NewInmemSnapshotStore()
		if err := raft.BootstrapCluster(cfg, store, store, snaps, t, conf); err != nil {
			b.Fatal(err)
		}
		r, err := raft.NewRaft(cfg, &testFSM{}, store, store, snaps, t)
		if err != nil {
			b.Fatal(err)
		}
		rafts = append(rafts, r)
	}
	var leader *raft.Raft
	waitFor(b, 20*time.Second, "a leader", func() bool {
		for _, r := range rafts {
			if r.State() == raft.Leader {
				leader = r
				return true
			}
		}
		return false
	})
	return leader
}

// BenchmarkApplySequential measures the commit latency of one Apply at a
// time on a 3-node loopback cluster, for this transport and for raft's
// NetworkTransport in the same run.
func BenchmarkApplySequential(b *testing.B) {
	for _, kind := range []string{"phalanx", "net"} {
		b.Run(kind, func(b *testing.B) {
			leader := benchRafts(b, kind)
			cmd := make([]byte, 64)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				if err := leader.Apply(cmd, 10*time.Second).Error(); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// BenchmarkApplyConcurrent64 measures commit throughput with 64 concurrent
// appliers.
func BenchmarkApplyConcurrent64(b *testing.B) {
	const workers = 64
	for _, kind := range []string{"phalanx", "net"} {
		b.Run(kind, func(b *testing.B) {
			leader := benchRafts(b, kind)
			cmd := make([]byte, 64)
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			b.ResetTimer()
			start := time.Now()
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := w; i < b.N; i += workers {
						if err := leader.Apply(cmd, 10*time.Second).Error(); err != nil {
							errs <- err
							return
						}
					}
				}(w)
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "commits/s")
		})
	}
}
