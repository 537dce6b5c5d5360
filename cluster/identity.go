package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/phalanx-eth/phalanx/cluster/transport"
)

// Identity is a node's libp2p identity (an Ed25519 key). Its peer ID is what the other members allow.
type Identity struct {
	key crypto.PrivKey
	id  peer.ID
}

// GenerateIdentity creates a new random identity.
func GenerateIdentity() (*Identity, error) {
	k, err := transport.GenerateIdentity()
	if err != nil {
		return nil, err
	}
	return newIdentity(k)
}

func newIdentity(k crypto.PrivKey) (*Identity, error) {
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	return &Identity{key: k, id: id}, nil
}

// PeerID returns the identity's peer ID in its text form.
func (i *Identity) PeerID() string { return i.id.String() }

// String shows the peer ID only.
func (i *Identity) String() string { return "identity(" + i.id.String() + ")" }

type identityFile struct {
	PeerID     string `json:"peer_id"`
	PrivateKey []byte `json:"private_key"`
}

// SaveIdentity writes the identity to path (mode 0600), refusing to overwrite an existing file.
func SaveIdentity(path string, i *Identity) error {
	raw, err := transport.MarshalIdentity(i.key)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(identityFile{PeerID: i.id.String(), PrivateKey: raw}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("save identity: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("save identity: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("save identity: %w", err)
	}
	return f.Close()
}

// LoadIdentity reads an identity written by SaveIdentity.
func LoadIdentity(path string) (*Identity, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	var f identityFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("load identity %s: not an identity file: %w", path, err)
	}
	k, err := transport.UnmarshalIdentity(f.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("load identity %s: %w", path, err)
	}
	id, err := newIdentity(k)
	if err != nil {
		return nil, err
	}
	if f.PeerID != "" && f.PeerID != id.PeerID() {
		return nil, fmt.Errorf("load identity %s: peer_id %s does not match the key (%s)", path, f.PeerID, id.PeerID())
	}
	return id, nil
}

func peerIDOfAddress(addr string) (peer.ID, error) {
	id, err := transport.AddressPeerID(raft.ServerAddress(addr))
	if err != nil {
		return "", fmt.Errorf("address %q: %w", addr, err)
	}
	return id, nil
}

func decodePeerID(s string) (peer.ID, error) {
	if s == "" {
		return "", errors.New("empty peer ID")
	}
	return peer.Decode(s)
}
