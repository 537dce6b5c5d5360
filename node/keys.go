package node

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/phalanx-eth/phalanx/cluster"
	"github.com/phalanx-eth/phalanx/threshold"
	"github.com/phalanx-eth/phalanx/threshold/keys"
)

// ErrShareMismatch is returned (wrapped) when a share keystore does not hold the share the lock file expects
// for this node: another validator, another share index or another key.
var ErrShareMismatch = errors.New("share keystore does not match the lock file")

// ShareKeystoreName returns the file name of a validator's share keystore in a keys directory:
// <group-pubkey-hex>.json, lowercase hex without 0x.
func ShareKeystoreName(groupPubkey []byte) string {
	return hex.EncodeToString(groupPubkey) + ".json"
}

// ShareKeystorePath is the EIP-2334-shaped path a share keystore records: "m/<share index>". The share is
// not derived from a seed; the path field only carries its index.
func ShareKeystorePath(index uint32) string { return fmt.Sprintf("m/%d", index) }

// shareIndexOfPath reads the share index back from a keystore path: its last component.
func shareIndexOfPath(path string) (uint32, error) {
	comps, err := keys.ParsePath(path)
	if err != nil {
		return 0, err
	}
	if len(comps) == 0 {
		return 0, fmt.Errorf("path %q carries no share index", path)
	}
	idx := comps[len(comps)-1]
	if idx == 0 || idx > threshold.MaxShares {
		return 0, fmt.Errorf("path %q: share index %d out of range 1..%d", path, idx, threshold.MaxShares)
	}
	return idx, nil
}

// WriteShareKeystore encrypts a share under password and writes it to dir as the keystore of the validator
// with the given group public key (mode 0600). opts pass through to keys.Encrypt (for example cheap scrypt
// parameters on a devnet).
func WriteShareKeystore(dir string, groupPubkey []byte, share threshold.SecretShare, password string, opts ...keys.Option) error {
	opts = append([]keys.Option{keys.WithPath(ShareKeystorePath(share.Index)),
		keys.WithDescription(fmt.Sprintf("phalanx share %d of validator 0x%x", share.Index, groupPubkey))}, opts...)
	ks, err := keys.Encrypt(share.Key, password, opts...)
	if err != nil {
		return fmt.Errorf("share keystore: %w", err)
	}
	b, err := ks.Marshal()
	if err != nil {
		return fmt.Errorf("share keystore: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("share keystore: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, ShareKeystoreName(groupPubkey)), b, 0o600); err != nil {
		return fmt.Errorf("share keystore: %w", err)
	}
	return nil
}

// ReadPasswordFile reads a keystore password file; one trailing newline (LF or CRLF) is not part of the
// password.
func ReadPasswordFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("password file: %w", err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	s = strings.TrimSuffix(s, "\r")
	return s, nil
}

// LoadShares decrypts this node's share of every lock validator from dir (one keystore per validator, named
// by ShareKeystoreName) and checks each one against the lock: the keystore's share index must be index, and
// the decrypted key's public key must be the lock's share public key for that index. Any missing or wrong
// keystore fails the whole load: a node must not start with part of its keys.
func LoadShares(dir, password string, lock *Lock, index uint32) (cluster.MapKeyRing, error) {
	if index == 0 || int(index) > len(lock.Members) {
		return nil, fmt.Errorf("load shares: share index %d out of range for %d members", index, len(lock.Members))
	}
	ring := make(cluster.MapKeyRing, len(lock.Validators))
	for _, v := range lock.Validators {
		sh, err := loadShare(dir, password, v, index)
		if err != nil {
			for _, s := range ring {
				s.Key.Zeroize()
			}
			return nil, err
		}
		ring[v.GroupPubkey()] = sh
	}
	return ring, nil
}

func loadShare(dir, password string, v LockValidator, index uint32) (*threshold.SecretShare, error) {
	path := filepath.Join(dir, ShareKeystoreName(v.Pubkey))
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("share of validator %s: %w", shortHex(v.Pubkey), err)
	}
	ks, err := keys.ParseKeystore(b)
	if err != nil {
		return nil, fmt.Errorf("share keystore %s: %w", path, err)
	}
	want := v.SharePubkeys[index-1]
	got, err := shareIndexOfPath(ks.Path)
	if err != nil {
		return nil, fmt.Errorf("share keystore %s: %w: %v", path, ErrShareMismatch, err)
	}
	if got != index {
		return nil, fmt.Errorf("share keystore %s holds share %d; this node holds share %d: %w", path, got, index, ErrShareMismatch)
	}
	if ks.Pubkey != "" {
		pk, err := hex.DecodeString(strings.TrimPrefix(ks.Pubkey, "0x"))
		if err == nil && !bytes.Equal(pk, want) {
			return nil, fmt.Errorf("share keystore %s is for public key %s; the lock expects %s: %w", path, shortHex(pk), shortHex(want), ErrShareMismatch)
		}
	}
	sk, err := ks.Decrypt(password)
	if err != nil {
		return nil, fmt.Errorf("share keystore %s: %w", path, err)
	}
	if !bytes.Equal(sk.PublicKey().Bytes(), want) {
		sk.Zeroize()
		return nil, fmt.Errorf("share keystore %s: decrypted key is not share %d of validator %s: %w", path, index, shortHex(v.Pubkey), ErrShareMismatch)
	}
	return &threshold.SecretShare{Index: index, Key: sk}, nil
}
