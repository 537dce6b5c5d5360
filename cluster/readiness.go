package cluster

import (
	"encoding/binary"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/phalanx-eth/phalanx/cluster/transport"
)

// ExtReadiness travels follower → leader on AppendEntries responses (heartbeats included): whether the member
// could run duties if it led, and if not, why. The leader uses it to hand leadership to a member that can.
const ExtReadiness uint16 = 3

const (
	// readinessResend is how often a member repeats an unchanged readiness report, so that a new leader
	// learns every member's state within a few heartbeats.
	readinessResend = 500 * time.Millisecond
	// ReadinessFresh is how old a member's report may be and still count: a member the leader has not heard
	// from recently is not a handover target.
	ReadinessFresh = 2 * time.Second
)

// Readiness is a member's own view of whether it could run duties: its beacon node is usable and it can
// sign.
type Readiness struct {
	Ready  bool
	Reason string // why not, when !Ready
}

// Marshal encodes the report: version, flags (bit 0: ready), reason length, reason.
func (r *Readiness) Marshal() []byte {
	reason := r.Reason
	if len(reason) > maxReasonLen {
		reason = reason[:maxReasonLen]
	}
	b := make([]byte, 0, 4+len(reason))
	b = append(b, extVersion)
	var flags byte
	if r.Ready {
		flags = 1
	}
	b = append(b, flags)
	b = binary.BigEndian.AppendUint16(b, uint16(len(reason)))
	return append(b, reason...)
}

// UnmarshalReadiness decodes an ExtReadiness body.
func UnmarshalReadiness(b []byte) (*Readiness, error) {
	r := reader{b: b}
	if v := r.u8(); r.err == nil && v != extVersion {
		return nil, extErr("readiness: unknown version %d", v)
	}
	flags := r.u8()
	l := int(r.u16())
	if r.err != nil {
		return nil, extErr("readiness: %v", r.err)
	}
	if flags&^1 != 0 {
		return nil, extErr("readiness: unknown flags %#x", flags)
	}
	if l > maxReasonLen {
		return nil, extErr("readiness: reason of %d bytes exceeds %d", l, maxReasonLen)
	}
	out := &Readiness{Ready: flags&1 == 1, Reason: string(r.bytes(l))}
	if r.err != nil {
		return nil, extErr("readiness: %v", r.err)
	}
	if r.remaining() != 0 {
		return nil, extErr("readiness: %d trailing bytes", r.remaining())
	}
	if out.Ready && out.Reason != "" {
		return nil, extErr("readiness: a ready member gives no reason")
	}
	return out, nil
}

// MemberReadiness is one member's last readiness report as this node has it.
type MemberReadiness struct {
	ID       string    `json:"id"`
	Ready    bool      `json:"ready"`
	Reason   string    `json:"reason,omitempty"`
	Reported time.Time `json:"reported"`
}

// readiness holds this node's own report and, on the leader, the members' reports.
type readiness struct {
	mu      sync.Mutex
	set     bool
	self    Readiness
	gen     uint64
	members map[string]MemberReadiness

	sentGen atomic.Uint64
	sentAt  atomic.Int64 // unix nanoseconds
}

// SetReadiness records whether this node could run duties if it led (its beacon node is usable), and why not.
// The node reports it to the leader on every AppendEntries response for a while after a change and every
// half second after that; a node that never calls it reports nothing. A node whose signing is disabled always
// reports itself not ready.
func (n *Node) SetReadiness(ready bool, reason string) {
	if ready {
		reason = ""
	}
	rd := &n.ready
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if rd.set && rd.self.Ready == ready && rd.self.Reason == reason {
		return
	}
	if !rd.set || rd.self.Ready != ready {
		if ready {
			n.log.Info("this member is ready to lead again")
		} else {
			n.log.Warn("this member is not ready to lead", "reason", reason)
		}
	}
	rd.set, rd.self = true, Readiness{Ready: ready, Reason: reason}
	rd.gen++
}

// selfReadiness returns this node's report, with signing failures folded in; ok is false when nothing was set.
func (n *Node) selfReadiness() (r Readiness, gen uint64, ok bool) {
	rd := &n.ready
	rd.mu.Lock()
	r, gen, ok = rd.self, rd.gen, rd.set
	rd.mu.Unlock()
	if err := n.SigningError(); err != nil && ok {
		r = Readiness{Reason: err.Error()}
		gen |= 1 << 63
	}
	return r, gen, ok
}

// Readiness returns every member's last report as this node knows it, this node's own included (reported
// now). Only the leader receives the others' reports; a follower's view of them is stale or empty.
func (n *Node) Readiness() []MemberReadiness {
	var out []MemberReadiness
	if r, _, ok := n.selfReadiness(); ok {
		out = append(out, MemberReadiness{ID: n.cfg.ID, Ready: r.Ready, Reason: r.Reason, Reported: time.Now()})
	}
	n.ready.mu.Lock()
	for id, m := range n.ready.members {
		if id != n.cfg.ID {
			out = append(out, m)
		}
	}
	n.ready.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// ReadyVoters returns the voting members other than this node whose latest report, received within
// ReadinessFresh, says they are ready, in ID order. The leader hands over to one of them.
func (n *Node) ReadyVoters() []string {
	r := n.r()
	if r == nil {
		return nil
	}
	cf := r.GetConfiguration()
	if cf.Error() != nil {
		return nil
	}
	now := time.Now()
	var out []string
	n.ready.mu.Lock()
	defer n.ready.mu.Unlock()
	for _, s := range cf.Configuration().Servers {
		id := string(s.ID)
		if s.Suffrage != raft.Voter || id == n.cfg.ID {
			continue
		}
		if m, ok := n.ready.members[id]; ok && m.Ready && now.Sub(m.Reported) <= ReadinessFresh {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// readinessExtension returns this node's report for an AppendEntries response when it changed since the last
// one sent or readinessResend has passed; nil otherwise.
func (n *Node) readinessExtension() *transport.Extension {
	r, gen, ok := n.selfReadiness()
	if !ok {
		return nil
	}
	now := time.Now().UnixNano()
	rd := &n.ready
	if rd.sentGen.Load() == gen && now-rd.sentAt.Load() < int64(readinessResend) {
		return nil
	}
	rd.sentGen.Store(gen)
	rd.sentAt.Store(now)
	return &transport.Extension{Type: ExtReadiness, Data: r.Marshal()}
}

// recordReadiness stores a member's report on the leader.
func (n *Node) recordReadiness(from string, r *Readiness) {
	rd := &n.ready
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if rd.members == nil {
		rd.members = make(map[string]MemberReadiness)
	}
	prev, had := rd.members[from]
	if had && prev.Ready != r.Ready {
		n.log.Info("member readiness changed", "member", from, "ready", r.Ready, "reason", r.Reason)
	}
	rd.members[from] = MemberReadiness{ID: from, Ready: r.Ready, Reason: r.Reason, Reported: time.Now()}
}
