package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/phalanx-eth/phalanx/cluster"
	"github.com/phalanx-eth/phalanx/fsm"
)

// The admin API: one JSON endpoint per `phalanx cluster` and `phalanx slashing` verb, behind the admin token.
// Membership changes, snapshot restore and slashing import are leader-only (followers forward them); status,
// peers, snapshot save, slashing export and why answer from this node's replicated state.

// MemberRequest is the body of add-voter, add-nonvoter, remove and transfer-leader.
type MemberRequest struct {
	ID      string `json:"id"`
	Address string `json:"address,omitempty"`
}

// OKResponse is the body of a successful admin action.
type OKResponse struct {
	OK       bool   `json:"ok"`
	Message  string `json:"message,omitempty"`
	LogIndex uint64 `json:"log_index,omitempty"`
}

// PeersResponse lists the members of the raft configuration.
type PeersResponse struct {
	Leader  string                 `json:"leader"`
	Members []cluster.MemberStatus `json:"members"`
}

// WhyRecord is one decision of the cluster about a validator's duty, read from the committed state.
type WhyRecord struct {
	LogIndex       uint64 `json:"log_index"`
	Kind           string `json:"kind"`
	Slot           uint64 `json:"slot"`
	Epoch          uint64 `json:"epoch"`
	ValidatorIndex string `json:"validator_index"`
	SigningRoot    string `json:"signing_root"`
	Verdict        string `json:"verdict"`
	Reason         string `json:"reason,omitempty"`
	Detail         string `json:"detail,omitempty"`
}

// WhyResponse explains what happened to a validator's duties at a slot.
type WhyResponse struct {
	Slot        uint64      `json:"slot"`
	Pubkey      string      `json:"pubkey"`
	Records     []WhyRecord `json:"records"`
	Explanation string      `json:"explanation"`
}

func (s *Server) handleAdminStatus(c *gin.Context) {
	st, err := s.deps.Cluster.Status()
	if err != nil {
		fail(c, http.StatusInternalServerError, "cluster status: %v", err)
		return
	}
	c.JSON(http.StatusOK, st)
}

// handleNodeStatus serves this node's duty status (not forwarded: every node answers for itself).
func (s *Server) handleNodeStatus(c *gin.Context) {
	if s.deps.NodeStatus == nil {
		fail(c, http.StatusNotFound, "this server has no node status")
		return
	}
	c.JSON(http.StatusOK, s.deps.NodeStatus())
}

func (s *Server) handleAdminPeers(c *gin.Context) {
	st, err := s.deps.Cluster.Status()
	if err != nil {
		fail(c, http.StatusInternalServerError, "cluster status: %v", err)
		return
	}
	members := st.Members
	if members == nil {
		members = []cluster.MemberStatus{}
	}
	c.JSON(http.StatusOK, PeersResponse{Leader: st.LeaderID, Members: members})
}

func bindMember(c *gin.Context, needAddress bool) (MemberRequest, bool) {
	var req MemberRequest
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		fail(c, http.StatusBadRequest, "malformed JSON body: %v", err)
		return req, false
	}
	req.ID, req.Address = strings.TrimSpace(req.ID), strings.TrimSpace(req.Address)
	if req.ID == "" && needAddress {
		fail(c, http.StatusBadRequest, "id is required")
		return req, false
	}
	if needAddress && req.Address == "" {
		fail(c, http.StatusBadRequest, "address is required: the member's libp2p multiaddr with /p2p/<peer id>")
		return req, false
	}
	return req, true
}

// clusterError maps a membership error to a status.
func clusterError(c *gin.Context, err error) {
	switch {
	case errors.Is(err, cluster.ErrNotLeader):
		fail(c, http.StatusServiceUnavailable, "%v", err)
	case errors.Is(err, errBadAdminInput):
		fail(c, http.StatusBadRequest, "%v", err)
	default:
		fail(c, http.StatusBadRequest, "%v", err)
	}
}

var errBadAdminInput = errors.New("bad input")

func (s *Server) handleAddVoter(c *gin.Context)    { s.addMember(c, true) }
func (s *Server) handleAddNonvoter(c *gin.Context) { s.addMember(c, false) }

func (s *Server) addMember(c *gin.Context, voter bool) {
	req, ok := bindMember(c, true)
	if !ok {
		return
	}
	var err error
	if voter {
		err = s.deps.Cluster.AddVoter(req.ID, req.Address)
	} else {
		err = s.deps.Cluster.AddNonvoter(req.ID, req.Address)
	}
	if err != nil {
		clusterError(c, err)
		return
	}
	kind := "voter"
	if !voter {
		kind = "non-voter"
	}
	s.log.Info("admin: member added", "server_id", req.ID, "voter", voter)
	c.JSON(http.StatusOK, OKResponse{OK: true, Message: fmt.Sprintf("added %s as a %s", req.ID, kind)})
}

func (s *Server) handleRemove(c *gin.Context) {
	req, ok := bindMember(c, false)
	if !ok {
		return
	}
	if req.ID == "" {
		fail(c, http.StatusBadRequest, "id is required")
		return
	}
	if err := s.deps.Cluster.RemoveServer(req.ID); err != nil {
		clusterError(c, err)
		return
	}
	s.log.Info("admin: member removed", "server_id", req.ID)
	c.JSON(http.StatusOK, OKResponse{OK: true, Message: "removed " + req.ID})
}

func (s *Server) handleTransferLeader(c *gin.Context) {
	req, ok := bindMember(c, false)
	if !ok {
		return
	}
	if err := s.deps.Cluster.TransferLeadership(req.ID); err != nil {
		clusterError(c, err)
		return
	}
	to := req.ID
	if to == "" {
		to = "the most up-to-date member"
	}
	s.log.Info("admin: leadership transferred", "server_id", req.ID)
	c.JSON(http.StatusOK, OKResponse{OK: true, Message: "leadership transferred to " + to})
}

// handleSnapshotSave streams a snapshot of this node's state (see cluster.Node.SaveSnapshot). It is taken
// into memory first so that a failure is an error response, not a truncated file.
func (s *Server) handleSnapshotSave(c *gin.Context) {
	var buf bytes.Buffer
	if err := s.deps.Cluster.SaveSnapshot(&buf); err != nil {
		fail(c, http.StatusInternalServerError, "save snapshot: %v", err)
		return
	}
	c.Header("Content-Disposition", `attachment; filename="phalanx.snap"`)
	c.Data(http.StatusOK, "application/octet-stream", buf.Bytes())
}

// handleSnapshotRestore replaces the cluster's state with an uploaded snapshot. The cluster validates the
// file before anything changes.
func (s *Server) handleSnapshotRestore(c *gin.Context) {
	b, err := io.ReadAll(c.Request.Body)
	if err != nil {
		fail(c, http.StatusRequestEntityTooLarge, "read snapshot: %v", err)
		return
	}
	if len(b) == 0 {
		fail(c, http.StatusBadRequest, "empty body: send the snapshot file written by `phalanx cluster snapshot save`")
		return
	}
	if err := s.deps.Cluster.RestoreSnapshot(bytes.NewReader(b)); err != nil {
		clusterError(c, err)
		return
	}
	s.log.Info("admin: snapshot restored", "bytes", len(b))
	c.JSON(http.StatusOK, OKResponse{OK: true, Message: fmt.Sprintf("restored a %d-byte snapshot", len(b))})
}

// handleSlashingExport returns the EIP-3076 interchange of the given pubkeys (query pubkey, repeatable or
// comma-separated; all when absent); complete=true selects the complete format.
func (s *Server) handleSlashingExport(c *gin.Context) {
	var pks [][48]byte
	for _, v := range c.QueryArray("pubkey") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			pk, err := ParsePubkey(p)
			if err != nil {
				fail(c, http.StatusBadRequest, "%v", err)
				return
			}
			pks = append(pks, pk)
		}
	}
	complete := c.Query("complete") == "true"
	b, err := s.deps.State.ExportInterchange(pks, complete)
	if err != nil {
		if errors.Is(err, fsm.ErrNoChainConfig) {
			fail(c, http.StatusServiceUnavailable, "%v", err)
			return
		}
		fail(c, http.StatusInternalServerError, "%v", err)
		return
	}
	c.Data(http.StatusOK, "application/json", b)
}

// handleSlashingImport imports an EIP-3076 interchange (the request body) through the log.
func (s *Server) handleSlashingImport(c *gin.Context) {
	b, err := io.ReadAll(c.Request.Body)
	if err != nil {
		fail(c, http.StatusRequestEntityTooLarge, "read interchange: %v", err)
		return
	}
	idx, err := s.importInterchange(c.Request.Context(), b)
	if err != nil {
		fail(c, importStatus(err), "%v", err)
		return
	}
	c.JSON(http.StatusOK, OKResponse{OK: true, Message: "slashing protection imported", LogIndex: idx})
}

// handleWhy explains from the committed state what the cluster decided for a validator's duties at a slot.
// validator is a 0x public key or a beacon-chain index.
func (s *Server) handleWhy(c *gin.Context) {
	slot, err := strconv.ParseUint(c.Param("slot"), 10, 64)
	if err != nil {
		fail(c, http.StatusBadRequest, "slot %q: want a decimal slot number", abbreviate(c.Param("slot")))
		return
	}
	pk, ok := s.resolveValidator(c, c.Param("validator"))
	if !ok {
		return
	}
	resp := WhyResponse{Slot: slot, Pubkey: hex0x(pk[:]), Records: []WhyRecord{}}
	for _, r := range s.deps.State.History(slot, pk) {
		w := WhyRecord{
			LogIndex: r.Index, Kind: r.Kind.String(), Slot: r.Slot, Epoch: r.Epoch,
			ValidatorIndex: indexString(r.Item.ValidatorIndex), SigningRoot: hex0x(r.Item.SigningRoot[:]),
			Verdict: "approved",
		}
		if !r.Item.Verdict.Approved {
			w.Verdict, w.Reason, w.Detail = "denied", fsm.ReasonName(r.Item.Verdict.Reason), r.Item.Verdict.Detail
		}
		resp.Records = append(resp.Records, w)
	}
	resp.Explanation = s.explain(slot, resp.Records)
	c.JSON(http.StatusOK, resp)
}

func indexString(i uint64) string {
	if i == fsm.UnknownValidatorIndex {
		return "unknown"
	}
	return u64(i)
}

func (s *Server) explain(slot uint64, recs []WhyRecord) string {
	if len(recs) == 0 {
		msg := fmt.Sprintf("no duty of this validator at slot %d is in the committed history", slot)
		if spec, ok := s.deps.State.Spec(); ok {
			if f := s.deps.State.ChainView().FinalizedEpoch; f > 0 && slot < f*spec.SlotsPerEpoch {
				msg += fmt.Sprintf("; history below the finalized epoch %d (slot %d) is pruned", f, f*spec.SlotsPerEpoch)
			}
		}
		return msg
	}
	var parts []string
	for _, r := range recs {
		p := fmt.Sprintf("%s at log index %d: %s", r.Kind, r.LogIndex, r.Verdict)
		if r.Reason != "" {
			p += " (" + r.Reason
			if r.Detail != "" {
				p += ": " + r.Detail
			}
			p += ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

// resolveValidator turns a 0x public key or a beacon index into a registered (or historical) public key.
func (s *Server) resolveValidator(c *gin.Context, v string) ([48]byte, bool) {
	if strings.HasPrefix(v, "0x") {
		pk, err := ParsePubkey(v)
		if err != nil {
			fail(c, http.StatusBadRequest, "%v", err)
			return pk, false
		}
		return pk, true
	}
	idx, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		fail(c, http.StatusBadRequest, "validator %q: want a 0x public key or a validator index", abbreviate(v))
		return [48]byte{}, false
	}
	for _, val := range s.deps.State.Validators() {
		if val.ValidatorIndex == idx {
			return val.Pubkey, true
		}
	}
	fail(c, http.StatusNotFound, "no registered validator has index %d; pass its public key instead", idx)
	return [48]byte{}, false
}
