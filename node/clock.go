package node

import (
	"time"

	"github.com/phalanx-eth/phalanx/fsm/eth"
)

// Clock is the time source of the duty scheduler. The scheduler reads the time and waits only through it, so
// tests drive duties with a clock they control.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives the time once d has elapsed.
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now implements Clock.
func (SystemClock) Now() time.Time { return time.Now() }

// After implements Clock.
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// SlotClock turns times into slots and back for one chain.
type SlotClock struct {
	Genesis       time.Time
	SlotDuration  time.Duration
	SlotsPerEpoch uint64
}

// NewSlotClock returns the slot clock of the chain spec describes.
func NewSlotClock(spec *eth.Spec) SlotClock {
	return SlotClock{
		Genesis:       time.Unix(int64(spec.GenesisTime), 0),
		SlotDuration:  time.Duration(spec.SecondsPerSlot) * time.Second,
		SlotsPerEpoch: spec.SlotsPerEpoch,
	}
}

// SlotAt returns the slot in progress at t; before genesis it returns 0 and false.
func (c SlotClock) SlotAt(t time.Time) (uint64, bool) {
	if t.Before(c.Genesis) {
		return 0, false
	}
	return uint64(t.Sub(c.Genesis) / c.SlotDuration), true
}

// SlotStart returns the time slot starts.
func (c SlotClock) SlotStart(slot uint64) time.Time {
	return c.Genesis.Add(time.Duration(slot) * c.SlotDuration)
}

// SlotPart returns the time at num/den of slot (1/3 for attestations, 2/3 for aggregates).
func (c SlotClock) SlotPart(slot uint64, num, den int64) time.Time {
	return c.SlotStart(slot).Add(c.SlotDuration * time.Duration(num) / time.Duration(den))
}

// Epoch returns the epoch of slot.
func (c SlotClock) Epoch(slot uint64) uint64 { return slot / c.SlotsPerEpoch }

// EpochStart returns the first slot of epoch.
func (c SlotClock) EpochStart(epoch uint64) uint64 { return epoch * c.SlotsPerEpoch }
