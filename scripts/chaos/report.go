package main

import (
	"fmt"
	"sort"
	"time"

	"github.com/phalanx-eth/phalanx/node/devnet"
)

// report prints the fault log with per-fault measurements and the final verdict.
func (r *run) report(msgs []message, firstSlot, lastSlot, maxCommit uint64, st devnet.Stats, bad []violation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	genesis, slot := r.dn.GenesisTime(), r.o.slot
	slotStart := func(s uint64) time.Time { return genesis.Add(time.Duration(s) * slot) }

	expected, received := 0, 0
	for s := firstSlot; s <= lastSlot; s++ {
		ss := r.slots[s]
		expected += ss.attesters
		received += min(ss.received, ss.attesters)
	}
	// In time: a verified attestation the beacon node received before its slot ended.
	type key struct{ v, s uint64 }
	seen := make(map[key]bool)
	onTime := 0
	for _, m := range msgs {
		k := key{m.validator, m.slot}
		if m.kind != devnet.PublishedAttestation || m.slot < firstSlot || m.slot > lastSlot || seen[k] {
			continue
		}
		if m.received.Before(slotStart(m.slot + 1)) {
			seen[k] = true
			onTime++
		}
	}
	fmt.Println()
	fmt.Println("== fault log")
	fmt.Printf("%-22s %-6s %-6s %-9s %-10s %s\n", "fault", "slot", "held", "missed", "recovery", "what")
	for _, f := range r.records {
		missed, exp, lastBad := 0, 0, uint64(0)
		for s := f.startSlot; s <= f.endSlot+2; s++ {
			ss, ok := r.slots[s]
			if !ok {
				continue
			}
			exp += ss.attesters
			if ss.received < ss.attesters {
				missed += ss.attesters - ss.received
				lastBad = s
			}
		}
		rec := "0s"
		if lastBad > 0 {
			rec = slotStart(lastBad + 1).Sub(f.start).Round(100 * time.Millisecond).String()
		}
		fmt.Printf("%-22s %-6d %-6s %3d/%-5d %-10s %s\n", f.name, f.startSlot, f.repaired.Sub(f.start).Round(time.Second),
			missed, exp, rec, f.desc)
	}
	fmt.Println()
	fmt.Println("== result")
	fmt.Printf("slots %d..%d: %d cluster attestation duties, %d received by the beacon node (%.1f%%), %d signed within their slot (%.1f%%)\n",
		firstSlot, lastSlot, expected, received, pct(received, expected), onTime, pct(onTime, expected))
	fmt.Printf("published: %d verified slashable messages; cluster blocks %d, missed %d; finalized epoch %d; highest commit index seen %d\n",
		len(msgs), st.Totals.ClusterBlocks, st.Totals.ClusterBlocksMissed, st.FinalizedEpoch, maxCommit)
	if len(r.failovers) > 0 {
		fo := append([]time.Duration(nil), r.failovers...)
		sort.Slice(fo, func(i, j int) bool { return fo[i] < fo[j] })
		fmt.Printf("failover (leader killed or cut off -> another node leads, polled every 250ms): %d times, median %s, max %s\n",
			len(fo), fo[len(fo)/2].Round(10*time.Millisecond), fo[len(fo)-1].Round(10*time.Millisecond))
	}
	r.printLoad(msgs, firstSlot, lastSlot, expected, slotStart)
	if len(bad) == 0 {
		fmt.Println("checks: every signature verifies; no slashable pair; every committed entry survived; all FSM snapshots equal — PASS")
		return
	}
	fmt.Printf("checks: %d violations — FAIL\n", len(bad))
	for i, v := range bad {
		if i == 50 {
			fmt.Printf("  … and %d more\n", len(bad)-50)
			break
		}
		fmt.Println("  " + v.String())
	}
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

// printLoad reports attestation latency from the 1/3-slot mark (first receipt by the beacon node of each
// validator's attestation) and the nodes' peak memory.
func (r *run) printLoad(msgs []message, firstSlot, lastSlot uint64, expected int, slotStart func(uint64) time.Time) {
	type key struct{ v, s uint64 }
	first := make(map[key]time.Time)
	for _, m := range msgs {
		if m.kind != devnet.PublishedAttestation || m.slot < firstSlot || m.slot > lastSlot {
			continue
		}
		k := key{m.validator, m.slot}
		if t, ok := first[k]; !ok || m.received.Before(t) {
			first[k] = m.received
		}
	}
	var lats []time.Duration
	within := 0
	for k, t := range first {
		l := t.Sub(slotStart(k.s).Add(r.o.slot / 3))
		lats = append(lats, l)
		if l <= 2*time.Second {
			within++
		}
	}
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	q := func(f float64) time.Duration {
		if len(lats) == 0 {
			return 0
		}
		return lats[min(len(lats)-1, int(f*float64(len(lats))))].Round(time.Millisecond)
	}
	fmt.Printf("latency from the 1/3 mark to the beacon node: p50 %s, p90 %s, p99 %s, max %s; %d of %d duties (%.1f%%) within 2s\n",
		q(0.5), q(0.9), q(0.99), q(1), within, expected, pct(within, expected))
	var total int64
	for _, p := range r.nodes {
		total += r.rss[p.id]
	}
	if n := len(r.nodes); n > 0 && total > 0 {
		fmt.Printf("peak RSS per node: %.0f MiB on average (%s); %.1f KiB per validator per node\n",
			float64(total)/float64(n)/1024, r.rssList(), float64(total)/float64(n)/float64(r.o.clusterVal))
	}
}

func (r *run) rssList() string {
	out := ""
	for i, p := range r.nodes {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%s %.0f MiB", p.id, float64(r.rss[p.id])/1024)
	}
	return out
}
