package keys

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"unicode/utf8"
)

// cheapKeystore returns a deterministic keystore with cheap KDF parameters,
// sealing interop key index under password.
func cheapKeystore(tb testing.TB, index uint64, password string, opt Option) []byte {
	tb.Helper()
	sk, err := InteropSecretKey(index)
	if err != nil {
		tb.Fatalf("InteropSecretKey: %v", err)
	}
	entropy := bytes.Repeat([]byte{byte(index + 1)}, saltLen+ivLen+16)
	ks, err := Encrypt(sk, password, opt, withEntropy(bytes.NewReader(entropy)), WithPath("m/12381/3600/0/0/0"))
	if err != nil {
		tb.Fatalf("Encrypt: %v", err)
	}
	data, err := ks.Marshal()
	if err != nil {
		tb.Fatalf("Marshal: %v", err)
	}
	return data
}

// optionalVectors returns the EIP-2335 keystore files when present; fuzz
// targets use them as extra seeds and still run without them.
func optionalVectors(tb testing.TB) [][]byte {
	var out [][]byte
	wd, err := os.Getwd()
	if err != nil {
		return nil
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			for _, name := range []string{"eip2335_keystore_scrypt.json", "eip2335_keystore_pbkdf2.json"} {
				if b, err := os.ReadFile(filepath.Join(dir, "..", "shared", "testdata", ercDir, name)); err == nil {
					out = append(out, b)
				}
			}
			return out
		}
		if filepath.Dir(dir) == dir {
			return out
		}
	}
}

func FuzzParseKeystore(f *testing.F) {
	f.Add(cheapKeystore(f, 1, "pw", WithScryptN(2)))
	f.Add(cheapKeystore(f, 2, "pw", WithPBKDF2(1)))
	for _, v := range optionalVectors(f) {
		f.Add(v)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"version":4,"uuid":"00000000-0000-0000-0000-000000000000","crypto":{}}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ks, err := ParseKeystore(data)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("ParseKeystore error %v is not a *FormatError", err)
			}
			return
		}
		if err := ks.Validate(); err != nil {
			t.Fatalf("parsed keystore does not validate: %v", err)
		}
		out, err := ks.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed keystore: %v", err)
		}
		again, err := ParseKeystore(out)
		if err != nil {
			t.Fatalf("ParseKeystore(Marshal()): %v", err)
		}
		if *again != *ks {
			t.Fatalf("round trip changed the keystore: %+v != %+v", again, ks)
		}
	})
}

// Fuzzing limits for FuzzDecrypt: anything dearer is skipped before the KDF.
const (
	fuzzMaxScryptWork = 1 << 10
	fuzzMaxPBKDF2C    = 1 << 10
)

func FuzzDecrypt(f *testing.F) {
	f.Add(cheapKeystore(f, 3, "pw", WithScryptN(4)), "pw")
	f.Add(cheapKeystore(f, 4, "pw", WithPBKDF2(2)), "pw")
	f.Add(cheapKeystore(f, 5, "\u00e9", WithPBKDF2(2)), "e\u0301")
	f.Add(cheapKeystore(f, 6, "pw", WithPBKDF2(2)), "wrong")
	for _, v := range optionalVectors(f) {
		f.Add(v, "testpassword")
	}
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		ks, err := ParseKeystore(data)
		if err != nil {
			return
		}
		p := ks.Crypto.KDF.Params
		if (ks.Crypto.KDF.Function == KDFScrypt && p.N*p.R*p.P > fuzzMaxScryptWork) ||
			(ks.Crypto.KDF.Function == KDFPBKDF2 && p.C > fuzzMaxPBKDF2C) {
			return
		}
		sk, err := ks.Decrypt(password)
		if err != nil {
			var fe *FormatError
			if errors.As(err, &fe) {
				t.Fatalf("Decrypt of a parsed keystore reported a format error: %v", err)
			}
			return
		}
		if ks.Pubkey != "" {
			want, _ := hex.DecodeString(trim0x(ks.Pubkey))
			if !bytes.Equal(sk.PublicKey().Bytes(), want) {
				t.Fatal("Decrypt returned a key that does not match the pubkey field")
			}
		}
		// Re-encrypting under the same password must round-trip.
		ks2, err := Encrypt(sk, password, WithPBKDF2(1))
		if err != nil {
			t.Fatalf("Encrypt: %v", err)
		}
		sk2, err := ks2.Decrypt(password)
		if err != nil || !bytes.Equal(sk2.Bytes(), sk.Bytes()) {
			t.Fatalf("re-encrypted key does not round-trip: %v", err)
		}
	})
}

func trim0x(s string) string {
	if len(s) >= 2 && s[:2] == "0x" {
		return s[2:]
	}
	return s
}

func FuzzNormalizePassword(f *testing.F) {
	for _, s := range []string{"", "password", "𝔱𝔢𝔰𝔱𝔭𝔞𝔰𝔰𝔴𝔬𝔯𝔡🔑", "caf\u00e9", "\ufb01\u2460", "a\x00b\x7f\u0085c", "\xff\xfe", "\u1e9b\u0323"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := NormalizePassword(s)
		if !utf8.Valid(out) {
			t.Fatalf("output %q is not valid UTF-8", out)
		}
		for _, r := range string(out) {
			if isControl(r) {
				t.Fatalf("output %q keeps control code %U", out, r)
			}
		}
		if !bytes.Equal(out, NormalizePassword(s)) {
			t.Fatal("NormalizePassword is not deterministic")
		}
		printableASCII := true
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] > 0x7e {
				printableASCII = false
				break
			}
		}
		if printableASCII && string(out) != s {
			t.Fatalf("printable ASCII %q changed to %q", s, out)
		}
	})
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"m", "m/0", "m/12381/3600/0/0/0", "m/4294967296", "m//1", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		indices, err := ParsePath(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("error %v is not ErrInvalidPath", err)
			}
			return
		}
		canonical := "m"
		for _, i := range indices {
			canonical += "/" + strconv.FormatUint(uint64(i), 10)
		}
		again, err := ParsePath(canonical)
		if err != nil || len(again) != len(indices) {
			t.Fatalf("canonical form %q of %q does not parse back: %v", canonical, s, err)
		}
		for k := range again {
			if again[k] != indices[k] {
				t.Fatalf("canonical form %q of %q parses differently", canonical, s)
			}
		}
	})
}
