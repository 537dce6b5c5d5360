package cluster

import (
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the cluster's Prometheus collectors. Build them with NewMetrics and pass them with
// WithMetrics; a node without metrics records nothing.
type Metrics struct {
	commitLatency   prometheus.Histogram
	signLatency     prometheus.Histogram
	shareLatency    *prometheus.HistogramVec
	badShares       *prometheus.CounterVec
	refusals        *prometheus.CounterVec
	groupSignatures prometheus.Counter
	incomplete      prometheus.Counter
	state           *prometheus.GaugeVec
	term            prometheus.GaugeFunc
	commitIndex     prometheus.GaugeFunc
	appliedIndex    prometheus.GaugeFunc
	node            *Node
}

// NewMetrics creates the collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	latencyBuckets := []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5}
	m := &Metrics{
		commitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "phalanx_raft_commit_seconds", Help: "Time from Propose to the entry being committed and applied.", Buckets: latencyBuckets,
		}),
		signLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "phalanx_duty_signature_seconds", Help: "Time from Propose to every approved item of a duty having a verified group signature.", Buckets: latencyBuckets,
		}),
		shareLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "phalanx_share_latency_seconds", Help: "Time from a duty's commit (on the leader) to a member's share arriving; negative arrivals (before commit) count as zero.", Buckets: latencyBuckets,
		}, []string{"peer"}),
		badShares: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phalanx_bad_shares_total", Help: "Signature shares that failed verification, by the member that sent them.",
		}, []string{"peer"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phalanx_share_refusals_total", Help: "Items this node declined to sign, by who refused (state machine or signed-by-me record).",
		}, []string{"by"}),
		groupSignatures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phalanx_group_signatures_total", Help: "Group signatures rebuilt and verified by this node while leading.",
		}),
		incomplete: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phalanx_duties_incomplete_total", Help: "Committed duties whose group signatures were not all rebuilt in time.",
		}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "phalanx_raft_state", Help: "1 for the raft state this node is in.",
		}, []string{"state"}),
	}
	m.term = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "phalanx_raft_term", Help: "Current raft term."},
		func() float64 { return m.read(func(r *raft.Raft) uint64 { return r.CurrentTerm() }) })
	m.commitIndex = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "phalanx_raft_commit_index", Help: "Raft commit index."},
		func() float64 { return m.read(func(r *raft.Raft) uint64 { return r.CommitIndex() }) })
	m.appliedIndex = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "phalanx_raft_applied_index", Help: "Raft applied index."},
		func() float64 { return m.read(func(r *raft.Raft) uint64 { return r.AppliedIndex() }) })
	reg.MustRegister(m.commitLatency, m.signLatency, m.shareLatency, m.badShares, m.refusals, m.groupSignatures,
		m.incomplete, m.state, m.term, m.commitIndex, m.appliedIndex)
	return m
}

func (m *Metrics) read(f func(*raft.Raft) uint64) float64 {
	if m == nil || m.node == nil {
		return 0
	}
	r := m.node.r()
	if r == nil {
		return 0
	}
	return float64(f(r))
}

// WithMetrics records the node's metrics on m.
func WithMetrics(m *Metrics) Option {
	return func(n *Node) {
		n.metrics = m
		m.node = n
	}
}

func (m *Metrics) observeCommit(d time.Duration) {
	if m != nil {
		m.commitLatency.Observe(d.Seconds())
	}
}

func (m *Metrics) observeSigned(d time.Duration, o *Outcome) {
	if m == nil || o == nil {
		return
	}
	m.signLatency.Observe(d.Seconds())
	n := 0
	for _, s := range o.Signatures {
		if s != nil {
			n++
		}
	}
	m.groupSignatures.Add(float64(n))
}

func (m *Metrics) incIncomplete() {
	if m != nil {
		m.incomplete.Inc()
	}
}

func (m *Metrics) observeShare(peer string, d time.Duration) {
	if m != nil {
		if d < 0 {
			d = 0
		}
		m.shareLatency.WithLabelValues(peer).Observe(d.Seconds())
	}
}

func (m *Metrics) badShare(peer string) {
	if m != nil {
		m.badShares.WithLabelValues(peer).Inc()
	}
}

func (m *Metrics) refused(by string) {
	if m != nil {
		m.refusals.WithLabelValues(by).Inc()
	}
}

func (m *Metrics) setState(s raft.RaftState) {
	if m == nil {
		return
	}
	for _, st := range []raft.RaftState{raft.Follower, raft.Candidate, raft.Leader, raft.Shutdown} {
		v := 0.0
		if st == s {
			v = 1
		}
		m.state.WithLabelValues(st.String()).Set(v)
	}
}
