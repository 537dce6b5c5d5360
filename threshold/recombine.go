package threshold

import (
	"errors"
	"fmt"
	"math/big"
	"math/bits"
	"slices"
	"sync"

	blst "github.com/supranational/blst/bindings/go"
)

// ErrInvalidSignature reports a recombined signature that does not verify
// under the group public key although every partial signature verifies under
// its share public key: the share public keys do not belong to that group key.
var ErrInvalidSignature = errors.New("threshold: recombined signature does not verify under the group public key")

// groupOrder is r, the order of G1 and G2.
var groupOrder, _ = new(big.Int).SetString("73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001", 16)

// lagrange holds the Lagrange coefficients at x = 0 for one set of share
// indices. They are public values derived from the indices alone.
//
// λ_i = Π_{j≠i} x_j/(x_j − x_i) is written as N_i/D with integers N_i and the
// least common denominator D > 0. The signature is recombined as
// D^-1·Σ N_i·σ_i: the N_i have a few dozen bits at most, so each term is a
// short scalar multiplication, and the one full-size multiplication by D^-1
// is skipped when D = 1 (as it is for two of the three pairs of a 2-of-3
// split).
type lagrange struct {
	mask  uint32         // bit x set for every index x of the set
	num   [][]byte       // |N_i|, little-endian, in ascending index order
	nbits []int          // bit length of |N_i|
	neg   []bool         // N_i < 0
	dInv  *blst.Scalar   // D^-1 mod r, nil when D = 1
	full  []*blst.Scalar // λ_i mod r, for recombining secret shares
}

// position returns the rank of index among the set's indices.
func (l *lagrange) position(index uint32) int {
	return bits.OnesCount32(l.mask & (1<<index - 1))
}

// lagrangeCache maps an index-set bit mask to its *lagrange. There are at
// most 2^16 sets, each computed once.
var lagrangeCache sync.Map

// lagrangeFor returns the cached coefficients of the index set mask.
func lagrangeFor(mask uint32) *lagrange {
	if l, ok := lagrangeCache.Load(mask); ok {
		return l.(*lagrange)
	}
	l, _ := lagrangeCache.LoadOrStore(mask, computeLagrange(mask))
	return l.(*lagrange)
}

// scalarFromBig converts 0 < v < r to a blst scalar.
func scalarFromBig(v *big.Int) *blst.Scalar {
	var buf [32]byte
	v.FillBytes(buf[:])
	s := new(blst.Scalar).Deserialize(buf[:])
	if s == nil {
		panic("threshold: Lagrange coefficient out of range")
	}
	return s
}

func computeLagrange(mask uint32) *lagrange {
	var xs []int64
	for x := uint32(1); x <= MaxShares; x++ {
		if mask&(1<<x) != 0 {
			xs = append(xs, int64(x))
		}
	}
	t := len(xs)
	lams := make([]*big.Rat, t)
	d := big.NewInt(1)
	for i, xi := range xs {
		num, den := big.NewInt(1), big.NewInt(1)
		for j, xj := range xs {
			if j == i {
				continue
			}
			num.Mul(num, big.NewInt(xj))
			den.Mul(den, big.NewInt(xj-xi))
		}
		lams[i] = new(big.Rat).SetFrac(num, den)
		// d = lcm(d, denominator)
		g := new(big.Int).GCD(nil, nil, d, lams[i].Denom())
		d.Mul(d, new(big.Int).Quo(lams[i].Denom(), g))
	}
	l := &lagrange{
		mask:  mask,
		num:   make([][]byte, t),
		nbits: make([]int, t),
		neg:   make([]bool, t),
		full:  make([]*blst.Scalar, t),
	}
	dInv := new(big.Int).ModInverse(d, groupOrder)
	if d.Cmp(big.NewInt(1)) != 0 {
		l.dInv = scalarFromBig(dInv)
	}
	for i, lam := range lams {
		n := new(big.Int).Mul(lam.Num(), d)
		n.Quo(n, lam.Denom())
		l.neg[i] = n.Sign() < 0
		abs := new(big.Int).Abs(n)
		be := abs.Bytes()
		slices.Reverse(be)
		l.num[i], l.nbits[i] = be, abs.BitLen()
		full := new(big.Int).Mul(n, dInv)
		l.full[i] = scalarFromBig(full.Mod(full, groupOrder))
	}
	return l
}

// selectParts returns the first t partial signatures with distinct indices
// and the bit mask of their indices. A repeat of an index with the same
// signature is skipped (shares may be delivered twice); a repeat with a
// different signature is ErrDuplicateIndex.
func selectParts(parts []PartialSignature, t int) ([]PartialSignature, uint32, error) {
	if t < 1 || t > MaxShares {
		return nil, 0, fmt.Errorf("recombine with threshold %d: %w", t, ErrThreshold)
	}
	var seen [MaxShares + 1]*Signature
	var mask uint32
	used := make([]PartialSignature, 0, t)
	for _, p := range parts {
		if len(used) == t {
			break
		}
		if err := checkIndex(p.Index); err != nil {
			return nil, 0, fmt.Errorf("recombine: %w", err)
		}
		if p.Signature == nil {
			return nil, 0, fmt.Errorf("recombine: partial signature %d: %w", p.Index, ErrMissing)
		}
		if prev := seen[p.Index]; prev != nil {
			if prev.Equal(p.Signature) {
				continue
			}
			return nil, 0, fmt.Errorf("recombine: partial signature %d: %w", p.Index, ErrDuplicateIndex)
		}
		seen[p.Index] = p.Signature
		mask |= 1 << p.Index
		used = append(used, p)
	}
	if len(used) < t {
		return nil, 0, fmt.Errorf("recombine: %d distinct partial signatures, threshold %d: %w", len(used), t, ErrTooFewShares)
	}
	return used, mask, nil
}

// Recombine interpolates t partial signatures of one message into the
// signature of the unsplit key. It uses exactly t: the first t distinct
// indices of parts, in order. Fewer than t distinct indices give
// ErrTooFewShares, an index outside 1..MaxShares ErrIndexOutOfRange, two
// different signatures with one index ErrDuplicateIndex. Recombine does not
// verify: a bad partial signature yields a wrong result; see RecombineVerified.
func Recombine(parts []PartialSignature, t int) (*Signature, error) {
	used, mask, err := selectParts(parts, t)
	if err != nil {
		return nil, err
	}
	l := lagrangeFor(mask)
	var pos, neg blst.P2
	hasNeg := false
	for _, p := range used {
		k := l.position(p.Index)
		acc := &pos
		if l.neg[k] {
			acc, hasNeg = &neg, true
		}
		if l.nbits[k] == 1 {
			acc.AddAssign(&p.Signature.p)
		} else {
			acc.MultNAccumulate(&p.Signature.p, l.num[k], l.nbits[k])
		}
	}
	if hasNeg {
		pos.SubAssign(&neg)
	}
	if l.dInv != nil {
		pos.MultAssign(l.dInv)
	}
	return &Signature{p: *pos.ToAffine()}, nil
}

// RecombineSecret interpolates t secret shares into the unsplit secret key,
// under the same selection rules as Recombine. It exists for break-glass
// recovery; normal operation never rebuilds a key.
func RecombineSecret(shares []SecretShare, t int) (*SecretKey, error) {
	if t < 1 || t > MaxShares {
		return nil, fmt.Errorf("recombine secret with threshold %d: %w", t, ErrThreshold)
	}
	var seen [MaxShares + 1]*SecretKey
	var mask uint32
	used := make([]SecretShare, 0, t)
	for _, s := range shares {
		if len(used) == t {
			break
		}
		if err := checkIndex(s.Index); err != nil {
			return nil, fmt.Errorf("recombine secret: %w", err)
		}
		if s.Key == nil || s.Key.s == nil {
			return nil, fmt.Errorf("recombine secret: share %d: %w", s.Index, ErrMissing)
		}
		if prev := seen[s.Index]; prev != nil {
			if prev.s.Equals(s.Key.s) {
				continue
			}
			return nil, fmt.Errorf("recombine secret: share %d: %w", s.Index, ErrDuplicateIndex)
		}
		seen[s.Index] = s.Key
		mask |= 1 << s.Index
		used = append(used, s)
	}
	if len(used) < t {
		return nil, fmt.Errorf("recombine secret: %d distinct shares, threshold %d: %w", len(used), t, ErrTooFewShares)
	}
	l := lagrangeFor(mask)
	acc := new(blst.Scalar)
	for _, s := range used {
		term, _ := l.full[l.position(s.Index)].Mul(s.Key.s)
		acc.AddAssign(term)
		term.Zeroize()
	}
	if !acc.Valid() {
		acc.Zeroize()
		return nil, fmt.Errorf("recombine secret: %w", ErrInvalidSecretKey)
	}
	return &SecretKey{s: acc}, nil
}

// FindBadShares returns, in ascending order, the indices of the partial
// signatures that do not verify under their share public key (a part whose
// index has no key in sharePKs, or whose signature is nil, is bad too). It
// first checks all of them in one same-message batch and only verifies them
// one by one when the batch fails.
func FindBadShares(h *HashedMessage, parts []PartialSignature, sharePKs map[uint32]*PublicKey) []uint32 {
	var bad []uint32
	pks := make([]*PublicKey, 0, len(parts))
	sigs := make([]*Signature, 0, len(parts))
	idx := make([]uint32, 0, len(parts))
	for _, p := range parts {
		pk := sharePKs[p.Index]
		if !pk.valid() || p.Signature == nil || !p.Signature.InSubgroup() {
			bad = append(bad, p.Index)
			continue
		}
		pks, sigs, idx = append(pks, pk), append(sigs, p.Signature), append(idx, p.Index)
	}
	if len(idx) > 0 && !VerifySameMessage(h, pks, sigs) {
		for i := range idx {
			if !VerifyHashed(pks[i], h, sigs[i]) {
				bad = append(bad, idx[i])
			}
		}
	}
	slices.Sort(bad)
	return slices.Compact(bad)
}

// RecombineVerified recombines like Recombine and verifies the result under
// groupPK. Only when that fails does it check the partial signatures it used
// one by one against sharePKs; it then returns a *BadShareError naming the
// lowest bad index (drop that share and call again once another arrives).
// If every used share verifies but the result does not, the error is
// ErrInvalidSignature.
func RecombineVerified(h *HashedMessage, parts []PartialSignature, t int, groupPK *PublicKey, sharePKs map[uint32]*PublicKey) (*Signature, error) {
	if h == nil || !groupPK.valid() {
		return nil, fmt.Errorf("recombine verified: message or group public key: %w", ErrMissing)
	}
	used, _, err := selectParts(parts, t)
	if err != nil {
		return nil, err
	}
	sig, err := Recombine(used, t)
	if err != nil {
		return nil, err
	}
	if VerifyHashed(groupPK, h, sig) {
		return sig, nil
	}
	if bad := FindBadShares(h, used, sharePKs); len(bad) > 0 {
		return nil, &BadShareError{Index: bad[0]}
	}
	return nil, ErrInvalidSignature
}
