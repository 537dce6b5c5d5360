package api

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"
)

// leaderOnly lets the request through on the leader (naming itself in the Phalanx-Leader header) and, on a
// follower, forwards it to the leader's API with a reverse proxy.
func (s *Server) leaderOnly(c *gin.Context) {
	cl := s.deps.Cluster
	if cl.IsLeader() {
		c.Header(HeaderLeader, cl.ID())
		c.Next()
		return
	}
	lid, _ := cl.Leader()
	if lid == "" {
		fail(c, http.StatusServiceUnavailable, "no cluster leader is known to %s; retry shortly", cl.ID())
		return
	}
	if by := c.GetHeader(HeaderForwarded); by != "" {
		fail(c, http.StatusServiceUnavailable, "request forwarded by %s reached %s, which no longer leads (leader is %s); retry", by, cl.ID(), lid)
		return
	}
	base := s.cfg.MemberAPIs[lid]
	if base == "" {
		fail(c, http.StatusServiceUnavailable, "the leader is %s but this node has no API address for it (MemberAPIs); send the request to the leader", lid)
		return
	}
	s.metrics.forwarded.Inc()
	c.Request.Header.Set(HeaderForwarded, cl.ID())
	c.Header(HeaderLeader, lid)
	s.forwardProxy(base, lid).ServeHTTP(c.Writer, c.Request)
	c.Abort()
}

func (s *Server) forwardProxy(base, leaderID string) http.Handler {
	s.proxiesMu.Lock()
	defer s.proxiesMu.Unlock()
	if p, ok := s.proxies[base]; ok {
		return p
	}
	target, _ := url.Parse(base) // validated by Config.Validate
	p := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
			r.SetXForwarded()
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Warn("forward to leader failed", "leader", leaderID, "err", err)
			writeJSONError(w, http.StatusBadGateway, "forwarding to the leader "+leaderID+" failed: "+err.Error())
		},
	}
	s.proxies[base] = p
	return p
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := jsonMarshal(errorBody{Code: status, Message: msg})
	_, _ = w.Write(b)
}

// upstreamProxy passes Beacon API requests through to the upstream beacon nodes, trying the next one when a
// connection fails before any response.
type upstreamProxy struct {
	targets []*url.URL
	proxies []*httputil.ReverseProxy
	maxBody int64
}

// errUpstream marks a round trip that failed before any byte of the response was written.
var errUpstream = errors.New("upstream beacon node unreachable")

type upstreamFailure struct{ err error }

func newUpstreamProxy(urls []string, maxBody int64) *upstreamProxy {
	u := &upstreamProxy{maxBody: maxBody}
	for _, raw := range urls {
		target, err := url.Parse(raw)
		if err != nil {
			continue // Config.Validate rejects these
		}
		u.targets = append(u.targets, target)
		u.proxies = append(u.proxies, &httputil.ReverseProxy{
			Rewrite: func(r *httputil.ProxyRequest) {
				r.SetURL(target)
				r.Out.Host = target.Host
				r.Out.Header.Del(HeaderForwarded)
				r.Out.Header.Del("Authorization")
			},
			ErrorHandler: func(_ http.ResponseWriter, r *http.Request, err error) {
				if f, ok := r.Context().Value(upstreamFailureKey{}).(*upstreamFailure); ok {
					f.err = err
				}
			},
		})
	}
	return u
}

type upstreamFailureKey struct{}

// passThrough serves the request from the first upstream beacon node that answers.
func (s *Server) passThrough(c *gin.Context) {
	u := s.upstream
	if len(u.proxies) == 0 {
		fail(c, http.StatusServiceUnavailable, "%s is not answered by the cluster and no upstream beacon node is configured", c.Request.URL.Path)
		return
	}
	var body []byte
	if c.Request.Body != nil && c.Request.Body != http.NoBody {
		b, err := io.ReadAll(c.Request.Body)
		if err != nil {
			fail(c, http.StatusRequestEntityTooLarge, "read request body: %v", err)
			return
		}
		body = b
	}
	var errs []string
	for i, p := range u.proxies {
		f := &upstreamFailure{}
		r := c.Request.Clone(contextWith(c.Request.Context(), upstreamFailureKey{}, f))
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
		}
		p.ServeHTTP(c.Writer, r)
		if f.err == nil {
			s.metrics.upstream.WithLabelValues("ok").Inc()
			c.Abort()
			return
		}
		s.metrics.upstream.WithLabelValues("error").Inc()
		errs = append(errs, u.targets[i].Host+": "+f.err.Error())
	}
	fail(c, http.StatusBadGateway, "%v: %s", errUpstream, strings.Join(errs, "; "))
}
