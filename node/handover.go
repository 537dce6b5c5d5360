package node

import (
	"context"
	"time"
)

// readinessLoop keeps this member's readiness report current (is its beacon node usable?) and, while it leads
// with a beacon node that stays unusable for HandoverAfter, hands leadership to a voter that reports a usable
// one. When no voter does, the leader keeps leading: handing over to a member that cannot sign either would
// only add elections, and leadership never moves to a member that did not report itself ready.
func (n *Node) readinessLoop(ctx context.Context) {
	clock := n.cfg.Clock
	if clock == nil {
		clock = SystemClock{}
	}
	slot := n.cfg.SlotDuration
	tick := min(max(slot/4, 250*time.Millisecond), 3*time.Second)
	after := n.cfg.HandoverAfter
	if after == 0 {
		after = slot / 2
	}
	var (
		probes      uint64
		failing     int
		since       time.Time // first failed probe of the current failure
		leaderSince time.Time
		lastAttempt time.Time
		warned      bool
	)
	for {
		// The chain check (genesis, spec, fork schedule) runs on every 16th probe; the others only ask whether
		// the node is reachable and synced.
		full := probes%16 == 0
		probes++
		err := n.probeBeacon(ctx, slot, full)
		if ctx.Err() != nil {
			return
		}
		now := clock.Now()
		if err != nil {
			n.cl.SetReadiness(false, "beacon node not usable: "+err.Error())
			n.metrics.setReady(false)
			failing++
			if since.IsZero() {
				since = now
			}
		} else {
			n.cl.SetReadiness(true, "")
			n.metrics.setReady(true)
			failing, since, warned = 0, time.Time{}, false
		}
		if !n.cl.IsLeader() {
			leaderSince = time.Time{}
		} else {
			if leaderSince.IsZero() {
				leaderSince = now
			}
			if after > 0 && err != nil && failing >= 2 && now.Sub(since) >= after && now.Sub(leaderSince) >= after &&
				now.Sub(lastAttempt) >= slot {
				lastAttempt = now
				warned = n.handOver(now.Sub(since), err, warned)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-clock.After(tick):
		}
	}
}

// probeBeacon checks that a beacon node is reachable and synced within half a slot and, when full, that it
// follows the cluster's chain (four requests, so it gets two slots: a slow beacon node is still usable).
func (n *Node) probeBeacon(ctx context.Context, slot time.Duration, full bool) error {
	if !full {
		pctx, cancel := context.WithTimeout(ctx, max(slot/2, time.Second))
		defer cancel()
		return n.beacon.Check(pctx, nil)
	}
	pctx, cancel := context.WithTimeout(ctx, 2*slot)
	defer cancel()
	bound, _ := n.cl.Machine().ChainConfig()
	return n.beacon.Check(pctx, bound)
}

// handOver transfers leadership to the first voter that reports a usable beacon node. It returns whether the
// "nobody to hand over to" warning has been given.
func (n *Node) handOver(unusable time.Duration, cause error, warned bool) bool {
	targets := n.cl.ReadyVoters()
	if len(targets) == 0 {
		if !warned {
			n.log.Warn("beacon node unusable, and no other voter reports a usable one: keeping leadership",
				"unusable_for", unusable.Round(time.Millisecond), "err", cause)
		}
		return true
	}
	to := targets[0]
	n.log.Warn("handing leadership over: this node's beacon node is unusable", "unusable_for", unusable.Round(time.Millisecond),
		"to", to, "err", cause)
	if err := n.cl.TransferLeadership(to); err != nil {
		n.log.Error("leadership handover failed", "to", to, "err", err)
		return warned
	}
	n.metrics.handover()
	return warned
}
