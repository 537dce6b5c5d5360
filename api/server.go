package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// Response headers the server sets.
const (
	// HeaderLeader names the raft server ID of the leader that answered a leader-only request.
	HeaderLeader = "Phalanx-Leader"
	// HeaderForwarded marks a request a follower forwarded to the leader (its value is the follower's ID);
	// a forwarded request that reaches a non-leader is refused instead of forwarded again.
	HeaderForwarded = "Phalanx-Forwarded-By"
)

// Server is the operator-facing HTTP server of one node. New builds it and starts nothing; Run or Serve
// serve until their context ends.
type Server struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	engine  *gin.Engine
	metrics *metrics
	sigs    *sigCache

	proxiesMu sync.Mutex
	proxies   map[string]http.Handler // forwarding proxies by member base URL
	upstream  *upstreamProxy
}

// New validates cfg and deps and builds the server with its routes. It starts nothing.
func New(cfg Config, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Cluster == nil || deps.State == nil {
		return nil, fmt.Errorf("%w: Deps.Cluster and Deps.State are required", ErrInvalidConfig)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	s := &Server{
		cfg:     cfg,
		deps:    deps,
		log:     cfg.Logger,
		sigs:    newSigCache(sigCacheSize),
		proxies: make(map[string]http.Handler),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	s.upstream = newUpstreamProxy(cfg.UpstreamBeaconURLs, cfg.MaxBodyBytes)
	s.engine = s.buildEngine()
	return s, nil
}

// Handler returns the server's HTTP handler (for embedding and tests).
func (s *Server) Handler() http.Handler { return s.engine }

// Run listens on cfg.Listen and serves until ctx ends, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("api listen %s: %w", s.cfg.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, then stops accepting, lets in-flight requests finish for up to
// ShutdownTimeout and closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.engine,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errCh := make(chan error, 1)
	go func() { errCh <- srv.Serve(ln) }()
	s.log.Info("api listening", "address", ln.Addr().String())
	select {
	case err := <-errCh:
		return fmt.Errorf("api serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errCh; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("api shutdown: %w", err)
	}
	return nil
}

func (s *Server) buildEngine() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.ContextWithFallback = true
	e.UseRawPath = true
	e.Use(s.recoverer, s.observe)
	for _, r := range s.routes() {
		chain := []gin.HandlerFunc{s.limitBody(r.maxBody)}
		switch r.auth {
		case authAdmin:
			chain = append(chain, s.requireToken(s.cfg.AdminToken, "admin"))
		case authKeymanager:
			chain = append(chain, s.requireToken(s.cfg.KeymanagerToken, "keymanager"))
		}
		if r.leaderOnly {
			chain = append(chain, s.leaderOnly)
		}
		chain = append(chain, r.handler)
		e.Handle(r.method, r.path, chain...)
	}
	e.NoRoute(s.limitBody(bodyDefault), s.noRoute)
	return e
}

// noRoute passes the rest of the Beacon API through (from the leader) and answers 404 elsewhere.
func (s *Server) noRoute(c *gin.Context) {
	if strings.HasPrefix(c.Request.URL.Path, "/eth/") {
		s.leaderOnly(c)
		if c.IsAborted() {
			return
		}
		s.passThrough(c)
		return
	}
	fail(c, http.StatusNotFound, "no route %s %s", c.Request.Method, c.Request.URL.Path)
}

// errorBody is the error shape of the Beacon and Keymanager APIs: {"code": 400, "message": "..."}.
type errorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// fail aborts the request with status and a JSON error message.
func fail(c *gin.Context, status int, format string, args ...any) {
	c.AbortWithStatusJSON(status, errorBody{Code: status, Message: fmt.Sprintf(format, args...)})
}

func (s *Server) recoverer(c *gin.Context) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("api handler panicked", "method", c.Request.Method, "path", c.FullPath(), "panic", fmt.Sprint(p))
			if !c.Writer.Written() {
				fail(c, http.StatusInternalServerError, "internal error")
			}
		}
	}()
	c.Next()
}

// observe records the request metrics and logs one line per request.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
		if strings.HasPrefix(c.Request.URL.Path, "/eth/") {
			route = "beacon_passthrough"
		}
	}
	d := time.Since(start)
	s.metrics.observeRequest(c.Request.Method, route, c.Writer.Status(), d)
	s.log.Debug("api request", "method", c.Request.Method, "route", route, "status", c.Writer.Status(),
		"duration_ms", d.Milliseconds(), "remote", c.ClientIP(), "forwarded_by", c.Request.Header.Get(HeaderForwarded))
}

// Body limits per route.
const (
	bodyDefault = iota
	bodyUpload
)

func (s *Server) limitBody(kind int) gin.HandlerFunc {
	limit := s.cfg.MaxBodyBytes
	if kind == bodyUpload {
		limit = s.cfg.MaxUploadBytes
	}
	return func(c *gin.Context) {
		if c.Request.Body != nil {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		}
		c.Next()
	}
}

// requireToken checks "Authorization: Bearer <token>": 401 when missing, 403 when wrong (the Keymanager
// API's convention), 401 for every request when token is empty (the routes are disabled).
func (s *Server) requireToken(token, what string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if token == "" {
			s.metrics.authFailure(what)
			fail(c, http.StatusUnauthorized, "the %s API is disabled on this node (no token configured)", what)
			return
		}
		h := c.GetHeader("Authorization")
		got, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || got == "" {
			s.metrics.authFailure(what)
			fail(c, http.StatusUnauthorized, "missing bearer token: send Authorization: Bearer <%s token>", what)
			return
		}
		if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(token)) != 1 {
			s.metrics.authFailure(what)
			fail(c, http.StatusForbidden, "the %s token is not valid", what)
			return
		}
		c.Next()
	}
}
