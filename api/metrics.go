package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the API's Prometheus collectors.
type metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	signing   *prometheus.CounterVec
	signTime  prometheus.Histogram
	forwarded prometheus.Counter
	upstream  *prometheus.CounterVec
	auth      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phalanx_api_requests_total", Help: "HTTP requests served, by method, route and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "phalanx_api_request_duration_seconds", Help: "HTTP request duration by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route"}),
		signing: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phalanx_api_sign_requests_total", Help: "Remote-signer requests by artifact type and outcome (signed, cached, slashable, rejected, unknown_key, error).",
		}, []string{"type", "outcome"}),
		signTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "phalanx_api_sign_seconds", Help: "Time from a signing request's arrival to its group signature, for requests the cluster signed.",
			Buckets: []float64{.001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5},
		}),
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phalanx_api_forwarded_total", Help: "Requests this node forwarded to the leader.",
		}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phalanx_api_upstream_requests_total", Help: "Beacon API requests passed through to an upstream beacon node, by result.",
		}, []string{"result"}),
		auth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phalanx_api_auth_failures_total", Help: "Requests refused for a missing or wrong token, by API.",
		}, []string{"api"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.signing, m.signTime, m.forwarded, m.upstream, m.auth} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("register api metrics: %w (one Server per registry)", err)
			}
			return nil, fmt.Errorf("register api metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) observeRequest(method, route string, code int, d time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) authFailure(api string) { m.auth.WithLabelValues(api).Inc() }

func (m *metrics) signed(typ, outcome string) { m.signing.WithLabelValues(typ, outcome).Inc() }

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func contextWith(ctx context.Context, k, v any) context.Context { return context.WithValue(ctx, k, v) }
