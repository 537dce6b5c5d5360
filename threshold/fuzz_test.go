package threshold

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"
)

func fuzzSeeds(f *testing.F, size int, valid ...[]byte) {
	for _, v := range valid {
		f.Add(v)
	}
	inf := make([]byte, size)
	inf[0] = 0xc0
	f.Add(inf)
	f.Add(make([]byte, size))
	f.Add(bytes.Repeat([]byte{0xff}, size))
	f.Add([]byte{})
	f.Add(make([]byte, size+1))
}

func FuzzPublicKeyFromBytes(f *testing.F) {
	sk, _ := GenerateSecretKey(rand.Reader)
	fuzzSeeds(f, PublicKeySize, sk.PublicKey().Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		pk, err := PublicKeyFromBytes(b)
		if err != nil {
			return
		}
		if !bytes.Equal(pk.Bytes(), b) {
			t.Fatalf("round trip %x -> %x", b, pk.Bytes())
		}
		again, err := PublicKeyFromBytes(pk.Bytes())
		if err != nil || !again.Equal(pk) {
			t.Fatalf("re-decode: %v", err)
		}
		if pk.String() != "0x"+hex.EncodeToString(b) {
			t.Fatalf("String = %s", pk)
		}
	})
}

func FuzzSignatureFromBytes(f *testing.F) {
	sk, _ := GenerateSecretKey(rand.Reader)
	fuzzSeeds(f, SignatureSize, sk.Sign([]byte("seed")).Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		sig, err := SignatureFromBytes(b)
		if err != nil {
			return
		}
		if !bytes.Equal(sig.Bytes(), b) {
			t.Fatalf("round trip %x -> %x", b, sig.Bytes())
		}
		again, err := SignatureFromBytes(sig.Bytes())
		if err != nil || !again.Equal(sig) {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func FuzzSecretKeyFromBytes(f *testing.F) {
	sk, _ := GenerateSecretKey(rand.Reader)
	fuzzSeeds(f, SecretKeySize, sk.Bytes(), groupOrder.FillBytes(make([]byte, 32)),
		new(big.Int).Sub(groupOrder, big.NewInt(1)).FillBytes(make([]byte, 32)))
	f.Fuzz(func(t *testing.T, b []byte) {
		sk, err := SecretKeyFromBytes(b)
		if err != nil {
			if len(b) > 4 && strings.Contains(err.Error(), hex.EncodeToString(b)) {
				t.Fatalf("error reveals the input: %v", err)
			}
			return
		}
		v := new(big.Int).SetBytes(b)
		if len(b) != 32 || v.Sign() == 0 || v.Cmp(groupOrder) >= 0 {
			t.Fatalf("accepted out-of-range key of %d bytes", len(b))
		}
		if !bytes.Equal(sk.Bytes(), b) {
			t.Fatal("round trip differs")
		}
	})
}

func FuzzCommitmentsFromBytes(f *testing.F) {
	sk, _ := GenerateSecretKey(rand.Reader)
	_, comms, _ := Split(sk, 3, 5, rand.Reader)
	fuzzSeeds(f, PublicKeySize, comms.Bytes(), comms.Bytes()[:PublicKeySize])
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := CommitmentsFromBytes(b)
		if err != nil {
			return
		}
		if c.Threshold() != len(b)/PublicKeySize || c.Threshold() < 1 || c.Threshold() > MaxShares {
			t.Fatalf("threshold %d from %d bytes", c.Threshold(), len(b))
		}
		if !bytes.Equal(c.Bytes(), b) {
			t.Fatal("round trip differs")
		}
		if _, err := c.SharePublicKey(1); err != nil && c.Threshold() == 1 {
			t.Fatalf("t=1 share key: %v", err)
		}
	})
}
