package threshold

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"testing"
)

// The naive model: polynomial interpolation at zero over Fr with math/big,
// written independently of the package's cached integer coefficients.

func bigOf(sk *SecretKey) *big.Int {
	b := sk.Bytes()
	defer clear(b)
	return new(big.Int).SetBytes(b)
}

// modelLagrange returns λ_i = Π_{j≠i} x_j / (x_j − x_i) mod r for each x_i.
func modelLagrange(xs []uint32) []*big.Int {
	out := make([]*big.Int, len(xs))
	for i, xi := range xs {
		num, den := big.NewInt(1), big.NewInt(1)
		for j, xj := range xs {
			if i == j {
				continue
			}
			num.Mul(num, big.NewInt(int64(xj)))
			num.Mod(num, groupOrder)
			d := big.NewInt(int64(xj) - int64(xi))
			den.Mul(den, d.Mod(d, groupOrder))
			den.Mod(den, groupOrder)
		}
		den.ModInverse(den, groupOrder)
		out[i] = num.Mul(num, den).Mod(num, groupOrder)
	}
	return out
}

// modelInterpolate returns Σ λ_i·y_i mod r for the given shares.
func modelInterpolate(shares []SecretShare) *big.Int {
	xs := make([]uint32, len(shares))
	for i, s := range shares {
		xs[i] = s.Index
	}
	lams := modelLagrange(xs)
	acc := new(big.Int)
	for i, s := range shares {
		acc.Add(acc, new(big.Int).Mul(lams[i], bigOf(s.Key)))
	}
	return acc.Mod(acc, groupOrder)
}

// subsets calls fn with every k-subset of 1..n (as positions 0..n-1).
func subsets(n, k int, fn func([]int)) {
	var rec func(start int, cur []int)
	rec = func(start int, cur []int) {
		if len(cur) == k {
			fn(append([]int(nil), cur...))
			return
		}
		for i := start; i < n; i++ {
			rec(i+1, append(cur, i))
		}
	}
	rec(0, nil)
}

func mustKey(t testing.TB) *SecretKey {
	t.Helper()
	sk, err := GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return sk
}

// checkSplit runs every property for one (t, n) split. With all set, every
// t-subset and every (t-1)-subset is checked; otherwise a few random ones.
func checkSplit(t *testing.T, tt, n int, all bool, rng *mrand.Rand) {
	sk := mustKey(t)
	skBig := bigOf(sk)
	shares, comms, err := Split(sk, tt, n, rand.Reader)
	if err != nil {
		t.Fatalf("Split(%d, %d): %v", tt, n, err)
	}
	if len(shares) != n || comms.Threshold() != tt {
		t.Fatalf("got %d shares, threshold %d; want %d, %d", len(shares), comms.Threshold(), n, tt)
	}
	if !comms.GroupPublicKey().Equal(sk.PublicKey()) {
		t.Fatal("C_0 is not the public key of the split key")
	}
	for i, s := range shares {
		if s.Index != uint32(i+1) {
			t.Fatalf("share %d has index %d", i, s.Index)
		}
		if err := comms.VerifyShare(s); err != nil {
			t.Fatalf("VerifyShare(%d): %v", s.Index, err)
		}
		spk, err := comms.SharePublicKey(s.Index)
		if err != nil || !spk.Equal(s.Key.PublicKey()) {
			t.Fatalf("SharePublicKey(%d) = %v, %v; want the share's own key", s.Index, spk, err)
		}
	}
	// All shares lie on one polynomial of degree t-1: the first t predict the rest.
	if xs := shares[:tt]; n > tt {
		idx := make([]uint32, tt)
		for i, s := range xs {
			idx[i] = s.Index
		}
		for _, other := range shares[tt:] {
			// Lagrange basis at x = other.Index.
			acc := new(big.Int)
			for i, s := range xs {
				num, den := big.NewInt(1), big.NewInt(1)
				for j, sj := range xs {
					if i == j {
						continue
					}
					num.Mul(num, big.NewInt(int64(other.Index)-int64(sj.Index)))
					den.Mul(den, big.NewInt(int64(s.Index)-int64(sj.Index)))
				}
				num.Mod(num, groupOrder)
				den.Mod(den, groupOrder).ModInverse(den, groupOrder)
				acc.Add(acc, num.Mul(num, den).Mul(num, bigOf(s.Key)))
			}
			if acc.Mod(acc, groupOrder).Cmp(bigOf(other.Key)) != 0 {
				t.Fatalf("share %d is not on the degree-%d polynomial through the first %d", other.Index, tt-1, tt)
			}
		}
	}

	msg := []byte(fmt.Sprintf("phalanx %d-of-%d", tt, n))
	h := HashMessage(msg)
	want := sk.Sign(msg)
	gpk := comms.GroupPublicKey()
	parts := make([]PartialSignature, n)
	sharePKs := make(map[uint32]*PublicKey, n)
	for i := range shares {
		parts[i] = shares[i].SignHashed(h)
		sharePKs[shares[i].Index] = shares[i].Key.PublicKey()
	}

	pick := func(pos []int) ([]PartialSignature, []SecretShare) {
		p := make([]PartialSignature, len(pos))
		s := make([]SecretShare, len(pos))
		for i, k := range pos {
			p[i], s[i] = parts[k], shares[k]
		}
		// Order must not matter.
		rng.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i]; s[i], s[j] = s[j], s[i] })
		return p, s
	}
	checkFull := func(pos []int) {
		p, s := pick(pos)
		got, err := Recombine(p, tt)
		if err != nil {
			t.Fatalf("Recombine %v: %v", pos, err)
		}
		if !got.Equal(want) {
			t.Fatalf("Recombine %v = %v, want the unsplit signature %v", pos, got, want)
		}
		if !gpk.Verify(msg, got) || !VerifyHashed(gpk, h, got) {
			t.Fatalf("Recombine %v does not verify under the group key", pos)
		}
		if v, err := RecombineVerified(h, p, tt, gpk, sharePKs); err != nil || !v.Equal(want) {
			t.Fatalf("RecombineVerified %v = %v, %v", pos, v, err)
		}
		key, err := RecombineSecret(s, tt)
		if err != nil {
			t.Fatalf("RecombineSecret %v: %v", pos, err)
		}
		if bigOf(key).Cmp(skBig) != 0 || modelInterpolate(s).Cmp(skBig) != 0 {
			t.Fatalf("secret recombination of %v does not give the key", pos)
		}
		// The cached coefficients agree with the model.
		l := lagrangeFor(maskOf(p))
		xs := make([]uint32, 0, tt)
		for x := uint32(1); x <= MaxShares; x++ {
			if l.mask&(1<<x) != 0 {
				xs = append(xs, x)
			}
		}
		for i, lam := range modelLagrange(xs) {
			if new(big.Int).SetBytes(l.full[i].Serialize()).Cmp(lam) != 0 {
				t.Fatalf("cached λ for index %d of %v differs from the model", xs[i], xs)
			}
		}
	}
	checkShort := func(pos []int) {
		p, s := pick(pos)
		if _, err := Recombine(p, tt); !errors.Is(err, ErrTooFewShares) {
			t.Fatalf("Recombine of %d parts with t=%d: err = %v, want ErrTooFewShares", len(p), tt, err)
		}
		if _, err := RecombineSecret(s, tt); !errors.Is(err, ErrTooFewShares) {
			t.Fatalf("RecombineSecret of %d shares with t=%d: err = %v, want ErrTooFewShares", len(s), tt, err)
		}
		if len(s) > 0 && modelInterpolate(s).Cmp(skBig) == 0 {
			t.Fatalf("interpolating %d shares of a %d-of-%d split gave the key", len(s), tt, n)
		}
		if len(p) > 0 {
			// Forcing a lower threshold interpolates the wrong polynomial.
			if got, err := Recombine(p, len(p)); err != nil || got.Equal(want) || gpk.Verify(msg, got) {
				t.Fatalf("Recombine of %d parts with t=%d verified (err %v)", len(p), len(p), err)
			}
		}
	}
	if all {
		subsets(n, tt, checkFull)
		subsets(n, tt-1, checkShort)
		return
	}
	for k := 0; k < 3; k++ {
		perm := rng.Perm(n)
		checkFull(perm[:tt])
		checkShort(perm[:tt-1])
	}
}

func maskOf(parts []PartialSignature) uint32 {
	var m uint32
	for _, p := range parts {
		m |= 1 << p.Index
	}
	return m
}

func TestThresholdExhaustiveSmall(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	for n := 1; n <= 5; n++ {
		for tt := 1; tt <= n; tt++ {
			t.Run(fmt.Sprintf("%d-of-%d", tt, n), func(t *testing.T) { checkSplit(t, tt, n, true, rng) })
		}
	}
}

func TestThresholdRandomLarge(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(3, 4))
	rounds := 12
	if testing.Short() {
		rounds = 4
	}
	for k := 0; k < rounds; k++ {
		n := 6 + rng.IntN(MaxShares-5)
		tt := 1 + rng.IntN(n)
		t.Run(fmt.Sprintf("%d-of-%d", tt, n), func(t *testing.T) { checkSplit(t, tt, n, false, rng) })
	}
	t.Run("16-of-16", func(t *testing.T) { checkSplit(t, 16, 16, false, rng) })
}

// TestLagrangeAllSets checks the cached integer coefficients of every index
// set of size 1..16 against the model: Σ N_i·D^-1 must equal λ_i mod r.
func TestLagrangeAllSets(t *testing.T) {
	step := uint32(1)
	if testing.Short() {
		step = 7
	}
	for m := uint32(1); m < 1<<MaxShares; m += step {
		mask := m << 1
		l := computeLagrange(mask)
		var xs []uint32
		for x := uint32(1); x <= MaxShares; x++ {
			if mask&(1<<x) != 0 {
				xs = append(xs, x)
			}
		}
		dInv := big.NewInt(1)
		if l.dInv != nil {
			dInv.SetBytes(l.dInv.Serialize())
		}
		for i, lam := range modelLagrange(xs) {
			le := append([]byte(nil), l.num[i]...)
			for a, b := 0, len(le)-1; a < b; a, b = a+1, b-1 {
				le[a], le[b] = le[b], le[a]
			}
			n := new(big.Int).SetBytes(le)
			if n.BitLen() != l.nbits[i] {
				t.Fatalf("set %v: nbits %d for |N|=%v", xs, l.nbits[i], n)
			}
			if l.neg[i] {
				n.Neg(n)
			}
			got := n.Mul(n, dInv)
			if got.Mod(got, groupOrder).Cmp(lam) != 0 {
				t.Fatalf("set %v index %d: N·D^-1 != λ", xs, xs[i])
			}
		}
	}
}
