package keys

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"

	"github.com/phalanx-eth/phalanx/threshold"
)

// MinSeedLen is the shortest seed DeriveMasterSK accepts, as required by EIP-2333.
const MinSeedLen = 32

// ErrShortSeed is returned when a seed is shorter than MinSeedLen bytes.
var ErrShortSeed = errors.New("keys: seed must be at least 32 bytes")

// curveOrder is r, the order of the BLS12-381 G1/G2 subgroups.
var curveOrder, _ = new(big.Int).SetString("73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001", 16)

const (
	// lamportChunks is K in EIP-2333: the number of 32-byte Lamport secret
	// key chunks per side.
	lamportChunks = 255
	// hkdfModRLen is L in EIP-2333: ceil((3 * ceil(log2(r))) / 16) = 48.
	hkdfModRLen = 48
	// keygenSalt is the initial salt of HKDF_mod_r.
	keygenSalt = "BLS-SIG-KEYGEN-SALT-"
)

// DeriveMasterSK derives the EIP-2333 master secret key from a seed of at
// least 32 bytes (typically the 64-byte BIP-39 seed from MnemonicToSeed).
func DeriveMasterSK(seed []byte) (*threshold.SecretKey, error) {
	if len(seed) < MinSeedLen {
		return nil, fmt.Errorf("derive master key: %w (got %d)", ErrShortSeed, len(seed))
	}
	sk, err := hkdfModR(seed, nil)
	if err != nil {
		return nil, fmt.Errorf("derive master key: %w", err)
	}
	defer clear(sk[:])
	return scalarToSecretKey(sk[:])
}

// DeriveChildSK derives the EIP-2333 child secret key at index from parent.
// The parent is not modified.
func DeriveChildSK(parent *threshold.SecretKey, index uint32) (*threshold.SecretKey, error) {
	if parent == nil {
		return nil, errors.New("keys: derive child key: nil parent key")
	}
	pb := parent.Bytes()
	defer clear(pb)
	sk, err := deriveChildScalar(pb, index)
	if err != nil {
		return nil, fmt.Errorf("derive child key %d: %w", index, err)
	}
	defer clear(sk[:])
	return scalarToSecretKey(sk[:])
}

// DerivePath derives the secret key at an EIP-2334 path such as
// "m/12381/3600/0/0/0" from seed. "m" alone yields the master key. Every
// component is a decimal index in [0, 2^32); there is no hardened notation
// because EIP-2333 derivation is always hardened.
func DerivePath(seed []byte, path string) (*threshold.SecretKey, error) {
	indices, err := ParsePath(path)
	if err != nil {
		return nil, err
	}
	if len(seed) < MinSeedLen {
		return nil, fmt.Errorf("derive path %q: %w (got %d)", path, ErrShortSeed, len(seed))
	}
	sk, err := hkdfModR(seed, nil)
	if err != nil {
		return nil, fmt.Errorf("derive path %q: master key: %w", path, err)
	}
	defer clear(sk[:])
	for _, index := range indices {
		child, err := deriveChildScalar(sk[:], index)
		if err != nil {
			return nil, fmt.Errorf("derive path %q: child %d: %w", path, index, err)
		}
		sk = child
		clear(child[:])
	}
	return scalarToSecretKey(sk[:])
}

// scalarToSecretKey converts a 32-byte big-endian scalar in [1, r) into a
// threshold secret key.
func scalarToSecretKey(b []byte) (*threshold.SecretKey, error) {
	sk, err := threshold.SecretKeyFromBytes(b)
	if err != nil {
		return nil, fmt.Errorf("keys: derived scalar is not a valid secret key: %w", err)
	}
	return sk, nil
}

// deriveChildScalar is derive_child_SK on 32-byte big-endian scalars.
func deriveChildScalar(parent []byte, index uint32) ([32]byte, error) {
	compressed, err := parentSKToLamportPK(parent, index)
	if err != nil {
		return [32]byte{}, err
	}
	return hkdfModR(compressed[:], nil)
}

// hkdfModR is HKDF_mod_r from EIP-2333 (the KeyGen of the IETF BLS draft,
// version 4 and later): it returns a 32-byte big-endian scalar in [1, r).
func hkdfModR(ikm, keyInfo []byte) ([32]byte, error) {
	var out [32]byte
	ikm0 := make([]byte, len(ikm)+1) // IKM || I2OSP(0, 1)
	copy(ikm0, ikm)
	defer clear(ikm0)
	info := make([]byte, 0, len(keyInfo)+2) // key_info || I2OSP(L, 2)
	info = append(info, keyInfo...)
	info = binary.BigEndian.AppendUint16(info, hkdfModRLen)

	salt := []byte(keygenSalt)
	x := new(big.Int)
	defer clearBig(x)
	for {
		h := sha256.Sum256(salt)
		salt = h[:]
		prk, err := hkdf.Extract(sha256.New, ikm0, salt)
		if err != nil {
			return out, fmt.Errorf("hkdf extract: %w", err)
		}
		okm, err := hkdf.Expand(sha256.New, prk, string(info), hkdfModRLen)
		clear(prk)
		if err != nil {
			return out, fmt.Errorf("hkdf expand: %w", err)
		}
		x.SetBytes(okm)
		clear(okm)
		x.Mod(x, curveOrder)
		if x.Sign() != 0 {
			x.FillBytes(out[:])
			return out, nil
		}
	}
}

// ikmToLamportSK is IKM_to_lamport_SK from EIP-2333: 255 chunks of 32 bytes,
// returned concatenated.
func ikmToLamportSK(ikm, salt []byte) ([]byte, error) {
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		return nil, fmt.Errorf("hkdf extract: %w", err)
	}
	defer clear(prk)
	okm, err := hkdf.Expand(sha256.New, prk, "", 32*lamportChunks)
	if err != nil {
		return nil, fmt.Errorf("hkdf expand: %w", err)
	}
	return okm, nil
}

// parentSKToLamportPK is parent_SK_to_lamport_PK from EIP-2333; parent is
// the 32-byte big-endian parent scalar.
func parentSKToLamportPK(parent []byte, index uint32) ([32]byte, error) {
	var salt [4]byte
	binary.BigEndian.PutUint32(salt[:], index)
	lamport0, err := ikmToLamportSK(parent, salt[:])
	if err != nil {
		return [32]byte{}, err
	}
	defer clear(lamport0)
	notIKM := make([]byte, len(parent))
	defer clear(notIKM)
	for i, b := range parent {
		notIKM[i] = ^b
	}
	lamport1, err := ikmToLamportSK(notIKM, salt[:])
	if err != nil {
		return [32]byte{}, err
	}
	defer clear(lamport1)

	pk := sha256.New()
	for _, side := range [][]byte{lamport0, lamport1} {
		for i := 0; i < lamportChunks; i++ {
			h := sha256.Sum256(side[32*i : 32*(i+1)])
			pk.Write(h[:])
		}
	}
	var out [32]byte
	pk.Sum(out[:0])
	return out, nil
}

// clearBig overwrites the limbs of x. Temporaries inside math/big cannot be
// reached; this is best effort, like all zeroing in a garbage-collected heap.
func clearBig(x *big.Int) {
	clear(x.Bits())
	x.SetInt64(0)
}
