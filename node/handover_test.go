package node

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// gauge returns the value of the unlabelled gauge or counter name in reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) != 1 {
			continue
		}
		m := mf.GetMetric()[0]
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// cutProxy stands between one node and the devnet; cut makes the beacon node unreachable for that node alone
// (open connections, the event stream included, are dropped; new ones are closed unanswered).
type cutProxy struct {
	srv *httptest.Server
	cut atomic.Bool
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1 // server-sent events pass through as they come
	p := &cutProxy{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.cut.Load() {
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *cutProxy) set(cut bool) {
	p.cut.Store(cut)
	if cut {
		p.srv.CloseClientConnections()
	}
}

// TestLeaderHandsOverWhenItsBeaconFails: each node reaches the devnet through its own proxy. Cutting the
// leader's link makes the leader hand leadership to a member whose beacon node works, and the cluster's
// attestations continue within a few slots. With every link cut, nobody can sign: the leader keeps leadership
// rather than passing it around, and signing resumes when the links heal.
func TestLeaderHandsOverWhenItsBeaconFails(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped with -short")
	}
	proxies := make([]*cutProxy, 3)
	regs := make([]*prometheus.Registry, 3)
	r := startE2E(t, func(i int, u string) string {
		proxies[i] = newCutProxy(t, u)
		return proxies[i].srv.URL
	}, func(i int, c *Config) {
		regs[i] = prometheus.NewRegistry()
		c.Registry = regs[i]
	})
	index := func(m *e2eMember) int {
		for i, x := range r.members {
			if x == m {
				return i
			}
		}
		return -1
	}

	r.waitSlot(10)
	old := r.leader()
	if old == nil {
		t.Fatal("no node runs duties by slot 10")
	}
	const cutAt = 12
	r.waitSlot(cutAt)
	t.Logf("cutting %s (leader) from its beacon node at slot %d", old.cfg.ID, cutAt)
	proxies[index(old)].set(true)

	var handedAt time.Time
	eventually(t, "leadership to move to a member with a working beacon node", func() bool {
		l := r.leader()
		if l != nil && l != old {
			handedAt = time.Now()
			return true
		}
		return false
	})
	slot, _ := r.sc.SlotAt(handedAt)
	newLeader := r.leader()
	t.Logf("%s runs duties from slot %d (%.2f s after the cut)", newLeader.cfg.ID, slot,
		handedAt.Sub(r.sc.SlotStart(cutAt)).Seconds())
	// The new leader knows why: the old leader reports itself not ready.
	eventually(t, "the old leader reported not ready", func() bool {
		st, err := newLeader.node.Cluster().Status()
		if err != nil {
			return false
		}
		for _, m := range st.Members {
			if m.ID == old.cfg.ID {
				return strings.HasPrefix(m.Readiness, "not ready: beacon node not usable")
			}
		}
		return false
	})

	oi := index(old)
	eventually(t, old.cfg.ID+" to count its handover", func() bool {
		return gauge(t, regs[oi], "phalanx_leader_handovers_total") == 1
	})
	if got := gauge(t, regs[oi], "phalanx_ready"); got != 0 {
		t.Errorf("%s reports phalanx_ready %v while cut off, want 0", old.cfg.ID, got)
	}

	// Every link cut: the leader stays (the term does not move) and signs nothing.
	const allCutAt, healAt = 22, 28
	r.waitSlot(allCutAt)
	for _, p := range proxies {
		p.set(true)
	}
	r.waitSlot(allCutAt + 1)
	before, _ := newLeader.node.Cluster().Status()
	r.waitSlot(healAt)
	after, _ := newLeader.node.Cluster().Status()
	if after.Term != before.Term || after.LeaderID != before.LeaderID {
		t.Errorf("with every beacon node unusable, leadership moved: %s term %d → %s term %d",
			before.LeaderID, before.Term, after.LeaderID, after.Term)
	}
	for _, p := range proxies {
		p.set(false)
	}
	r.waitSlot(healAt + 10)

	st := r.dn.Stats()
	missed := map[uint64]int{}
	for _, s := range st.Slots {
		if s.Slot < 10 || s.Slot+3 > st.Slot {
			continue
		}
		if m := s.ClusterAttesters - s.ClusterAttestationsReceived; m > 0 {
			missed[s.Slot] = m
		}
	}
	t.Logf("cluster attestations missed by slot: %v", missed)
	for slot, m := range missed {
		switch {
		case slot >= cutAt && slot < cutAt+3:
			// The handover: the old leader's duties of these slots may be lost.
		case slot >= allCutAt && slot < healAt+2:
			// No beacon node at all.
		default:
			t.Errorf("slot %d: %d cluster attestations missed outside the fault windows", slot, m)
		}
	}
	for _, rej := range st.Rejections {
		if rej.Kind != "block" {
			t.Errorf("devnet rejected a submission: %+v", rej)
		}
	}
}
