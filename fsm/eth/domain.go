package eth

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"reflect"
)

// hashChunks returns sha256(a || b): the hash tree root of a container of
// two fields whose roots are a and b.
func hashChunks(a, b [32]byte) Root {
	var buf [64]byte
	copy(buf[:32], a[:])
	copy(buf[32:], b[:])
	return sha256.Sum256(buf[:])
}

// uint64Chunk returns the hash tree root of a uint64: its little-endian
// bytes padded to 32.
func uint64Chunk(v uint64) [32]byte {
	var c [32]byte
	binary.LittleEndian.PutUint64(c[:8], v)
	return c
}

// ComputeForkDataRoot returns hash_tree_root(ForkData(v, gvr))
// (compute_fork_data_root).
func ComputeForkDataRoot(v Version, gvr Root) Root {
	var c [32]byte
	copy(c[:4], v[:])
	return hashChunks(c, gvr)
}

// ComputeDomain returns the domain of type dt for fork version v on the chain
// with genesis validators root gvr (compute_domain).
func ComputeDomain(dt DomainType, v Version, gvr Root) Domain {
	fdr := ComputeForkDataRoot(v, gvr)
	var d Domain
	copy(d[:4], dt[:])
	copy(d[4:], fdr[:28])
	return d
}

// Domain returns the domain of type dt for a message about epoch. It uses
// the version of the fork in effect at epoch and the chain's genesis
// validators root, with the exceptions of the specs:
//
//   - DomainDeposit and DomainApplicationBuilder use GenesisForkVersion and a
//     zero genesis validators root, so they are valid on every fork;
//   - DomainVoluntaryExit at an epoch in Deneb or later is pinned to the
//     Capella fork version (EIP-7044), so exits signed once stay valid.
//
// Before Deneb an exit is signed with the version of the fork at its epoch;
// sign exits with a recent epoch, as the consensus specs only accept the
// previous and current fork versions there.
func (s *Spec) Domain(dt DomainType, epoch uint64) Domain {
	switch dt {
	case DomainDeposit, DomainApplicationBuilder:
		return ComputeDomain(dt, s.GenesisForkVersion, Root{})
	case DomainVoluntaryExit:
		if s.IsForkActive(ForkDeneb, epoch) {
			if capella, ok := s.forkByName(ForkCapella); ok {
				return ComputeDomain(dt, capella.Version, s.GenesisValidatorsRoot)
			}
		}
	}
	return ComputeDomain(dt, s.ForkAtEpoch(epoch).Version, s.GenesisValidatorsRoot)
}

// ComputeSigningRoot returns hash_tree_root(SigningData(hash_tree_root(obj), d))
// (compute_signing_root).
func ComputeSigningRoot(obj interface{ HashTreeRoot() ([32]byte, error) }, d Domain) (Root, error) {
	if isNil(obj) {
		return Root{}, fmt.Errorf("compute signing root: %w", ErrNilObject)
	}
	r, err := obj.HashTreeRoot()
	if err != nil {
		return Root{}, fmt.Errorf("compute signing root: hash tree root: %w", err)
	}
	return signingRoot(r, d), nil
}

// signingRoot returns hash_tree_root(SigningData(objectRoot, d)).
func signingRoot(objectRoot [32]byte, d Domain) Root {
	return hashChunks(objectRoot, d)
}

// isNil reports whether v is nil or a nil pointer held in an interface.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}
