package threshold

import (
	"crypto/rand"
	"encoding/hex"
	"testing"
)

// TestPartialSignatureSubgroup: partial signatures decoded without the subgroup check recombine to the same
// signature, the result passes InSubgroup, and a share outside the subgroup is reported by FindBadShares.
func TestPartialSignatureSubgroup(t *testing.T) {
	sk, err := GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	shares, comms, err := Split(sk, 2, 3, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h := HashMessage([]byte("partial"))
	var parts []PartialSignature
	for _, s := range shares[:2] {
		p := s.SignHashed(h)
		dec, err := DecodePartialSignature(p.Signature.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, PartialSignature{Index: p.Index, Signature: dec})
	}
	sig, err := Recombine(parts, 2)
	if err != nil || !sig.InSubgroup() || !sig.Equal(sk.SignHashed(h)) {
		t.Fatalf("recombination of unchecked partials: %v", err)
	}
	if _, err := DecodePartialSignature(make([]byte, 95)); err == nil {
		t.Fatal("short input accepted")
	}
	bad := make([]byte, 96)
	bad[0] = 0x80 | 0x1f // compressed flag with an x that is not on the curve (or not canonical)
	for i := 1; i < 96; i++ {
		bad[i] = 0xff
	}
	if _, err := DecodePartialSignature(bad); err == nil {
		t.Fatal("invalid point accepted")
	}
	pks := map[uint32]*PublicKey{}
	for i := uint32(1); i <= 3; i++ {
		pks[i], _ = comms.SharePublicKey(i)
	}
	if got := FindBadShares(h, parts, pks); len(got) != 0 {
		t.Fatalf("good shares reported bad: %v", got)
	}
	// A point on the curve but outside G2 (from bls12-381-tests deserialization_fails_not_in_G2) decodes as a
	// partial signature, fails InSubgroup, and FindBadShares names it.
	notInG2, _ := hex.DecodeString("8123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	odd, err := DecodePartialSignature(notInG2)
	if err != nil {
		t.Fatalf("on-curve point rejected: %v", err)
	}
	if odd.InSubgroup() {
		t.Fatal("point outside G2 passes InSubgroup")
	}
	if _, err := SignatureFromBytes(notInG2); err == nil {
		t.Fatal("SignatureFromBytes accepted a point outside G2")
	}
	mixed := []PartialSignature{parts[0], {Index: 2, Signature: odd}}
	if sig, err := Recombine(mixed, 2); err == nil && sig.InSubgroup() {
		t.Fatal("recombination with an off-subgroup share is in the subgroup")
	}
	if got := FindBadShares(h, mixed, pks); len(got) != 1 || got[0] != 2 {
		t.Fatalf("FindBadShares = %v, want [2]", got)
	}
}

func FuzzDecodePartialSignature(f *testing.F) {
	sk, _ := GenerateSecretKey(rand.Reader)
	f.Add(sk.Sign([]byte("x")).Bytes())
	f.Add(make([]byte, 96))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodePartialSignature(b)
		if err != nil {
			return
		}
		if s.InSubgroup() {
			if _, err := SignatureFromBytes(b); err != nil {
				t.Fatalf("in-subgroup partial rejected by SignatureFromBytes: %v", err)
			}
		}
	})
}
