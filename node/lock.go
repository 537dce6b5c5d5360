package node

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/phalanx-eth/phalanx/threshold"
)

// LockVersion is the version of the lock file format this package reads and writes.
const LockVersion = 1

// ErrInvalidLock wraps every error Lock.Validate and LoadLock return for a lock file whose content is wrong.
var ErrInvalidLock = errors.New("invalid cluster lock")

// Lock is the cluster lock file: who the members are and which validators the cluster runs, with the public
// parts of every validator's key split. It holds no secret. Member i (1-based position in Members) holds share
// i of every validator: Validators[*].SharePubkeys[i-1] is the public key of its share.
type Lock struct {
	// Version is LockVersion.
	Version int `json:"version"`
	// Name names the cluster for operators.
	Name string `json:"name"`
	// Threshold is how many shares sign: a majority of the members (2 of 3, 3 of 5).
	Threshold int `json:"threshold"`
	// Members are the cluster's nodes, in share-index order.
	Members []LockMember `json:"members"`
	// Validators are the validators the cluster runs.
	Validators []LockValidator `json:"validators"`
}

// LockMember is one node of the cluster.
type LockMember struct {
	// ID is the node's raft server ID, such as "node-1".
	ID string `json:"id"`
	// PeerID is the node's libp2p peer ID.
	PeerID string `json:"peer_id"`
	// Address is the node's libp2p multiaddr ending in /p2p/<peer_id>.
	Address string `json:"address"`
}

// LockValidator is one validator: its group public key, the public key of every share (share i at position
// i-1) and the Feldman commitments of the sharing polynomial (commitment 0 is the group public key).
type LockValidator struct {
	Pubkey       HexBytes   `json:"pubkey"`
	SharePubkeys []HexBytes `json:"share_pubkeys"`
	Commitments  []HexBytes `json:"commitments"`
}

// HexBytes is a byte string written as 0x-prefixed lowercase hex in JSON.
type HexBytes []byte

// MarshalText implements encoding.TextMarshaler.
func (h HexBytes) MarshalText() ([]byte, error) {
	return []byte("0x" + hex.EncodeToString(h)), nil
}

// UnmarshalText implements encoding.TextUnmarshaler; the 0x prefix is optional.
func (h *HexBytes) UnmarshalText(b []byte) error {
	s := strings.TrimPrefix(strings.TrimPrefix(string(b), "0x"), "0X")
	out, err := hex.DecodeString(s)
	if err != nil {
		return fmt.Errorf("not hex: %w", err)
	}
	*h = out
	return nil
}

// String renders the bytes as 0x-hex.
func (h HexBytes) String() string { return "0x" + hex.EncodeToString(h) }

// LoadLock reads and validates a lock file.
func LoadLock(path string) (*Lock, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load lock: %w", err)
	}
	l, err := ParseLock(b)
	if err != nil {
		return nil, fmt.Errorf("lock file %s: %w", path, err)
	}
	return l, nil
}

// ParseLock decodes and validates lock file bytes. Unknown fields are refused so that a typo does not pass
// silently.
func ParseLock(b []byte) (*Lock, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var l Lock
	if err := dec.Decode(&l); err != nil {
		return nil, fmt.Errorf("%w: not a lock file: %v", ErrInvalidLock, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the lock object", ErrInvalidLock)
	}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	return &l, nil
}

// Save validates the lock and writes it to path (mode 0644; the lock holds no secret), replacing the file
// atomically.
func (l *Lock) Save(path string) error {
	if err := l.Validate(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return fmt.Errorf("save lock: %w", err)
	}
	if err := writeFileAtomic(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("save lock: %w", err)
	}
	return nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Validate checks the lock and names the first thing that is wrong. It changes nothing. Every share public
// key must be the one the validator's commitments give for its index, the threshold must be a majority of the
// members, and member IDs, peer IDs, addresses and validator keys must be distinct.
func (l *Lock) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidLock, fmt.Sprintf(format, args...))
	}
	if l == nil {
		return bad("lock is nil")
	}
	if l.Version != LockVersion {
		return bad("version %d is not supported; this node reads version %d", l.Version, LockVersion)
	}
	if strings.TrimSpace(l.Name) == "" {
		return bad("name is empty")
	}
	n := len(l.Members)
	if n == 0 || n > threshold.MaxShares {
		return bad("%d members; want 1..%d", n, threshold.MaxShares)
	}
	if l.Threshold < n/2+1 || l.Threshold > n {
		return bad("threshold %d is not a majority of %d members; want %d..%d", l.Threshold, n, n/2+1, n)
	}
	ids, peers, addrs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i, m := range l.Members {
		switch {
		case m.ID == "":
			return bad("member %d has no id", i+1)
		case ids[m.ID]:
			return bad("member id %q appears twice", m.ID)
		case m.PeerID == "":
			return bad("member %q has no peer_id", m.ID)
		case peers[m.PeerID]:
			return bad("peer_id %s appears twice", m.PeerID)
		case !strings.HasPrefix(m.Address, "/"):
			return bad("member %q address %q is not a multiaddr", m.ID, m.Address)
		case !strings.HasSuffix(m.Address, "/p2p/"+m.PeerID):
			return bad("member %q address %q does not end in /p2p/%s (its peer_id)", m.ID, m.Address, m.PeerID)
		case addrs[m.Address]:
			return bad("address %q appears twice", m.Address)
		}
		ids[m.ID], peers[m.PeerID], addrs[m.Address] = true, true, true
	}
	if len(l.Validators) == 0 {
		return bad("no validators")
	}
	keys := map[string]bool{}
	for i, v := range l.Validators {
		if err := l.validateValidator(v); err != nil {
			return bad("validator %d (%s): %v", i, shortHex(v.Pubkey), err)
		}
		if keys[string(v.Pubkey)] {
			return bad("validator %s appears twice", shortHex(v.Pubkey))
		}
		keys[string(v.Pubkey)] = true
	}
	return nil
}

func (l *Lock) validateValidator(v LockValidator) error {
	if len(v.Pubkey) != threshold.PublicKeySize {
		return fmt.Errorf("pubkey is %d bytes; want %d", len(v.Pubkey), threshold.PublicKeySize)
	}
	if len(v.Commitments) != l.Threshold {
		return fmt.Errorf("%d commitments; the threshold %d needs exactly %d", len(v.Commitments), l.Threshold, l.Threshold)
	}
	if len(v.SharePubkeys) != len(l.Members) {
		return fmt.Errorf("%d share_pubkeys; want one per member (%d)", len(v.SharePubkeys), len(l.Members))
	}
	var raw []byte
	for j, c := range v.Commitments {
		if len(c) != threshold.PublicKeySize {
			return fmt.Errorf("commitment %d is %d bytes; want %d", j, len(c), threshold.PublicKeySize)
		}
		raw = append(raw, c...)
	}
	comms, err := threshold.CommitmentsFromBytes(raw)
	if err != nil {
		return fmt.Errorf("commitments: %w", err)
	}
	if !bytes.Equal(comms.GroupPublicKey().Bytes(), v.Pubkey) {
		return errors.New("commitment 0 is not the validator's pubkey")
	}
	for i, sp := range v.SharePubkeys {
		want, err := comms.SharePublicKey(uint32(i + 1))
		if err != nil {
			return fmt.Errorf("share %d: %w", i+1, err)
		}
		if !bytes.Equal(want.Bytes(), sp) {
			return fmt.Errorf("share_pubkeys[%d] (share %d, member %q) does not match the commitments", i, i+1, l.Members[i].ID)
		}
	}
	return nil
}

// MemberIndex returns the share index (1-based position) of the member with raft ID id.
func (l *Lock) MemberIndex(id string) (uint32, bool) {
	for i, m := range l.Members {
		if m.ID == id {
			return uint32(i + 1), true
		}
	}
	return 0, false
}

// commitments decodes the validator's commitments.
func (v LockValidator) commitments() (threshold.Commitments, error) {
	var raw []byte
	for _, c := range v.Commitments {
		raw = append(raw, c...)
	}
	return threshold.CommitmentsFromBytes(raw)
}

// GroupPubkey returns the validator's public key as a fixed array.
func (v LockValidator) GroupPubkey() [48]byte {
	var pk [48]byte
	copy(pk[:], v.Pubkey)
	return pk
}

// NewLockValidator builds the lock entry of a validator from its commitments and the number of shares.
func NewLockValidator(comms threshold.Commitments, n int) (LockValidator, error) {
	gpk := comms.GroupPublicKey()
	if gpk == nil {
		return LockValidator{}, fmt.Errorf("lock validator: %w", threshold.ErrMissing)
	}
	v := LockValidator{Pubkey: gpk.Bytes()}
	for _, c := range comms {
		v.Commitments = append(v.Commitments, c.Bytes())
	}
	for i := 1; i <= n; i++ {
		sp, err := comms.SharePublicKey(uint32(i))
		if err != nil {
			return LockValidator{}, fmt.Errorf("lock validator share %d: %w", i, err)
		}
		v.SharePubkeys = append(v.SharePubkeys, sp.Bytes())
	}
	return v, nil
}

func shortHex(b []byte) string {
	if len(b) > 8 {
		return "0x" + hex.EncodeToString(b[:8]) + "…"
	}
	return "0x" + hex.EncodeToString(b)
}
