package node

import (
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the node's Prometheus collectors: duties by kind and outcome, and beacon-node call latency.
type Metrics struct {
	duties      *prometheus.CounterVec
	beaconCalls *prometheus.HistogramVec
	handovers   prometheus.Counter
	ready       prometheus.Gauge
}

// NewMetrics creates the collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		duties: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phalanx_duties_total",
			Help: "Validator duty items by kind and outcome (signed, verified, published, failed, dropped), counted by the leader's scheduler.",
		}, []string{"duty", "outcome"}),
		beaconCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "phalanx_beacon_call_seconds",
			Help:    "Beacon-node API call latency by call and result (ok or error), across fallbacks.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"call", "result"}),
	}
	m.handovers = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "phalanx_leader_handovers_total",
		Help: "Leadership handed to another voter because this node's beacon node was unusable.",
	})
	m.ready = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "phalanx_ready",
		Help: "1 while this node could run duties if it led (its beacon node is usable), 0 otherwise.",
	})
	reg.MustRegister(m.duties, m.beaconCalls, m.handovers, m.ready)
	return m
}

// setReady records this node's readiness to lead.
func (m *Metrics) setReady(ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.ready.Set(1)
	} else {
		m.ready.Set(0)
	}
}

// handover counts one leadership handover.
func (m *Metrics) handover() {
	if m != nil {
		m.handovers.Inc()
	}
}

// countDelta adds what f changed in dc to the duty counters.
func (m *Metrics) countDelta(duty string, before, after DutyCounts) {
	if m == nil {
		return
	}
	add := func(outcome string, d int) {
		if d > 0 {
			m.duties.WithLabelValues(duty, outcome).Add(float64(d))
		}
	}
	add("signed", after.Signed-before.Signed)
	add("verified", after.Verified-before.Verified)
	add("published", after.Published-before.Published)
	add("failed", after.Failed-before.Failed)
	add("dropped", after.Dropped-before.Dropped)
}

// observeCall records one beacon call; the call's name is the Fallback method that made it.
func (m *Metrics) observeCall(start time.Time, err error) {
	if m == nil {
		return
	}
	name := "unknown"
	pcs := make([]uintptr, 16)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	for {
		fr, more := frames.Next()
		if i := strings.Index(fr.Function, "(*Fallback)."); i >= 0 {
			name = fr.Function[i+len("(*Fallback)."):]
			break
		}
		if !more {
			break
		}
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.beaconCalls.WithLabelValues(name, result).Observe(time.Since(start).Seconds())
}
