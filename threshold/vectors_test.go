package threshold

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// vectorDir returns ../shared/testdata/bls12-381-tests relative to the
// repository root (the directory holding go.mod), or skips the test.
func vectorDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("go.mod not found above the package directory; cannot locate ../shared/testdata")
		}
		dir = parent
	}
	vd := filepath.Join(dir, "..", "shared", "testdata", "bls12-381-tests")
	if _, err := os.Stat(vd); err != nil {
		t.Skipf("BLS test vectors not found at %s: %v", vd, err)
	}
	return vd
}

// forEachCase decodes every JSON case of a handler into a fresh value made
// by newCase and runs fn on it as a subtest.
func forEachCase[T any](t *testing.T, handler string, fn func(t *testing.T, c *T)) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(vectorDir(t), handler, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no %s vectors found", handler)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			c := new(T)
			if err := json.Unmarshal(raw, c); err != nil {
				t.Fatalf("decode %s: %v", f, err)
			}
			fn(t, c)
		})
	}
}

// unhex decodes hex with or without a 0x prefix.
func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// pubkeys decodes a list of public keys; ok is false if any fails to decode
// (the vectors then expect the operation to fail).
func pubkeys(t *testing.T, hs []string) ([]*PublicKey, bool) {
	pks := make([]*PublicKey, len(hs))
	for i, h := range hs {
		pk, err := PublicKeyFromBytes(unhex(t, h))
		if err != nil {
			return nil, false
		}
		pks[i] = pk
	}
	return pks, true
}

func TestVectorSign(t *testing.T) {
	type tc struct {
		Input struct {
			Privkey string `json:"privkey"`
			Message string `json:"message"`
		} `json:"input"`
		Output *string `json:"output"`
	}
	forEachCase(t, "sign", func(t *testing.T, c *tc) {
		sk, err := SecretKeyFromBytes(unhex(t, c.Input.Privkey))
		if c.Output == nil {
			if err == nil {
				t.Fatal("secret key accepted, vector expects failure")
			}
			return
		}
		if err != nil {
			t.Fatalf("SecretKeyFromBytes: %v", err)
		}
		msg := unhex(t, c.Input.Message)
		want := unhex(t, *c.Output)
		if got := sk.Sign(msg).Bytes(); !bytes.Equal(got, want) {
			t.Fatalf("Sign = %x, want %x", got, want)
		}
		if got := sk.SignHashed(HashMessage(msg)).Bytes(); !bytes.Equal(got, want) {
			t.Fatalf("SignHashed = %x, want %x", got, want)
		}
		if !sk.PublicKey().Verify(msg, sk.Sign(msg)) {
			t.Fatal("own signature does not verify")
		}
	})
}

func TestVectorVerify(t *testing.T) {
	type tc struct {
		Input struct {
			Pubkey    string `json:"pubkey"`
			Message   string `json:"message"`
			Signature string `json:"signature"`
		} `json:"input"`
		Output bool `json:"output"`
	}
	forEachCase(t, "verify", func(t *testing.T, c *tc) {
		got := func() bool {
			pk, err := PublicKeyFromBytes(unhex(t, c.Input.Pubkey))
			if err != nil {
				return false
			}
			sig, err := SignatureFromBytes(unhex(t, c.Input.Signature))
			if err != nil {
				return false
			}
			msg := unhex(t, c.Input.Message)
			v1 := pk.Verify(msg, sig)
			v2 := VerifyHashed(pk, HashMessage(msg), sig)
			v3 := VerifySameMessage(HashMessage(msg), []*PublicKey{pk, pk}, []*Signature{sig, sig})
			if v1 != v2 || v1 != v3 {
				t.Fatalf("Verify=%v VerifyHashed=%v VerifySameMessage=%v disagree", v1, v2, v3)
			}
			return v1
		}()
		if got != c.Output {
			t.Fatalf("verify = %v, want %v", got, c.Output)
		}
	})
}

func TestVectorAggregate(t *testing.T) {
	type tc struct {
		Input  []string `json:"input"`
		Output *string  `json:"output"`
	}
	forEachCase(t, "aggregate", func(t *testing.T, c *tc) {
		sigs := make([]*Signature, len(c.Input))
		for i, h := range c.Input {
			s, err := SignatureFromBytes(unhex(t, h))
			if err != nil {
				if c.Output != nil {
					t.Fatalf("signature %d: %v", i, err)
				}
				return
			}
			sigs[i] = s
		}
		agg, err := AggregateSignatures(sigs)
		if c.Output == nil {
			if err == nil {
				t.Fatalf("aggregate = %v, vector expects failure", agg)
			}
			return
		}
		if err != nil {
			t.Fatalf("AggregateSignatures: %v", err)
		}
		if want := unhex(t, *c.Output); !bytes.Equal(agg.Bytes(), want) {
			t.Fatalf("aggregate = %x, want %x", agg.Bytes(), want)
		}
	})
}

func TestVectorAggregateVerify(t *testing.T) {
	type tc struct {
		Input struct {
			Pubkeys   []string `json:"pubkeys"`
			Messages  []string `json:"messages"`
			Signature string   `json:"signature"`
		} `json:"input"`
		Output bool `json:"output"`
	}
	forEachCase(t, "aggregate_verify", func(t *testing.T, c *tc) {
		got := func() bool {
			pks, ok := pubkeys(t, c.Input.Pubkeys)
			if !ok {
				return false
			}
			sig, err := SignatureFromBytes(unhex(t, c.Input.Signature))
			if err != nil {
				return false
			}
			msgs := make([][]byte, len(c.Input.Messages))
			for i, m := range c.Input.Messages {
				msgs[i] = unhex(t, m)
			}
			return AggregateVerify(pks, msgs, sig)
		}()
		if got != c.Output {
			t.Fatalf("aggregate_verify = %v, want %v", got, c.Output)
		}
	})
}

func TestVectorFastAggregateVerify(t *testing.T) {
	type tc struct {
		Input struct {
			Pubkeys   []string `json:"pubkeys"`
			Message   string   `json:"message"`
			Signature string   `json:"signature"`
		} `json:"input"`
		Output bool `json:"output"`
	}
	forEachCase(t, "fast_aggregate_verify", func(t *testing.T, c *tc) {
		got := func() bool {
			pks, ok := pubkeys(t, c.Input.Pubkeys)
			if !ok {
				return false
			}
			sig, err := SignatureFromBytes(unhex(t, c.Input.Signature))
			if err != nil {
				return false
			}
			return FastAggregateVerify(pks, unhex(t, c.Input.Message), sig)
		}()
		if got != c.Output {
			t.Fatalf("fast_aggregate_verify = %v, want %v", got, c.Output)
		}
	})
}

func TestVectorBatchVerify(t *testing.T) {
	type tc struct {
		Input struct {
			Pubkeys    []string `json:"pubkeys"`
			Messages   []string `json:"messages"`
			Signatures []string `json:"signatures"`
		} `json:"input"`
		Output bool `json:"output"`
	}
	forEachCase(t, "batch_verify", func(t *testing.T, c *tc) {
		got := func() bool {
			pks, ok := pubkeys(t, c.Input.Pubkeys)
			if !ok || len(pks) != len(c.Input.Messages) || len(pks) != len(c.Input.Signatures) {
				return false
			}
			sets := make([]SignatureSet, len(pks))
			for i := range sets {
				sig, err := SignatureFromBytes(unhex(t, c.Input.Signatures[i]))
				if err != nil {
					return false
				}
				sets[i] = SignatureSet{PublicKey: pks[i], Message: unhex(t, c.Input.Messages[i]), Signature: sig}
			}
			return BatchVerify(sets)
		}()
		if got != c.Output {
			t.Fatalf("batch_verify = %v, want %v", got, c.Output)
		}
	})
}

func TestVectorHashToG2(t *testing.T) {
	// The hash_to_G2 vectors are RFC 9380's BLS12381G2_XMD:SHA-256_SSWU_RO_
	// cases, which use the QUUX test DST rather than the Ethereum one.
	dst := []byte("QUUX-V01-CS02-with-BLS12381G2_XMD:SHA-256_SSWU_RO_")
	type tc struct {
		Input struct {
			Msg string `json:"msg"`
		} `json:"input"`
		Output struct {
			X string `json:"x"`
			Y string `json:"y"`
		} `json:"output"`
	}
	forEachCase(t, "hash_to_G2", func(t *testing.T, c *tc) {
		h := hashWithDST([]byte(c.Input.Msg), dst)
		// Uncompressed serialisation is x.c1 || x.c0 || y.c1 || y.c0; the
		// vectors write each coordinate as "c0,c1".
		ser := h.aff.Serialize()
		fp2 := func(s string) []byte {
			parts := strings.Split(s, ",")
			if len(parts) != 2 {
				t.Fatalf("coordinate %q is not c0,c1", s)
			}
			return append(unhex(t, parts[1]), unhex(t, parts[0])...)
		}
		want := append(fp2(c.Output.X), fp2(c.Output.Y)...)
		if !bytes.Equal(ser, want) {
			t.Fatalf("hash_to_G2(%q) = %x, want %x", c.Input.Msg, ser, want)
		}
	})
}

func TestVectorDeserializationG1(t *testing.T) {
	type tc struct {
		Input struct {
			Pubkey string `json:"pubkey"`
		} `json:"input"`
		Output bool `json:"output"`
	}
	forEachCase(t, "deserialization_G1", func(t *testing.T, c *tc) {
		b := unhex(t, c.Input.Pubkey)
		// The handler asks whether the bytes are a G1 point, infinity included.
		p, err := decodeG1(b)
		if got := err == nil; got != c.Output {
			t.Fatalf("decode G1 = %v (%v), want %v", got, err, c.Output)
		}
		// PublicKeyFromBytes accepts the same points except infinity.
		pk, err := PublicKeyFromBytes(b)
		wantPK := c.Output && !isInfG1(p)
		if (err == nil) != wantPK {
			t.Fatalf("PublicKeyFromBytes ok = %v (%v), want %v", err == nil, err, wantPK)
		}
		if err == nil && !bytes.Equal(pk.Bytes(), b) {
			t.Fatalf("round trip = %x, want %x", pk.Bytes(), b)
		}
	})
}

func TestVectorDeserializationG2(t *testing.T) {
	type tc struct {
		Input struct {
			Signature string `json:"signature"`
		} `json:"input"`
		Output bool `json:"output"`
	}
	forEachCase(t, "deserialization_G2", func(t *testing.T, c *tc) {
		b := unhex(t, c.Input.Signature)
		sig, err := SignatureFromBytes(b)
		if got := err == nil; got != c.Output {
			t.Fatalf("SignatureFromBytes ok = %v (%v), want %v", got, err, c.Output)
		}
		if err == nil && !bytes.Equal(sig.Bytes(), b) {
			t.Fatalf("round trip = %x, want %x", sig.Bytes(), b)
		}
	})
}
