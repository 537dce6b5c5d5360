package threshold

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"testing"
)

func TestSecretKeyFromBytesRejects(t *testing.T) {
	r := groupOrder.FillBytes(make([]byte, 32))
	rPlus1 := new(big.Int).Add(groupOrder, big.NewInt(1)).FillBytes(make([]byte, 32))
	rMinus1 := new(big.Int).Sub(groupOrder, big.NewInt(1)).FillBytes(make([]byte, 32))
	for name, tc := range map[string]struct {
		in   []byte
		want error
	}{
		"zero":   {make([]byte, 32), ErrInvalidSecretKey},
		"r":      {r, ErrInvalidSecretKey},
		"r+1":    {rPlus1, ErrInvalidSecretKey},
		"all ff": {bytes.Repeat([]byte{0xff}, 32), ErrInvalidSecretKey},
		"short":  {make([]byte, 31), ErrInvalidLength},
		"long":   {make([]byte, 33), ErrInvalidLength},
		"nil":    {nil, ErrInvalidLength},
		"r-1 ok": {rMinus1, nil},
		"one ok": {append(make([]byte, 31), 1), nil},
	} {
		t.Run(name, func(t *testing.T) {
			sk, err := SecretKeyFromBytes(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && !bytes.Equal(sk.Bytes(), tc.in) {
				t.Fatalf("round trip = %x", sk.Bytes())
			}
		})
	}
}

func TestPointDecodeErrors(t *testing.T) {
	inf := make([]byte, 48)
	inf[0] = 0xc0
	if _, err := PublicKeyFromBytes(inf); !errors.Is(err, ErrInfinity) {
		t.Fatalf("infinity public key: err = %v, want ErrInfinity", err)
	}
	if _, err := PublicKeyFromBytes(make([]byte, 47)); !errors.Is(err, ErrInvalidLength) {
		t.Fatalf("short public key: err = %v", err)
	}
	if _, err := PublicKeyFromBytes(make([]byte, 48)); !errors.Is(err, ErrInvalidPoint) {
		t.Fatalf("uncompressed-flag zero public key: err = %v", err)
	}
	if _, err := SignatureFromBytes(make([]byte, 95)); !errors.Is(err, ErrInvalidLength) {
		t.Fatalf("short signature: err = %v", err)
	}
	if _, err := SignatureFromBytes(make([]byte, 96)); !errors.Is(err, ErrInvalidPoint) {
		t.Fatalf("zero signature: err = %v", err)
	}
}

func TestAggregateErrors(t *testing.T) {
	if _, err := AggregateSignatures(nil); !errors.Is(err, ErrEmpty) {
		t.Fatalf("AggregateSignatures(nil): %v", err)
	}
	if _, err := AggregatePublicKeys(nil); !errors.Is(err, ErrEmpty) {
		t.Fatalf("AggregatePublicKeys(nil): %v", err)
	}
	// sk and r-sk have opposite public keys, which sum to infinity.
	sk := mustKey(t)
	neg := new(big.Int).Sub(groupOrder, bigOf(sk))
	sk2, err := SecretKeyFromBytes(neg.FillBytes(make([]byte, 32)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AggregatePublicKeys([]*PublicKey{sk.PublicKey(), sk2.PublicKey()}); !errors.Is(err, ErrInfinity) {
		t.Fatalf("pk + (-pk): err = %v, want ErrInfinity", err)
	}
	if FastAggregateVerify(nil, []byte("m"), sk.Sign([]byte("m"))) {
		t.Fatal("FastAggregateVerify with no keys verified")
	}
	if BatchVerify(nil) || VerifySameMessage(HashMessage(nil), nil, nil) || AggregateVerify(nil, nil, sk.Sign(nil)) {
		t.Fatal("empty batch verified")
	}
	var zero PublicKey // the point at infinity
	if zero.Verify([]byte("m"), sk.Sign([]byte("m"))) || VerifyHashed(&zero, HashMessage([]byte("m")), sk.Sign([]byte("m"))) {
		t.Fatal("zero PublicKey verified a signature")
	}
}

func TestBatchVerifyDetectsForgery(t *testing.T) {
	h := HashMessage([]byte("committee root"))
	var pks []*PublicKey
	var sigs []*Signature
	var sets []SignatureSet
	for i := 0; i < 8; i++ {
		sk := mustKey(t)
		msg := []byte{byte(i)}
		pks, sigs = append(pks, sk.PublicKey()), append(sigs, sk.SignHashed(h))
		sets = append(sets, SignatureSet{PublicKey: sk.PublicKey(), Message: msg, Signature: sk.Sign(msg)})
	}
	if !VerifySameMessage(h, pks, sigs) || !BatchVerify(sets) {
		t.Fatal("valid batch rejected")
	}
	// Swapping two signatures keeps their sum, so plain aggregation would
	// accept it; random scalars must not.
	sigs[0], sigs[1] = sigs[1], sigs[0]
	sets[0].Signature, sets[1].Signature = sets[1].Signature, sets[0].Signature
	if VerifySameMessage(h, pks, sigs) || BatchVerify(sets) {
		t.Fatal("batch with swapped signatures accepted")
	}
	if VerifySameMessage(h, pks, sigs[:7]) {
		t.Fatal("mismatched lengths accepted")
	}
}

func TestSplitErrors(t *testing.T) {
	sk := mustKey(t)
	for _, c := range [][2]int{{0, 3}, {4, 3}, {2, 17}, {17, 17}, {-1, 2}, {1, 0}} {
		if _, _, err := Split(sk, c[0], c[1], rand.Reader); !errors.Is(err, ErrThreshold) {
			t.Fatalf("Split(t=%d, n=%d): err = %v, want ErrThreshold", c[0], c[1], err)
		}
	}
	if _, _, err := Split(nil, 2, 3, rand.Reader); !errors.Is(err, ErrMissing) {
		t.Fatalf("Split(nil): %v", err)
	}
	if _, _, err := Split(sk, 2, 3, bytes.NewReader(nil)); err == nil {
		t.Fatal("Split with an empty random source succeeded")
	}
}

func TestRecombineErrors(t *testing.T) {
	sk := mustKey(t)
	shares, comms, err := Split(sk, 2, 3, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h := HashMessage([]byte("duty"))
	p1, p2, p3 := shares[0].SignHashed(h), shares[1].SignHashed(h), shares[2].SignHashed(h)
	want := sk.SignHashed(h)

	cases := []struct {
		name  string
		parts []PartialSignature
		t     int
		want  error
	}{
		{"none", nil, 2, ErrTooFewShares},
		{"one", []PartialSignature{p1}, 2, ErrTooFewShares},
		{"same share twice", []PartialSignature{p1, p1}, 2, ErrTooFewShares},
		{"conflicting duplicate", []PartialSignature{p1, {Index: 1, Signature: p2.Signature}}, 2, ErrDuplicateIndex},
		{"index 0", []PartialSignature{{Index: 0, Signature: p1.Signature}, p2}, 2, ErrIndexOutOfRange},
		{"index 17", []PartialSignature{p1, {Index: 17, Signature: p2.Signature}}, 2, ErrIndexOutOfRange},
		{"nil signature", []PartialSignature{p1, {Index: 2}}, 2, ErrMissing},
		{"t = 0", []PartialSignature{p1, p2}, 0, ErrThreshold},
		{"t = 17", []PartialSignature{p1, p2}, 17, ErrThreshold},
		{"repeat is skipped", []PartialSignature{p1, p1, p3}, 2, nil},
		{"only the first t are used", []PartialSignature{p3, p2, {Index: 99}}, 2, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Recombine(c.parts, c.t)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if err == nil && !got.Equal(want) {
				t.Fatal("wrong signature")
			}
		})
	}

	s1, s2 := shares[0], shares[1]
	if _, err := RecombineSecret([]SecretShare{s1}, 2); !errors.Is(err, ErrTooFewShares) {
		t.Fatalf("RecombineSecret one share: %v", err)
	}
	if _, err := RecombineSecret([]SecretShare{s1, {Index: 1, Key: s2.Key}}, 2); !errors.Is(err, ErrDuplicateIndex) {
		t.Fatalf("RecombineSecret duplicate: %v", err)
	}
	if _, err := RecombineSecret([]SecretShare{s1, {Index: 20, Key: s2.Key}}, 2); !errors.Is(err, ErrIndexOutOfRange) {
		t.Fatalf("RecombineSecret index 20: %v", err)
	}
	if _, err := comms.SharePublicKey(0); !errors.Is(err, ErrIndexOutOfRange) {
		t.Fatalf("SharePublicKey(0): %v", err)
	}
	if err := comms.VerifyShare(SecretShare{Index: 17, Key: s1.Key}); !errors.Is(err, ErrIndexOutOfRange) {
		t.Fatalf("VerifyShare index 17: %v", err)
	}
}

func TestBadShareDetection(t *testing.T) {
	sk := mustKey(t)
	shares, comms, err := Split(sk, 3, 5, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// A share carrying another holder's key fails VerifyShare, naming it.
	err = comms.VerifyShare(SecretShare{Index: 2, Key: shares[3].Key})
	var bse *BadShareError
	if !errors.As(err, &bse) || bse.Index != 2 || !errors.Is(err, ErrBadShare) {
		t.Fatalf("VerifyShare of a swapped key: err = %v, want BadShareError{2}", err)
	}

	h := HashMessage([]byte("attestation"))
	sharePKs := map[uint32]*PublicKey{}
	parts := make([]PartialSignature, 5)
	for i, s := range shares {
		pk, err := comms.SharePublicKey(s.Index)
		if err != nil {
			t.Fatal(err)
		}
		sharePKs[s.Index] = pk
		parts[i] = s.SignHashed(h)
	}
	if bad := FindBadShares(h, parts, sharePKs); len(bad) != 0 {
		t.Fatalf("FindBadShares on good parts = %v", bad)
	}
	// Share 4 signs another message.
	parts[3] = shares[3].SignHashed(HashMessage([]byte("other")))
	if bad := FindBadShares(h, parts, sharePKs); len(bad) != 1 || bad[0] != 4 {
		t.Fatalf("FindBadShares = %v, want [4]", bad)
	}
	used := []PartialSignature{parts[0], parts[3], parts[4]}
	_, err = RecombineVerified(h, used, 3, comms.GroupPublicKey(), sharePKs)
	if !errors.As(err, &bse) || bse.Index != 4 {
		t.Fatalf("RecombineVerified with a bad share: err = %v, want BadShareError{4}", err)
	}
	// Without it the result verifies.
	good := []PartialSignature{parts[0], parts[1], parts[4]}
	sig, err := RecombineVerified(h, good, 3, comms.GroupPublicKey(), sharePKs)
	if err != nil || !sig.Equal(sk.SignHashed(h)) {
		t.Fatalf("RecombineVerified without the bad share: %v", err)
	}
	// Good shares but the wrong group key.
	if _, err := RecombineVerified(h, good, 3, mustKey(t).PublicKey(), sharePKs); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("wrong group key: err = %v, want ErrInvalidSignature", err)
	}
	// A part whose index has no known key is bad.
	delete(sharePKs, 5)
	if bad := FindBadShares(h, good, sharePKs); len(bad) != 1 || bad[0] != 5 {
		t.Fatalf("FindBadShares with an unknown key = %v, want [5]", bad)
	}
}

func TestCommitmentsEncoding(t *testing.T) {
	_, comms, err := Split(mustKey(t), 3, 4, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b := comms.Bytes()
	if len(b) != 3*PublicKeySize {
		t.Fatalf("len = %d", len(b))
	}
	back, err := CommitmentsFromBytes(b)
	if err != nil || back.Threshold() != 3 {
		t.Fatalf("CommitmentsFromBytes: %v", err)
	}
	for j := range comms {
		if !back[j].Equal(comms[j]) {
			t.Fatalf("commitment %d differs", j)
		}
	}
	for name, in := range map[string][]byte{
		"empty":        nil,
		"not multiple": b[:50],
		"17 points":    bytes.Repeat(b[:48], 17),
	} {
		if _, err := CommitmentsFromBytes(in); !errors.Is(err, ErrInvalidLength) {
			t.Fatalf("%s: err = %v, want ErrInvalidLength", name, err)
		}
	}
	bad := append([]byte(nil), b...)
	bad[48] ^= 0x01
	if _, err := CommitmentsFromBytes(bad); err == nil {
		// flipping a bit of x almost never leaves a subgroup point
		t.Fatal("corrupted commitment decoded")
	}
}

func TestSecretRedaction(t *testing.T) {
	raw, _ := hex.DecodeString("47b8192d77bf871b62e87859d653922725724a5c031afeabc60bcef5ff665138")
	sk, err := SecretKeyFromBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	shares, _, err := Split(sk, 2, 3, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	type holder struct {
		Name  string
		Key   *SecretKey
		Share SecretShare
	}
	values := map[string]any{
		"*SecretKey":    sk,
		"SecretKey":     *sk,
		"SecretShare":   shares[0],
		"*SecretShare":  &shares[0],
		"[]SecretShare": shares,
		"struct":        holder{Name: "v", Key: sk, Share: shares[1]},
		"*struct":       &holder{Name: "v", Key: sk, Share: shares[1]},
	}
	secrets := [][]byte{raw}
	for _, s := range shares {
		secrets = append(secrets, s.Key.Bytes())
	}
	leaks := func(out string) bool {
		for _, s := range secrets {
			for _, enc := range []string{
				hex.EncodeToString(s), strings.ToUpper(hex.EncodeToString(s)),
				base64.StdEncoding.EncodeToString(s), fmt.Sprint(s), fmt.Sprintf("%v", s[:8]),
				fmt.Sprint(new(big.Int).SetBytes(s)),
			} {
				if strings.Contains(out, enc) {
					return true
				}
			}
			// A run of the first four bytes printed as decimals, e.g. "71 184 25 45".
			if strings.Contains(out, fmt.Sprintf("%d %d %d %d", s[0], s[1], s[2], s[3])) {
				return true
			}
		}
		return false
	}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%o", "%b", "%08v"} {
			out := fmt.Sprintf(verb, v)
			if leaks(out) || !strings.Contains(out, "redacted") {
				t.Errorf("fmt %s of %s = %q", verb, name, out)
			}
		}
		for _, out := range []string{fmt.Sprint(v), fmt.Sprintln(v)} {
			if leaks(out) {
				t.Errorf("fmt.Sprint of %s leaks: %q", name, out)
			}
		}
		j, err := json.Marshal(v)
		if err != nil || leaks(string(j)) || !strings.Contains(string(j), "redacted") {
			t.Errorf("json of %s = %s, %v", name, j, err)
		}
		for hname, mk := range map[string]func(*bytes.Buffer) slog.Handler{
			"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
			"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		} {
			var buf bytes.Buffer
			slog.New(mk(&buf)).Info("key", slog.Any("value", v), "plain", v)
			if leaks(buf.String()) || !strings.Contains(buf.String(), "redacted") {
				t.Errorf("slog %s of %s = %s", hname, name, buf.String())
			}
		}
	}
	// Errors never carry the input.
	_, err = SecretKeyFromBytes(groupOrder.FillBytes(make([]byte, 32)))
	if err == nil || strings.Contains(err.Error(), hex.EncodeToString(groupOrder.Bytes())) {
		t.Fatalf("error leaks input: %v", err)
	}
}

func TestZeroize(t *testing.T) {
	sk := mustKey(t)
	cp := *sk // copies share the scalar
	sk.Zeroize()
	if !bytes.Equal(cp.Bytes(), make([]byte, 32)) {
		t.Fatal("Zeroize left key material")
	}
	var nilKey *SecretKey
	nilKey.Zeroize() // no panic
}
