package threshold

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"

	blst "github.com/supranational/blst/bindings/go"
)

// randBits is the size of the random scalars used by batch verification: a
// forged batch passes with probability about 2^-64.
const randBits = 64

// g1Affine and negG1Affine are the G1 generator and its negation.
var g1Affine, negG1Affine = func() (blst.P1Affine, blst.P1Affine) {
	g := *blst.P1Generator().ToAffine()
	c := g.Compress()
	c[0] ^= 0x20 // flip the sign flag of the compressed encoding: -G
	var n blst.P1Affine
	if n.Uncompress(c) == nil {
		panic("threshold: cannot negate the G1 generator")
	}
	return g, n
}()

// pairingCheck reports whether e(pk, q) == e(G1, sig), computed as one
// shared Miller loop over (pk, q) and (-G1, sig) and one final
// exponentiation.
func pairingCheck(pk *blst.P1Affine, q *blst.P2Affine, sig *blst.P2Affine) bool {
	ml := blst.Fp12MillerLoopN([]blst.P2Affine{*q, *sig}, []blst.P1Affine{*pk, negG1Affine})
	ml.FinalExp()
	one := blst.Fp12One()
	return ml.Equals(&one)
}

// VerifyHashed reports whether sig is a valid signature under pk of the
// message h was hashed from.
func VerifyHashed(pk *PublicKey, h *HashedMessage, sig *Signature) bool {
	if !pk.valid() || h == nil || sig == nil {
		return false
	}
	return pairingCheck(&pk.p, &h.aff, &sig.p)
}

// AggregateSignatures adds signatures into one. The result of an empty
// list is an error; the sum may be the point at infinity.
func AggregateSignatures(sigs []*Signature) (*Signature, error) {
	if len(sigs) == 0 {
		return nil, fmt.Errorf("aggregate signatures: %w", ErrEmpty)
	}
	var acc blst.P2
	for i, s := range sigs {
		if s == nil {
			return nil, fmt.Errorf("aggregate signatures: signature %d is nil: %w", i, ErrInvalidPoint)
		}
		acc.AddAssign(&s.p)
	}
	return &Signature{p: *acc.ToAffine()}, nil
}

// AggregatePublicKeys adds public keys into one. It fails on an empty list
// and when the sum is the point at infinity.
func AggregatePublicKeys(pks []*PublicKey) (*PublicKey, error) {
	if len(pks) == 0 {
		return nil, fmt.Errorf("aggregate public keys: %w", ErrEmpty)
	}
	var acc blst.P1
	for i, pk := range pks {
		if !pk.valid() {
			return nil, fmt.Errorf("aggregate public keys: key %d: %w", i, ErrInfinity)
		}
		acc.AddAssign(&pk.p)
	}
	out := &PublicKey{p: *acc.ToAffine()}
	if !out.valid() {
		return nil, fmt.Errorf("aggregate public keys: %w", ErrInfinity)
	}
	return out, nil
}

// FastAggregateVerify reports whether sig is the aggregate of signatures of
// the one message msg by every key in pks. An empty key list is invalid.
func FastAggregateVerify(pks []*PublicKey, msg []byte, sig *Signature) bool {
	if sig == nil {
		return false
	}
	agg, err := AggregatePublicKeys(pks)
	if err != nil {
		return false
	}
	return agg.Verify(msg, sig)
}

// AggregateVerify reports whether sig is the aggregate of the signatures of
// msgs[i] by pks[i]. Empty or mismatched lists are invalid.
func AggregateVerify(pks []*PublicKey, msgs [][]byte, sig *Signature) bool {
	if sig == nil || len(pks) == 0 || len(pks) != len(msgs) {
		return false
	}
	ps := make([]*blst.P1Affine, len(pks))
	ms := make([]blst.Message, len(msgs))
	for i, pk := range pks {
		if !pk.valid() {
			return false
		}
		ps[i] = &pk.p
		ms[i] = msgs[i]
	}
	return sig.p.AggregateVerify(false, ps, false, ms, dstPOP)
}

// SignatureSet is one (public key, message, signature) triple of a batch.
type SignatureSet struct {
	PublicKey *PublicKey
	Message   []byte
	Signature *Signature
}

// randomScalar fills s with a non-zero random 64-bit value from crypto/rand.
func randomScalar(s *blst.Scalar) {
	var buf [32]byte
	for {
		_, _ = rand.Read(buf[:8]) // crypto/rand.Read never returns an error
		if binary.LittleEndian.Uint64(buf[:8]) != 0 {
			break
		}
	}
	s.FromLEndian(buf[:])
}

// BatchVerify reports whether every set in sets verifies, checking them
// together with random 64-bit scalars from crypto/rand: one Miller loop per
// set and a single final exponentiation. A false result says at least one
// set is invalid, not which; verify them one by one to find it. An empty
// batch is invalid.
func BatchVerify(sets []SignatureSet) bool {
	if len(sets) == 0 {
		return false
	}
	sigs := make([]*blst.P2Affine, len(sets))
	pks := make([]*blst.P1Affine, len(sets))
	msgs := make([]blst.Message, len(sets))
	for i, s := range sets {
		if !s.PublicKey.valid() || s.Signature == nil {
			return false
		}
		sigs[i], pks[i], msgs[i] = &s.Signature.p, &s.PublicKey.p, s.Message
	}
	return new(blst.P2Affine).MultipleAggregateVerify(sigs, false, pks, false, msgs, dstPOP, randomScalar, randBits)
}

// randomScalars returns n non-zero random 64-bit scalars, packed little-endian.
func randomScalars(n int) []byte {
	b := make([]byte, n*8)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	for i := 0; i < n; i++ {
		for binary.LittleEndian.Uint64(b[i*8:]) == 0 {
			_, _ = rand.Read(b[i*8 : i*8+8])
		}
	}
	return b
}

// VerifySameMessage reports whether sigs[i] is a valid signature under
// pks[i] of the message h was hashed from, for every i. It draws random
// 64-bit scalars r_i and checks e(Σ r_i·sigs[i], G1) == e(h, Σ r_i·pks[i]):
// two multi-scalar multiplications and one two-pair pairing check, whatever
// the number of signers. Empty or mismatched lists are invalid.
func VerifySameMessage(h *HashedMessage, pks []*PublicKey, sigs []*Signature) bool {
	n := len(pks)
	if h == nil || n == 0 || len(sigs) != n {
		return false
	}
	ps := make([]*blst.P1Affine, n)
	ss := make([]*blst.P2Affine, n)
	for i := range pks {
		if !pks[i].valid() || sigs[i] == nil {
			return false
		}
		ps[i], ss[i] = &pks[i].p, &sigs[i].p
	}
	if n == 1 {
		return pairingCheck(ps[0], &h.aff, ss[0])
	}
	r := randomScalars(n)
	aggPK := blst.P1AffinesMult(ps, r, randBits).ToAffine()
	aggSig := blst.P2AffinesMult(ss, r, randBits).ToAffine()
	return pairingCheck(aggPK, &h.aff, aggSig)
}
