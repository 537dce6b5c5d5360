// Command chaos runs a phalanx cluster on the embedded devnet under injected faults and then checks, with a
// checker written apart from fsm/, that nothing the cluster published is invalid or slashable, that every
// committed entry survived and that every node ended with the same state. `make chaos` runs it.
//
// Each node runs in its own Linux network namespace; the only path between two nodes (and from a node to the
// devnet) is this program's loopback proxy, which cuts and delays each direction on command. Data
// directories sit on small tmpfs mounts, so a full disk is a real file-system fault (ENOSPC). It needs
// root (ip netns, mount).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// options are the run's settings.
type options struct {
	seed       int64
	duration   time.Duration
	nodes      int
	slot       time.Duration
	validators int
	clusterVal int
	bin        string
	work       string
	p2pBase    int
	apiBase    int
	faults     string
	dataSize   string
	perEpoch   uint64
	genesis    time.Duration
}

func main() {
	var o options
	flag.Int64Var(&o.seed, "seed", 0, "fault schedule seed (0: from the clock; the report prints it)")
	flag.DurationVar(&o.duration, "duration", 3*time.Minute, "how long faults are injected (setup and checks come on top)")
	flag.IntVar(&o.nodes, "nodes", 3, "cluster size (3 or 5)")
	flag.DurationVar(&o.slot, "slot-time", 2*time.Second, "devnet slot time")
	flag.IntVar(&o.validators, "validators", 64, "devnet validators")
	flag.IntVar(&o.clusterVal, "cluster-validators", 32, "how many of them (0..n-1) the cluster runs")
	flag.StringVar(&o.bin, "bin", "bin/phalanx", "phalanx binary")
	flag.StringVar(&o.work, "work", "chaos-out", "work directory (wiped at start; logs stay there)")
	flag.IntVar(&o.p2pBase, "p2p-base-port", 19000, "node i's cluster port is this + i - 1 (inside its namespace)")
	flag.IntVar(&o.apiBase, "api-base-port", 19100, "node i's API port is this + i - 1 (inside its namespace)")
	flag.StringVar(&o.faults, "faults", "all", "comma-separated fault kinds to draw from, all, or none (a load run): "+strings.Join(faultNames(), ","))
	flag.StringVar(&o.dataSize, "data-size", "256m", "size of each node's data tmpfs")
	flag.Uint64Var(&o.perEpoch, "slots-per-epoch", 8, "devnet SLOTS_PER_EPOCH (32 for mainnet-like load)")
	flag.DurationVar(&o.genesis, "genesis-delay", 0, "genesis this long after the cluster is configured (0: 20s plus 4ms per validator, for key loading)")
	flag.Parse()
	if o.seed == 0 {
		o.seed = time.Now().UnixNano() % 1_000_000
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := runChaos(ctx, o, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}
