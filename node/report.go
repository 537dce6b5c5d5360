package node

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/phalanx-eth/phalanx/fsm"
)

// DutyCounts counts what happened to the validator duties of one kind in one slot. Each validator's part of
// a duty counts once per stage it reached.
type DutyCounts struct {
	// Signed counts items the cluster approved and committed.
	Signed int `json:"signed"`
	// Verified counts items whose group signature was rebuilt and verified.
	Verified int `json:"verified"`
	// Published counts messages the beacon node accepted.
	Published int `json:"published"`
	// Failed counts items that were denied, got no signature or were refused by the beacon node.
	Failed int `json:"failed"`
	// Dropped counts items given up because their deadline passed.
	Dropped int `json:"dropped"`
	// Reasons lists why items failed or were dropped (bounded).
	Reasons []string `json:"reasons,omitempty"`
}

// SlotReport is what the scheduler did in one slot, per duty kind.
type SlotReport struct {
	Slot   uint64                 `json:"slot"`
	Epoch  uint64                 `json:"epoch"`
	Duties map[string]*DutyCounts `json:"duties"`
}

const (
	reportSlots   = 64
	reportReasons = 8
)

// reports keeps the last reportSlots slot reports.
type reports struct {
	mu      sync.Mutex
	slots   map[uint64]*SlotReport
	metrics *Metrics
}

func newReports() *reports { return &reports{slots: make(map[uint64]*SlotReport)} }

// setMetrics makes every update also count into m.
func (r *reports) setMetrics(m *Metrics) {
	r.mu.Lock()
	r.metrics = m
	r.mu.Unlock()
}

// update runs f on the counts of kind at slot.
func (r *reports) update(slot, epoch uint64, kind fsm.DutyKind, f func(*DutyCounts)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sr, ok := r.slots[slot]
	if !ok {
		sr = &SlotReport{Slot: slot, Epoch: epoch, Duties: make(map[string]*DutyCounts)}
		r.slots[slot] = sr
		for s := range r.slots {
			if s+reportSlots <= slot {
				delete(r.slots, s)
			}
		}
	}
	dc, ok := sr.Duties[kind.String()]
	if !ok {
		dc = &DutyCounts{}
		sr.Duties[kind.String()] = dc
	}
	before := *dc
	f(dc)
	r.metrics.countDelta(kind.String(), before, *dc)
}

func (dc *DutyCounts) reason(format string, args ...any) {
	if len(dc.Reasons) < reportReasons {
		dc.Reasons = append(dc.Reasons, fmt.Sprintf(format, args...))
	}
}

// recent returns copies of the reports, newest first.
func (r *reports) recent() []SlotReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]SlotReport, 0, len(r.slots))
	for _, sr := range r.slots {
		cp := SlotReport{Slot: sr.Slot, Epoch: sr.Epoch, Duties: make(map[string]*DutyCounts, len(sr.Duties))}
		for k, v := range sr.Duties {
			c := *v
			c.Reasons = append([]string(nil), v.Reasons...)
			cp.Duties[k] = &c
		}
		out = append(out, cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slot > out[j].Slot })
	return out
}

// get returns a copy of the report of slot.
func (r *reports) get(slot uint64) (SlotReport, bool) {
	for _, sr := range r.recent() {
		if sr.Slot == slot {
			return sr, true
		}
	}
	return SlotReport{}, false
}

// summaryOrder is the order duty kinds appear in the per-slot log line.
var summaryOrder = []fsm.DutyKind{
	fsm.DutyAttestation, fsm.DutyProposal, fsm.DutyBlindedProposal, fsm.DutyAggregateAndProof,
	fsm.DutySyncCommitteeMessage, fsm.DutyContributionAndProof, fsm.DutyRandao, fsm.DutySelectionProof,
	fsm.DutySyncSelectionProof, fsm.DutyValidatorRegistration, fsm.DutyVoluntaryExit,
}

// Summary renders the report as one line a person can read:
// "slot 42: 8 attestations signed and published, 1 proposal signed and published; 1 sync_committee_message failed".
func (sr SlotReport) Summary() string {
	var ok, bad []string
	for _, k := range summaryOrder {
		c, found := sr.Duties[k.String()]
		if !found {
			continue
		}
		name := k.String()
		switch {
		case c.Published > 0 && c.Published == c.Signed:
			ok = append(ok, fmt.Sprintf("%d %s signed and published", c.Published, plural(name, c.Published)))
		case c.Signed > 0 && c.Published > 0:
			ok = append(ok, fmt.Sprintf("%d %s signed, %d published", c.Signed, plural(name, c.Signed), c.Published))
		case c.Signed > 0:
			ok = append(ok, fmt.Sprintf("%d %s signed", c.Signed, plural(name, c.Signed)))
		}
		if c.Failed > 0 {
			bad = append(bad, fmt.Sprintf("%d %s failed", c.Failed, plural(name, c.Failed)))
		}
		if c.Dropped > 0 {
			bad = append(bad, fmt.Sprintf("%d %s dropped (too late)", c.Dropped, plural(name, c.Dropped)))
		}
	}
	line := fmt.Sprintf("slot %d: ", sr.Slot)
	if len(ok) == 0 {
		line += "nothing signed"
	} else {
		line += strings.Join(ok, ", ")
	}
	if len(bad) > 0 {
		line += "; " + strings.Join(bad, ", ")
	}
	return line
}

func plural(name string, n int) string {
	if n == 1 {
		return name
	}
	return name + "s"
}
