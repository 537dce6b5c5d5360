package main

import (
	"fmt"
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
