package api

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/phalanx-eth/phalanx/cluster"
	"github.com/phalanx-eth/phalanx/fsm"
	"github.com/phalanx-eth/phalanx/fsm/slashing"
)

// handleUpcheck is Web3Signer's liveness probe.
func (s *Server) handleUpcheck(c *gin.Context) {
	c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte("OK"))
}

// handlePublicKeys lists the group public keys of the cluster's validators (Web3Signer's publicKeys).
func (s *Server) handlePublicKeys(c *gin.Context) {
	vals := s.deps.State.Validators()
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = hex0x(v.Pubkey[:])
	}
	c.JSON(http.StatusOK, out)
}

func hex0x(b []byte) string { return "0x" + hex.EncodeToString(b) }

// signResponse is Web3Signer's JSON answer.
type signResponse struct {
	Signature string `json:"signature"`
}

// handleSign turns a Web3Signer signing request into one duty entry, proposes it through the log and answers
// with the recombined group signature. Identical requests get the identical (cached) signature; a request the
// slashing rules deny gets 412 with the reason.
func (s *Server) handleSign(c *gin.Context) {
	start := time.Now()
	typ := "unknown"
	outcome := "rejected"
	defer func() { s.metrics.signed(typ, outcome) }()

	pk, err := ParsePubkey(c.Param("identifier"))
	if err != nil {
		fail(c, http.StatusBadRequest, "%v", err)
		return
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		fail(c, http.StatusRequestEntityTooLarge, "read request body: %v", err)
		return
	}
	req, err := DecodeSignRequest(body)
	if err != nil {
		fail(c, http.StatusBadRequest, "%v", err)
		return
	}
	typ = req.Type
	info, ok := s.deps.State.Validator(pk)
	if !ok {
		outcome = "unknown_key"
		fail(c, http.StatusNotFound, "public key %s is not a validator of this cluster", hex0x(pk[:]))
		return
	}
	cfg, ok := s.deps.State.ChainConfig()
	spec, ok2 := s.deps.State.Spec()
	if !ok || !ok2 {
		outcome = "error"
		fail(c, http.StatusServiceUnavailable, "the cluster is not bound to a chain yet")
		return
	}
	if req.ForkInfo != nil && req.Type != TypeValidatorRegistration &&
		!bytes.Equal(req.ForkInfo.GenesisValidatorsRoot, cfg.GenesisValidatorsRoot[:]) {
		fail(c, http.StatusBadRequest, "fork_info.genesis_validators_root %s is not the cluster's chain (%s)",
			hex0x(req.ForkInfo.GenesisValidatorsRoot), hex0x(cfg.GenesisValidatorsRoot[:]))
		return
	}
	duty, err := req.Duty(info, spec)
	if err != nil {
		fail(c, http.StatusBadRequest, "%v", err)
		return
	}
	data, err := fsm.Encode(duty)
	if err != nil {
		fail(c, http.StatusBadRequest, "%v: encode duty: %v", ErrBadSignRequest, err)
		return
	}
	pre := s.deps.State.Check(data)
	if pre.Status != fsm.StatusApplied || len(pre.Items) != 1 {
		fail(c, http.StatusBadRequest, "%v: %s", ErrBadSignRequest, pre.Reason)
		return
	}
	root := pre.Items[0].SigningRoot
	if want, ok := req.expectedRoot(); ok && want != root {
		fail(c, http.StatusBadRequest, "signingRoot %s differs from the root the cluster computes for this message (%s)", hex0x(want[:]), hex0x(root[:]))
		return
	}
	if sig, ok := s.sigs.get(pk, root); ok {
		outcome = "cached"
		s.writeSignature(c, sig)
		return
	}
	if v := pre.Items[0].Verdict; !v.Approved {
		outcome = verdictOutcome(v)
		fail(c, verdictStatus(v), "%s", verdictMessage(v))
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.SignTimeout)
	defer cancel()
	out, err := s.deps.Cluster.Propose(ctx, duty)
	if err != nil {
		outcome = "error"
		switch {
		case errors.Is(err, cluster.ErrNotLeader):
			fail(c, http.StatusServiceUnavailable, "leadership changed while signing; retry (an identical request is safe): %v", err)
		case errors.Is(err, cluster.ErrSigningDisabled):
			fail(c, http.StatusServiceUnavailable, "%v", err)
		case errors.Is(err, cluster.ErrIncomplete), errors.Is(err, context.DeadlineExceeded):
			fail(c, http.StatusServiceUnavailable, "the group signature was not complete in time; retry (an identical request is safe): %v", err)
		default:
			s.log.Error("sign request failed", "type", typ, "err", err)
			fail(c, http.StatusInternalServerError, "sign: %v", err)
		}
		return
	}
	res := out.Result
	if res == nil || res.Status != fsm.StatusApplied || len(res.Items) != 1 {
		reason := "no result"
		if res != nil {
			reason = res.Reason
		}
		fail(c, http.StatusBadRequest, "%v: %s", ErrBadSignRequest, reason)
		return
	}
	if v := res.Items[0].Verdict; !v.Approved {
		outcome = verdictOutcome(v)
		fail(c, verdictStatus(v), "%s", verdictMessage(v))
		return
	}
	if len(out.Signatures) != 1 || out.Signatures[0] == nil {
		outcome = "error"
		fail(c, http.StatusServiceUnavailable, "the group signature was not rebuilt (log index %d); retry", out.Index)
		return
	}
	sig := out.Signatures[0].Bytes()
	s.sigs.put(pk, res.Items[0].SigningRoot, sig)
	outcome = "signed"
	s.metrics.signTime.Observe(time.Since(start).Seconds())
	s.log.Debug("signed", "type", typ, "log_index", out.Index, "slot", duty.Slot, "validator_index", info.ValidatorIndex)
	s.writeSignature(c, sig)
}

// writeSignature answers as Web3Signer does: JSON when the client accepts JSON, text otherwise.
func (s *Server) writeSignature(c *gin.Context, sig []byte) {
	h := hex0x(sig)
	if strings.Contains(c.GetHeader("Accept"), "application/json") {
		c.JSON(http.StatusOK, signResponse{Signature: h})
		return
	}
	c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(h))
}

// verdictStatus maps a denied verdict to an HTTP status: 412 for the slashing rules (what Web3Signer answers),
// 404 for an unknown validator, 400 for a wrong validator index, 503 while halted or unbound.
func verdictStatus(v slashing.Verdict) int {
	switch v.Reason {
	case fsm.ReasonUnknownValidator:
		return http.StatusNotFound
	case fsm.ReasonIndexMismatch:
		return http.StatusBadRequest
	case fsm.ReasonHalted, fsm.ReasonNoChainConfig:
		return http.StatusServiceUnavailable
	}
	return http.StatusPreconditionFailed
}

func verdictOutcome(v slashing.Verdict) string {
	if verdictStatus(v) == http.StatusPreconditionFailed {
		return "slashable"
	}
	return "rejected"
}

func verdictMessage(v slashing.Verdict) string {
	msg := "signing refused: " + fsm.ReasonName(v.Reason)
	if v.Detail != "" {
		msg += ": " + v.Detail
	}
	return msg
}

// sigCacheSize bounds the signature cache.
const sigCacheSize = 8192

type sigKey struct {
	pk   [48]byte
	root [32]byte
}

// sigCache remembers recent group signatures by (public key, signing root), so an identical request is
// answered with the identical signature without another log entry. BLS signatures are deterministic, so the
// cache never releases anything the cluster did not already release.
type sigCache struct {
	mu    sync.Mutex
	max   int
	m     map[sigKey][]byte
	order []sigKey
}

func newSigCache(max int) *sigCache { return &sigCache{max: max, m: make(map[sigKey][]byte)} }

func (c *sigCache) get(pk [48]byte, root [32]byte) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[sigKey{pk, root}]
	return s, ok
}

func (c *sigCache) put(pk [48]byte, root [32]byte, sig []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := sigKey{pk, root}
	if _, ok := c.m[k]; ok {
		return
	}
	if len(c.order) >= c.max {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
	c.m[k] = sig
	c.order = append(c.order, k)
}
