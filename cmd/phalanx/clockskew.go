package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/phalanx-eth/phalanx/node"
)

// skewedClock is the wall clock shifted by a fixed offset: the fault a node with a wrong system clock has.
type skewedClock struct{ skew time.Duration }

// Now implements node.Clock.
func (c skewedClock) Now() time.Time { return time.Now().Add(c.skew) }

// After implements node.Clock.
func (skewedClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// addClockSkewFlag registers the hidden --clock-skew flag of `phalanx node`, a fault-injection hook for the
// chaos run: the duty scheduler reads a clock this far ahead (or, negative, behind) of the machine's.
func addClockSkewFlag(c *cobra.Command, skew *time.Duration) {
	c.Flags().DurationVar(skew, "clock-skew", 0, "fault injection: shift the scheduler's clock by this much")
	_ = c.Flags().MarkHidden("clock-skew")
}

// applyClockSkew makes cfg's scheduler use a skewed wall clock when skew is not zero.
func applyClockSkew(cfg *node.Config, skew time.Duration) {
	if skew != 0 {
		cfg.Clock = skewedClock{skew: skew}
	}
}
