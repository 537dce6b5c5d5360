package transport

import (
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// ErrBadAddress reports a raft server address that is not a multiaddr ending in /p2p/<peer ID>.
var ErrBadAddress = errors.New("raft server address is not a multiaddr with /p2p/<peer ID>")

// GenerateIdentity returns a new Ed25519 libp2p identity.
func GenerateIdentity() (crypto.PrivKey, error) {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ed25519 identity: %w", err)
	}
	return k, nil
}

// MarshalIdentity encodes k in the libp2p protobuf key format, for a key file.
// The result is secret material.
func MarshalIdentity(k crypto.PrivKey) ([]byte, error) {
	if k == nil {
		return nil, errors.New("marshal identity: key is nil")
	}
	b, err := crypto.MarshalPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("marshal identity: %w", err)
	}
	return b, nil
}

// UnmarshalIdentity decodes a key written by MarshalIdentity. Only Ed25519
// keys are accepted.
func UnmarshalIdentity(b []byte) (crypto.PrivKey, error) {
	k, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("unmarshal identity: %w", err)
	}
	if k.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("unmarshal identity: key type %s, want Ed25519", k.Type())
	}
	return k, nil
}

// AddressPeerID returns the peer ID named by the /p2p/ component of a raft
// server address.
func AddressPeerID(addr raft.ServerAddress) (peer.ID, error) {
	info, err := parseAddress(addr)
	if err != nil {
		return "", err
	}
	return info.ID, nil
}

func parseAddress(addr raft.ServerAddress) (*peer.AddrInfo, error) {
	m, err := ma.NewMultiaddr(string(addr))
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrBadAddress, addr, err)
	}
	info, err := peer.AddrInfoFromP2pAddr(m)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrBadAddress, addr, err)
	}
	return info, nil
}
