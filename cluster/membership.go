package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/hashicorp/raft"
)

// membershipTimeout bounds a configuration change.
const membershipTimeout = 10 * time.Second

// AddVoter adds a voting member (or promotes a non-voter). Leader only. The new member's peer ID is allowed
// on this node's transport first, so the leader can reach it at once; the other members allow it when they
// see the new configuration.
func (n *Node) AddVoter(id, address string) error {
	return n.addServer(id, address, true)
}

// AddNonvoter adds a member that replicates the log but does not vote.
func (n *Node) AddNonvoter(id, address string) error {
	return n.addServer(id, address, false)
}

func (n *Node) addServer(id, address string, voter bool) error {
	if id == "" {
		return errors.New("add member: empty server ID")
	}
	pid, err := peerIDOfAddress(address)
	if err != nil {
		return fmt.Errorf("add member %s: %w", id, err)
	}
	r := n.r()
	if r == nil || r.State() != raft.Leader {
		return n.notLeader()
	}
	cf := r.GetConfiguration()
	if err := cf.Error(); err != nil {
		return fmt.Errorf("add member %s: %w", id, err)
	}
	current := cf.Configuration()
	// raft would silently re-address or demote an existing member, or admit one peer under two names;
	// only promoting a non-voter at its own address is a re-add.
	for _, s := range current.Servers {
		sameID := string(s.ID) == id
		other, perr := peerIDOfAddress(string(s.Address))
		samePeer := perr == nil && other == pid
		switch {
		case sameID && string(s.Address) != address:
			return fmt.Errorf("add member %s: already a member at %s; remove it first to change its address", id, s.Address)
		case sameID && (s.Suffrage == raft.Voter || !voter):
			return fmt.Errorf("add member %s: already a member (voter: %t)", id, s.Suffrage == raft.Voter)
		case !sameID && samePeer:
			return fmt.Errorf("add member %s: peer %s is already member %s", id, pid, s.ID)
		}
	}
	cfg := current.Clone()
	cfg.Servers = append(cfg.Servers, raft.Server{ID: raft.ServerID(id), Address: raft.ServerAddress(address)})
	n.refreshAllowlist(cfg)
	var fut raft.IndexFuture
	if voter {
		fut = r.AddVoter(raft.ServerID(id), raft.ServerAddress(address), 0, membershipTimeout)
	} else {
		fut = r.AddNonvoter(raft.ServerID(id), raft.ServerAddress(address), 0, membershipTimeout)
	}
	if err := fut.Error(); err != nil {
		return fmt.Errorf("add member %s: %w", id, err)
	}
	n.log.Info("member added", "server_id", id, "address", address, "voter", voter)
	return nil
}

// RemoveServer removes a member. Leader only. A leader may remove itself; it steps down once the change
// commits.
func (n *Node) RemoveServer(id string) error {
	r := n.r()
	if r == nil || r.State() != raft.Leader {
		return n.notLeader()
	}
	found := false
	cf := r.GetConfiguration()
	if err := cf.Error(); err != nil {
		return fmt.Errorf("remove member %s: %w", id, err)
	}
	for _, s := range cf.Configuration().Servers {
		if string(s.ID) == id {
			found = true
		}
	}
	if !found {
		return fmt.Errorf("remove member %s: no such member", id)
	}
	if err := r.RemoveServer(raft.ServerID(id), 0, membershipTimeout).Error(); err != nil {
		return fmt.Errorf("remove member %s: %w", id, err)
	}
	n.log.Info("member removed", "server_id", id)
	return nil
}

// TransferLeadership hands leadership to the named member, or to the most up-to-date one when id is empty.
func (n *Node) TransferLeadership(id string) error {
	r := n.r()
	if r == nil || r.State() != raft.Leader {
		return n.notLeader()
	}
	var fut raft.Future
	if id == "" {
		fut = r.LeadershipTransfer()
	} else {
		var addr raft.ServerAddress
		cf := r.GetConfiguration()
		if err := cf.Error(); err != nil {
			return err
		}
		for _, s := range cf.Configuration().Servers {
			if string(s.ID) == id {
				addr = s.Address
			}
		}
		if addr == "" {
			return fmt.Errorf("transfer leadership: no member %q", id)
		}
		fut = r.LeadershipTransferToServer(raft.ServerID(id), addr)
	}
	if err := fut.Error(); err != nil {
		return fmt.Errorf("transfer leadership: %w", err)
	}
	return nil
}

// MemberStatus is one member as the node sees it.
type MemberStatus struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Voter   bool   `json:"voter"`
	Leader  bool   `json:"leader"`
	// Readiness is "ready", or "not ready: <why>", from the member's latest report within ReadinessFresh;
	// empty when this node has none (only the leader receives the other members' reports).
	Readiness string `json:"readiness,omitempty"`
}

// Status is a node's view of the cluster.
type Status struct {
	ID           string         `json:"id"`
	PeerID       string         `json:"peer_id"`
	State        string         `json:"state"`
	LeaderID     string         `json:"leader_id"`
	LeaderAddr   string         `json:"leader_address"`
	Term         uint64         `json:"term"`
	LastIndex    uint64         `json:"last_index"`
	CommitIndex  uint64         `json:"commit_index"`
	AppliedIndex uint64         `json:"applied_index"`
	LastContact  time.Time      `json:"last_contact"`
	Members      []MemberStatus `json:"members"`
	SigningError string         `json:"signing_error,omitempty"`
}

// Status returns the node's view of the cluster.
func (n *Node) Status() (Status, error) {
	r := n.r()
	if r == nil {
		return Status{}, errors.New("node not started")
	}
	lid, laddr := n.Leader()
	st := Status{
		ID:           n.cfg.ID,
		PeerID:       n.PeerID(),
		State:        r.State().String(),
		LeaderID:     lid,
		LeaderAddr:   laddr,
		Term:         r.CurrentTerm(),
		LastIndex:    r.LastIndex(),
		CommitIndex:  r.CommitIndex(),
		AppliedIndex: r.AppliedIndex(),
		LastContact:  r.LastContact(),
	}
	if err := n.SigningError(); err != nil {
		st.SigningError = err.Error()
	}
	cf := r.GetConfiguration()
	if err := cf.Error(); err != nil {
		return st, fmt.Errorf("configuration: %w", err)
	}
	ready := make(map[string]string)
	for _, m := range n.Readiness() {
		switch {
		case time.Since(m.Reported) > ReadinessFresh:
		case m.Ready:
			ready[m.ID] = "ready"
		default:
			ready[m.ID] = "not ready: " + m.Reason
		}
	}
	for _, s := range cf.Configuration().Servers {
		st.Members = append(st.Members, MemberStatus{
			ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == raft.Voter, Leader: string(s.ID) == lid,
			Readiness: ready[string(s.ID)],
		})
	}
	sort.Slice(st.Members, func(i, j int) bool { return st.Members[i].ID < st.Members[j].ID })
	return st, nil
}

// snapshotMagic starts every operator snapshot file.
const snapshotMagic = "phalanx-snapshot\x00"

// SaveSnapshot takes a raft snapshot now and writes it to w: a magic string, a JSON header with raft's
// snapshot metadata, then the state machine's snapshot bytes.
func (n *Node) SaveSnapshot(w io.Writer) error {
	r := n.r()
	if r == nil {
		return errors.New("node not started")
	}
	fut := r.Snapshot()
	if err := fut.Error(); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return fmt.Errorf("snapshot: %w", err)
	}
	var meta *raft.SnapshotMeta
	var rc io.ReadCloser
	var err error
	if fut.Error() == nil {
		meta, rc, err = fut.Open()
	} else {
		// Nothing new since the last snapshot: hand out the latest one.
		metas, lerr := n.snaps.List()
		if lerr != nil || len(metas) == 0 {
			return fmt.Errorf("snapshot: no snapshot available: %v", lerr)
		}
		meta, rc, err = n.snaps.Open(metas[0].ID)
	}
	if err != nil {
		return fmt.Errorf("open snapshot: %w", err)
	}
	defer rc.Close()
	hdr, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.WriteString(snapshotMagic)
	fmt.Fprintf(&buf, "%d\n", len(hdr))
	buf.Write(hdr)
	if _, err := w.Write(buf.Bytes()); err != nil {
		return err
	}
	if _, err := io.Copy(w, rc); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	return nil
}

// RestoreSnapshot replaces the whole cluster's state with a snapshot written by SaveSnapshot. Leader only.
// The state machine validates the snapshot bytes before anything changes.
func (n *Node) RestoreSnapshot(rd io.Reader) error {
	r := n.r()
	if r == nil || r.State() != raft.Leader {
		return n.notLeader()
	}
	b, err := io.ReadAll(io.LimitReader(rd, maxSnapshotSize+1<<20))
	if err != nil {
		return fmt.Errorf("read snapshot: %w", err)
	}
	if !bytes.HasPrefix(b, []byte(snapshotMagic)) {
		return errors.New("restore snapshot: not a phalanx snapshot file (bad magic)")
	}
	b = b[len(snapshotMagic):]
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 || nl > 12 {
		return errors.New("restore snapshot: malformed header length")
	}
	var hl int
	if _, err := fmt.Sscanf(string(b[:nl]), "%d", &hl); err != nil || hl <= 0 || hl > len(b)-nl-1 {
		return errors.New("restore snapshot: malformed header length")
	}
	var meta raft.SnapshotMeta
	if err := json.Unmarshal(b[nl+1:nl+1+hl], &meta); err != nil {
		return fmt.Errorf("restore snapshot: header: %w", err)
	}
	body := b[nl+1+hl:]
	// Validate with a scratch machine before touching the cluster.
	if err := validateSnapshot(body); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	meta.Size = int64(len(body))
	if err := r.Restore(&meta, bytes.NewReader(body), membershipTimeout); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	return nil
}
