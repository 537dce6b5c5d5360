package threshold

import (
	"crypto/rand"
	"fmt"
	"testing"

	blst "github.com/supranational/blst/bindings/go"
)

// Each benchmark of the package sits next to the bare blst call it wraps,
// measured in the same run.

var benchMsg = []byte("phalanx benchmark signing root..")

func benchKey(b *testing.B) *SecretKey {
	b.Helper()
	sk, err := GenerateSecretKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	return sk
}

func BenchmarkSign(b *testing.B) {
	sk := benchKey(b)
	for b.Loop() {
		sk.Sign(benchMsg)
	}
}

func BenchmarkBareBlstSign(b *testing.B) {
	sk := benchKey(b)
	for b.Loop() {
		new(blst.P2Affine).Sign(sk.s, benchMsg, dstPOP)
	}
}

func BenchmarkSignHashed(b *testing.B) {
	sk := benchKey(b)
	h := HashMessage(benchMsg)
	for b.Loop() {
		sk.SignHashed(h)
	}
}

// BenchmarkBareG2ScalarMult is a full-size scalar multiplication in G2 with
// conversion to affine: the floor for signing a hashed message.
func BenchmarkBareG2ScalarMult(b *testing.B) {
	sk := benchKey(b)
	q := blst.HashToG2(benchMsg, dstPOP)
	for b.Loop() {
		q.Mult(sk.s).ToAffine()
	}
}

func BenchmarkHashMessage(b *testing.B) {
	for b.Loop() {
		HashMessage(benchMsg)
	}
}

func BenchmarkBareBlstHashToG2(b *testing.B) {
	for b.Loop() {
		blst.HashToG2(benchMsg, dstPOP).ToAffine()
	}
}

func BenchmarkVerify(b *testing.B) {
	sk := benchKey(b)
	pk, sig := sk.PublicKey(), sk.Sign(benchMsg)
	for b.Loop() {
		if !pk.Verify(benchMsg, sig) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkVerifyHashed(b *testing.B) {
	sk := benchKey(b)
	pk, sig, h := sk.PublicKey(), sk.Sign(benchMsg), HashMessage(benchMsg)
	for b.Loop() {
		if !VerifyHashed(pk, h, sig) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkBareBlstVerify(b *testing.B) {
	sk := benchKey(b)
	pk, sig := sk.PublicKey(), sk.Sign(benchMsg)
	for b.Loop() {
		if !sig.p.Verify(false, &pk.p, false, benchMsg, dstPOP) {
			b.Fatal("invalid")
		}
	}
}

// recombineSetup splits a key t-of-n and signs the benchmark message with
// every share.
func recombineSetup(b *testing.B, t, n int) ([]PartialSignature, *Signature) {
	b.Helper()
	sk := benchKey(b)
	shares, _, err := Split(sk, t, n, rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	h := HashMessage(benchMsg)
	parts := make([]PartialSignature, n)
	for i := range shares {
		parts[i] = shares[i].SignHashed(h)
	}
	return parts, sk.SignHashed(h)
}

// benchRecombine runs Recombine for every t-subset of the shares, one
// sub-benchmark per subset, plus the bare-blst baseline for the same subset:
// a multi-scalar multiplication with the full Lagrange coefficients mod r.
func benchRecombine(b *testing.B, t, n int) {
	parts, want := recombineSetup(b, t, n)
	subsets(n, t, func(pos []int) {
		sel := make([]PartialSignature, t)
		name := "set="
		for i, k := range pos {
			sel[i] = parts[k]
			if i > 0 {
				name += ","
			}
			name += fmt.Sprint(parts[k].Index)
		}
		if got, err := Recombine(sel, t); err != nil || !got.Equal(want) {
			b.Fatalf("%s: wrong recombination: %v", name, err)
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Recombine(sel, t); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/bare-msm", func(b *testing.B) {
			xs := make([]uint32, t)
			pts := make([]*blst.P2Affine, t)
			for i, p := range sel {
				xs[i], pts[i] = p.Index, &p.Signature.p
			}
			lams := modelLagrange(xs)
			scalars := make([]*blst.Scalar, t)
			for i, l := range lams {
				scalars[i] = scalarFromBig(l)
			}
			if !(&Signature{p: *blst.P2AffinesMult(pts, scalars, 255).ToAffine()}).Equal(want) {
				b.Fatal("baseline disagrees")
			}
			for b.Loop() {
				blst.P2AffinesMult(pts, scalars, 255).ToAffine()
			}
		})
	})
}

func BenchmarkRecombine2of3(b *testing.B) { benchRecombine(b, 2, 3) }
func BenchmarkRecombine3of5(b *testing.B) { benchRecombine(b, 3, 5) }

// sameMessageSetup makes n signers' keys and signatures of one message.
func sameMessageSetup(b *testing.B, n int) (*HashedMessage, []*PublicKey, []*Signature) {
	h := HashMessage(benchMsg)
	pks := make([]*PublicKey, n)
	sigs := make([]*Signature, n)
	for i := range pks {
		sk := benchKey(b)
		pks[i], sigs[i] = sk.PublicKey(), sk.SignHashed(h)
	}
	return h, pks, sigs
}

func BenchmarkVerifySameMessage64(b *testing.B) {
	h, pks, sigs := sameMessageSetup(b, 64)
	for b.Loop() {
		if !VerifySameMessage(h, pks, sigs) {
			b.Fatal("invalid")
		}
	}
}

// BenchmarkBareBlstMultipleAggregateVerify64 is blst's own random-scalar
// batch verification of the same 64 (key, message, signature) sets: one
// Miller loop per set.
func BenchmarkBareBlstMultipleAggregateVerify64(b *testing.B) {
	_, pks, sigs := sameMessageSetup(b, 64)
	ps := make([]*blst.P1Affine, len(pks))
	ss := make([]*blst.P2Affine, len(sigs))
	ms := make([]blst.Message, len(pks))
	for i := range pks {
		ps[i], ss[i], ms[i] = &pks[i].p, &sigs[i].p, benchMsg
	}
	for b.Loop() {
		if !new(blst.P2Affine).MultipleAggregateVerify(ss, false, ps, false, ms, dstPOP, randomScalar, randBits) {
			b.Fatal("invalid")
		}
	}
}

// BenchmarkBareBlstVerify64 verifies the 64 signatures one by one.
func BenchmarkBareBlstVerify64(b *testing.B) {
	_, pks, sigs := sameMessageSetup(b, 64)
	for b.Loop() {
		for i := range pks {
			if !sigs[i].p.Verify(false, &pks[i].p, false, benchMsg, dstPOP) {
				b.Fatal("invalid")
			}
		}
	}
}
