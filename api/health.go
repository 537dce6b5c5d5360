package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// handleHealthz answers 200 while the process serves requests.
func (s *Server) handleHealthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// ready reports why this node cannot take part in signing, or nil: it must know a leader, the cluster must
// be bound to a chain and not halted, and its signed-by-me record must work.
func (s *Server) ready() error {
	if id, _ := s.deps.Cluster.Leader(); id == "" {
		return errors.New("no cluster leader is known")
	}
	if _, ok := s.deps.State.ChainConfig(); !ok {
		return errors.New("the cluster is not bound to a chain (no chain config)")
	}
	if err := s.deps.Cluster.SigningError(); err != nil {
		return fmt.Errorf("signing disabled: %w", err)
	}
	if halted, why := s.deps.State.Halted(); halted {
		return fmt.Errorf("the cluster is halted: %s", why)
	}
	return nil
}

// handleReadyz answers 200 when ready() holds, 503 with the reason otherwise.
func (s *Server) handleReadyz(c *gin.Context) {
	if err := s.ready(); err != nil {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "not ready", "reason": err.Error()})
		return
	}
	lid, _ := s.deps.Cluster.Leader()
	c.JSON(http.StatusOK, gin.H{"status": "ready", "leader": lid})
}

func (s *Server) metricsHandler() gin.HandlerFunc {
	h := promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{Registry: s.cfg.Registry})
	return gin.WrapH(h)
}
