package keys

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/phalanx-eth/phalanx/threshold"
)

// InteropSecretKey returns the interop ("mocked start") validator secret key
// for a validator index, as used by devnets and client test suites:
//
//	sk = int.from_bytes(sha256(index.to_bytes(32, 'little')), 'little') % r
//
// These keys are public knowledge: never use them for real funds.
func InteropSecretKey(index uint64) (*threshold.SecretKey, error) {
	var in [32]byte
	binary.LittleEndian.PutUint64(in[:], index)
	h := sha256.Sum256(in[:])
	slices.Reverse(h[:]) // little-endian integer -> big-endian bytes
	x := new(big.Int).SetBytes(h[:])
	defer clearBig(x)
	x.Mod(x, curveOrder)
	if x.Sign() == 0 {
		return nil, errors.New("keys: interop key is zero")
	}
	var b [32]byte
	defer clear(b[:])
	x.FillBytes(b[:])
	sk, err := threshold.SecretKeyFromBytes(b[:])
	if err != nil {
		return nil, fmt.Errorf("interop key %d: %w", index, err)
	}
	return sk, nil
}
