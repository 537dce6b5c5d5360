package keys

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"testing"

	"golang.org/x/crypto/pbkdf2"
	"golang.org/x/crypto/scrypt"
)

// BenchmarkDeriveChildSK compares one EIP-2333 child derivation with its
// dominant library work: two 8160-byte HKDF outputs and 510 SHA-256 calls.
func BenchmarkDeriveChildSK(b *testing.B) {
	parent, err := DeriveMasterSK(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("keys", func(b *testing.B) {
		for b.Loop() {
			if _, err := DeriveChildSK(parent, 42); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare-hkdf-sha256", func(b *testing.B) {
		ikm := parent.Bytes()
		salt := []byte{0, 0, 0, 42}
		for b.Loop() {
			for side := 0; side < 2; side++ {
				okm, err := hkdf.Key(sha256.New, ikm, salt, "", 32*lamportChunks)
				if err != nil {
					b.Fatal(err)
				}
				for i := 0; i < lamportChunks; i++ {
					sha256.Sum256(okm[32*i : 32*i+32])
				}
			}
		}
	})
}

// BenchmarkDecrypt compares Keystore.Decrypt with the bare KDF call it is
// dominated by; the difference is AES, the checksum and the public-key check.
func BenchmarkDecrypt(b *testing.B) {
	sk, err := InteropSecretKey(0)
	if err != nil {
		b.Fatal(err)
	}
	salt := bytes.Repeat([]byte{1}, saltLen)
	for _, tc := range []struct {
		name string
		opt  Option
		bare func()
	}{
		{"pbkdf2-c262144", WithPBKDF2(262144), func() { pbkdf2.Key([]byte("pw"), salt, 262144, 32, sha256.New) }},
		{"scrypt-n16384", WithScryptN(1 << 14), func() { _, _ = scrypt.Key([]byte("pw"), salt, 1<<14, 8, 1, 32) }},
	} {
		ks, err := Encrypt(sk, "pw", tc.opt)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name+"/keys", func(b *testing.B) {
			for b.Loop() {
				if _, err := ks.Decrypt("pw"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/bare-kdf", func(b *testing.B) {
			for b.Loop() {
				tc.bare()
			}
		})
	}
}

// BenchmarkMnemonicToSeed compares the BIP-39 seed step with bare PBKDF2.
func BenchmarkMnemonicToSeed(b *testing.B) {
	const mnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
	b.Run("keys", func(b *testing.B) {
		for b.Loop() {
			MnemonicToSeed(mnemonic, "TREZOR")
		}
	})
	b.Run("bare-pbkdf2-sha512", func(b *testing.B) {
		for b.Loop() {
			pbkdf2.Key([]byte(mnemonic), []byte("mnemonicTREZOR"), 2048, 64, sha512.New)
		}
	})
}

// BenchmarkParseKeystore measures strict parsing of a typical keystore
// against a plain encoding/json decode into the same struct.
func BenchmarkParseKeystore(b *testing.B) {
	data := cheapKeystore(b, 1, "pw", WithPBKDF2(1))
	b.Run("keys", func(b *testing.B) {
		for b.Loop() {
			if _, err := ParseKeystore(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare-json", func(b *testing.B) {
		for b.Loop() {
			var ks Keystore
			if err := json.Unmarshal(data, &ks); err != nil {
				b.Fatal(err)
			}
		}
	})
}
