package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/phalanx-eth/phalanx/cluster"
	"github.com/phalanx-eth/phalanx/fsm"
)

// The Keymanager API subset: the cluster's keys are registered through the log from the cluster lock file,
// never imported as keystores here, so the routes list keys, import EIP-3076 slashing protection (POST with
// only slashing_protection) and, on DELETE, hand out the protection of keys that are no longer active.

type keymanagerKey struct {
	ValidatingPubkey string `json:"validating_pubkey"`
	DerivationPath   string `json:"derivation_path,omitempty"`
	Readonly         bool   `json:"readonly"`
}

// handleListKeystores answers GET /eth/v1/keystores. Every key is read-only: it leaves the cluster only
// through its registry.
func (s *Server) handleListKeystores(c *gin.Context) {
	vals := s.deps.State.Validators()
	out := make([]keymanagerKey, len(vals))
	for i, v := range vals {
		out[i] = keymanagerKey{ValidatingPubkey: hex0x(v.Pubkey[:]), Readonly: true}
	}
	c.JSON(http.StatusOK, dataResponse{Data: out})
}

type importKeystoresRequest struct {
	Keystores          []json.RawMessage `json:"keystores"`
	Passwords          []string          `json:"passwords"`
	SlashingProtection *string           `json:"slashing_protection"`
}

type keystoreStatus struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// kmFail answers with the Keymanager API's error shape.
func kmFail(c *gin.Context, status int, format string, args ...any) {
	c.AbortWithStatusJSON(status, gin.H{"message": fmt.Sprintf(format, args...)})
}

// handleImportKeystores answers POST /eth/v1/keystores. Keystores are refused one by one (status error);
// slashing_protection, sent alone, is imported through the log as a SlashingImport entry.
func (s *Server) handleImportKeystores(c *gin.Context) {
	var req importKeystoresRequest
	dec := json.NewDecoder(c.Request.Body)
	if err := dec.Decode(&req); err != nil {
		kmFail(c, http.StatusBadRequest, "malformed JSON body: %v", err)
		return
	}
	if req.Keystores == nil || req.Passwords == nil {
		kmFail(c, http.StatusBadRequest, "keystores and passwords are required (send empty lists to import slashing protection only)")
		return
	}
	if len(req.Keystores) != len(req.Passwords) {
		kmFail(c, http.StatusBadRequest, "%d keystores but %d passwords", len(req.Keystores), len(req.Passwords))
		return
	}
	if len(req.Keystores) > 0 {
		out := make([]keystoreStatus, len(req.Keystores))
		for i := range out {
			out[i] = keystoreStatus{Status: "error", Message: "a phalanx cluster does not import whole keys: split the keystore with `phalanx keys split` and register the shares in the cluster lock file; slashing protection was not imported either, send it alone"}
		}
		c.JSON(http.StatusOK, dataResponse{Data: out})
		return
	}
	if req.SlashingProtection == nil || *req.SlashingProtection == "" {
		c.JSON(http.StatusOK, dataResponse{Data: []keystoreStatus{}})
		return
	}
	if _, err := s.importInterchange(c.Request.Context(), []byte(*req.SlashingProtection)); err != nil {
		kmFail(c, importStatus(err), "%v", err)
		return
	}
	c.JSON(http.StatusOK, dataResponse{Data: []keystoreStatus{}})
}

type deleteKeysRequest struct {
	Pubkeys []string `json:"pubkeys"`
}

// handleDeleteKeystores answers DELETE /eth/v1/keystores. Registered keys cannot be deleted here (status
// error: they are removed from the cluster registry instead); keys with slashing-protection history but no
// registration are not_active and their history is returned; others are not_found.
func (s *Server) handleDeleteKeystores(c *gin.Context) {
	var req deleteKeysRequest
	if err := json.NewDecoder(c.Request.Body).Decode(&req); err != nil || req.Pubkeys == nil {
		kmFail(c, http.StatusBadRequest, "body must be {\"pubkeys\": [...]}")
		return
	}
	out := make([]keystoreStatus, len(req.Pubkeys))
	var inactive [][48]byte
	for i, p := range req.Pubkeys {
		pk, err := ParsePubkey(p)
		if err != nil {
			kmFail(c, http.StatusBadRequest, "pubkeys[%d]: %v", i, err)
			return
		}
		if _, ok := s.deps.State.Validator(pk); ok {
			out[i] = keystoreStatus{Status: "error", Message: "the key is registered in the cluster; remove it from the cluster registry, not through the Keymanager API"}
			continue
		}
		out[i] = keystoreStatus{Status: "not_found"}
		inactive = append(inactive, pk)
	}
	protection := ""
	if len(inactive) > 0 {
		b, err := s.deps.State.ExportInterchange(inactive, false)
		if err != nil {
			kmFail(c, http.StatusInternalServerError, "%v", err)
			return
		}
		var ic struct {
			Data []struct {
				Pubkey string `json:"pubkey"`
			} `json:"data"`
		}
		if err := json.Unmarshal(b, &ic); err == nil {
			with := make(map[string]bool)
			for _, d := range ic.Data {
				with[d.Pubkey] = true
			}
			for i, p := range req.Pubkeys {
				if out[i].Status == "not_found" && with[normalizeHex(p)] {
					out[i].Status = "not_active"
				}
			}
		}
		protection = string(b)
	} else if b, err := s.deps.State.ExportInterchange([][48]byte{}, false); err == nil {
		var ic map[string]json.RawMessage
		if json.Unmarshal(b, &ic) == nil {
			ic["data"] = json.RawMessage("[]")
			nb, _ := json.Marshal(ic)
			protection = string(nb)
		}
	}
	c.JSON(http.StatusOK, gin.H{"data": out, "slashing_protection": protection})
}

func normalizeHex(s string) string {
	b, err := decodeHex(s)
	if err != nil {
		return s
	}
	return hex0x(b)
}

// errImportRejected wraps the state machine's reason for refusing an interchange.
var errImportRejected = errors.New("slashing-protection import refused")

// importInterchange proposes an EIP-3076 interchange as one SlashingImport entry. A document the state
// machine rejects (corrupt, another chain) is refused before it reaches the log, so nothing changes.
func (s *Server) importInterchange(ctx context.Context, doc []byte) (uint64, error) {
	if len(doc) > fsm.MaxInterchangeBytes {
		return 0, fmt.Errorf("%w: interchange is %d bytes; the limit is %d", errImportRejected, len(doc), fsm.MaxInterchangeBytes)
	}
	if !json.Valid(doc) {
		return 0, fmt.Errorf("%w: the interchange is not valid JSON", errImportRejected)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.SignTimeout)
	defer cancel()
	out, err := s.deps.Cluster.Propose(ctx, &fsm.SlashingImport{Interchange: doc})
	if err != nil {
		return 0, fmt.Errorf("import slashing protection: %w", err)
	}
	if out.Result == nil || out.Result.Status != fsm.StatusApplied {
		reason := "no result"
		if out.Result != nil {
			reason = out.Result.Reason
		}
		return 0, fmt.Errorf("%w: %s", errImportRejected, reason)
	}
	s.log.Info("slashing protection imported", "log_index", out.Index, "bytes", len(doc))
	return out.Index, nil
}

func importStatus(err error) int {
	switch {
	case errors.Is(err, errImportRejected):
		return http.StatusBadRequest
	case errors.Is(err, cluster.ErrNotLeader), errors.Is(err, cluster.ErrSigningDisabled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
