package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"
)

// A fault is injected, held, and repaired; inject returns the repair and a description.
type fault struct {
	name string
	// inject starts the fault; the returned function ends it.
	inject func(ctx context.Context, r *run) (desc string, repair func() string, err error)
}

// faultRecord is one injected fault, for the report.
type faultRecord struct {
	name      string
	desc      string
	observed  []string
	start     time.Time
	repaired  time.Time
	startSlot uint64
	endSlot   uint64
	// filled in by the report
	missed    int
	expected  int
	recovered time.Duration
	recoverOK bool
}

var faults = []fault{
	{"kill-leader", func(ctx context.Context, r *run) (string, func() string, error) {
		p := r.leader(ctx)
		if p == nil {
			return "", nil, errNoLeader
		}
		p.stop(9, 10*time.Second)
		return "SIGKILL " + p.id + " (leader); " + r.newLeaderAfter(ctx, p), func() string { r.restart(p); return "restarted " + p.id }, nil
	}},
	{"kill-follower", func(ctx context.Context, r *run) (string, func() string, error) {
		p := r.follower(ctx)
		if p == nil {
			return "", nil, errNoLeader
		}
		p.stop(9, 10*time.Second)
		return "SIGKILL " + p.id + " (follower)", func() string { r.restart(p); return "restarted " + p.id }, nil
	}},
	{"partition-leader", func(ctx context.Context, r *run) (string, func() string, error) {
		p := r.leader(ctx)
		if p == nil {
			return "", nil, errNoLeader
		}
		r.isolate(p, true)
		return "cut every link of " + p.id + " (leader) to its peers; " + r.newLeaderAfter(ctx, p), func() string { r.isolate(p, false); return "healed" }, nil
	}},
	{"partition-follower", func(ctx context.Context, r *run) (string, func() string, error) {
		p := r.follower(ctx)
		if p == nil {
			return "", nil, errNoLeader
		}
		r.isolate(p, true)
		return "cut every link of " + p.id + " (follower) to its peers", func() string { r.isolate(p, false); return "healed" }, nil
	}},
	{"delay-leader-out", func(ctx context.Context, r *run) (string, func() string, error) {
		p := r.leader(ctx)
		if p == nil {
			return "", nil, errNoLeader
		}
		d := r.o.slot / 4
		for _, q := range r.nodes {
			if q != p {
				r.fab.set(p.i, q.i, linkState{delay: d})
			}
		}
		return fmt.Sprintf("one-way delay %s on every link from %s (leader)", d, p.id), func() string {
			for _, q := range r.nodes {
				if q != p {
					r.fab.set(p.i, q.i, linkState{})
				}
			}
			return "delay removed"
		}, nil
	}},
	{"delay-follower-in", func(ctx context.Context, r *run) (string, func() string, error) {
		p := r.follower(ctx)
		if p == nil {
			return "", nil, errNoLeader
		}
		d := r.o.slot
		for _, q := range r.nodes {
			if q != p {
				r.fab.set(q.i, p.i, linkState{delay: d})
			}
		}
		return fmt.Sprintf("one-way delay %s on every link into %s (follower)", d, p.id), func() string {
			for _, q := range r.nodes {
				if q != p {
					r.fab.set(q.i, p.i, linkState{})
				}
			}
			return "delay removed"
		}, nil
	}},
	{"beacon-slow", func(_ context.Context, r *run) (string, func() string, error) {
		d := (r.o.slot / 3).Round(time.Millisecond)
		r.dn.SlowResponses(d)
		return fmt.Sprintf("beacon node answers every request %s late", d), func() string { r.dn.SlowResponses(0); return "beacon node fast again" }, nil
	}},
	{"beacon-down", func(_ context.Context, r *run) (string, func() string, error) {
		r.dn.SetUnavailable(true)
		return "beacon node answers 503 to everything", func() string { r.dn.SetUnavailable(false); return "beacon node back" }, nil
	}},
	{"leader-beacon-cut", func(ctx context.Context, r *run) (string, func() string, error) {
		p := r.leader(ctx)
		if p == nil {
			return "", nil, errNoLeader
		}
		r.fab.set(p.i, beaconEnd, linkState{down: true})
		r.fab.set(beaconEnd, p.i, linkState{down: true})
		return "cut " + p.id + " (leader) from its beacon node", func() string {
			r.fab.set(p.i, beaconEnd, linkState{})
			r.fab.set(beaconEnd, p.i, linkState{})
			return "beacon link healed"
		}, nil
	}},
	{"disk-full-leader", func(ctx context.Context, r *run) (string, func() string, error) {
		p := r.leader(ctx)
		if p == nil {
			return "", nil, errNoLeader
		}
		if err := p.fillDisk(); err != nil {
			return "", nil, err
		}
		return "filled " + p.id + "'s (leader) data file system", func() string {
			obs := r.observeStepDown(p)
			_ = p.unfillDisk()
			p.stop(15, 10*time.Second)
			r.restart(p)
			return obs + "; freed the disk and restarted " + p.id
		}, nil
	}},
	{"readonly-disk-leader", func(ctx context.Context, r *run) (string, func() string, error) {
		p := r.leader(ctx)
		if p == nil {
			return "", nil, errNoLeader
		}
		undo, err := p.readOnly()
		if err != nil {
			return "", nil, err
		}
		return "made every file write of " + p.id + " (leader) fail with EROFS (read-only file system)", func() string {
			obs := r.observeStepDown(p)
			undo()
			p.stop(15, 10*time.Second)
			r.restart(p)
			return obs + "; made its files writable again and restarted " + p.id
		}, nil
	}},
	{"clock-skew-leader", func(ctx context.Context, r *run) (string, func() string, error) {
		p := r.follower(ctx)
		if p == nil {
			return "", nil, errNoLeader
		}
		skew := (r.o.slot / 3).Round(time.Millisecond)
		if r.rng.Intn(2) == 0 {
			skew = -skew
		}
		p.stop(15, 10*time.Second)
		r.restart(p, "--clock-skew", skew.String())
		moved := r.transferTo(ctx, p)
		return fmt.Sprintf("restarted %s with its scheduler clock %s off and made it leader (%s)", p.id, skew, moved), func() string {
			p.stop(15, 10*time.Second)
			r.restart(p)
			return "restarted " + p.id + " with the right clock"
		}, nil
	}},
}

func faultNames() []string {
	var out []string
	for _, f := range faults {
		out = append(out, f.name)
	}
	return out
}

// schedule returns the enabled faults in a seeded order, each kind once per round.
func (r *run) schedule(enabled []fault) []fault {
	order := slices.Clone(enabled)
	r.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	return order
}

// slotsOf returns the sorted slots the monitor saw.
func slotsOf(m map[uint64]slotSeen) []uint64 {
	out := make([]uint64, 0, len(m))
	for s := range m {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// newLeaderAfter measures how long after the old leader's loss another node reports itself leader.
func (r *run) newLeaderAfter(ctx context.Context, old *proc) string {
	start := time.Now()
	var who string
	err := r.waitFor(ctx, "a new leader", 5*r.o.slot, func() bool {
		for _, p := range r.nodes {
			if p != old && p.running() {
				if s, err := p.status(ctx); err == nil && s.State == "Leader" {
					who = p.id
					return true
				}
			}
		}
		return false
	})
	if err != nil {
		return "no new leader within 5 slots"
	}
	el := time.Since(start)
	r.mu.Lock()
	r.failovers = append(r.failovers, el)
	r.mu.Unlock()
	return fmt.Sprintf("new leader %s after %s", who, el.Round(10*time.Millisecond))
}
