package keys

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/phalanx-eth/phalanx/threshold"
)

type keystoreVector struct {
	Name            string `json:"name"`
	KeystoreFile    string `json:"keystore_file"`
	Password        string `json:"password"`
	EncodedPassword string `json:"encoded_password"`
	Secret          string `json:"secret"`
}

func loadKeystoreVectors(t *testing.T) []keystoreVector {
	t.Helper()
	var file struct {
		Vectors []keystoreVector `json:"vectors"`
	}
	if err := json.Unmarshal(readVector(t, ercDir+"/eip2335_test_vectors.json"), &file); err != nil {
		t.Fatalf("decode eip2335_test_vectors.json: %v", err)
	}
	if len(file.Vectors) != 2 {
		t.Fatalf("got %d keystore vectors, want 2", len(file.Vectors))
	}
	return file.Vectors
}

// expensive reports whether decrypting ks costs a full-strength scrypt.
func expensive(ks *Keystore) bool {
	return ks.Crypto.KDF.Function == KDFScrypt && ks.Crypto.KDF.Params.N > 1<<14
}

func TestEIP2335Vectors(t *testing.T) {
	for _, v := range loadKeystoreVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			if got := NormalizePassword(v.Password); !bytes.Equal(got, mustHex(t, v.EncodedPassword)) {
				t.Fatalf("NormalizePassword = %x, want %s", got, v.EncodedPassword)
			}
			ks, err := ParseKeystore(readVector(t, ercDir+"/"+v.KeystoreFile))
			if err != nil {
				t.Fatalf("ParseKeystore: %v", err)
			}
			if testing.Short() && expensive(ks) {
				t.Skip("scrypt n=2^18 needs 256 MiB; skipped in -short")
			}
			sk, err := ks.Decrypt(v.Password)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if got := sk.Bytes(); !bytes.Equal(got, mustHex(t, v.Secret)) {
				t.Fatalf("secret = %x, want %s", got, v.Secret)
			}
			// Decrypt checked the pubkey field; check it independently too.
			if got := hex.EncodeToString(sk.PublicKey().Bytes()); got != ks.Pubkey {
				t.Fatalf("derived pubkey %s, keystore says %s", got, ks.Pubkey)
			}
			if _, err := ks.Decrypt(v.Password + "x"); !errors.Is(err, ErrWrongPassword) {
				t.Fatalf("Decrypt(wrong password) error = %v, want ErrWrongPassword", err)
			}
		})
	}
}

func TestDepositCLIKeystores(t *testing.T) {
	v := loadKeystoreVectors(t)[0]
	for _, name := range []string{"test0.json", "test1.json"} {
		t.Run(name, func(t *testing.T) {
			ks, err := ParseKeystore(readVector(t, depositDir+"/keystore_test_vectors/"+name))
			if err != nil {
				t.Fatalf("ParseKeystore: %v", err)
			}
			if testing.Short() && expensive(ks) {
				t.Skip("scrypt n=2^18 needs 256 MiB; skipped in -short")
			}
			sk, err := ks.Decrypt(v.Password)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if got := sk.Bytes(); !bytes.Equal(got, mustHex(t, v.Secret)) {
				t.Fatalf("secret = %x, want %s", got, v.Secret)
			}
		})
	}
}

// TestEncryptReproducesEIPKeystores seals the EIP secret with the EIP's salt,
// IV and UUID and expects the EIP's JSON byte for byte.
func TestEncryptReproducesEIPKeystores(t *testing.T) {
	for _, v := range loadKeystoreVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			want := readVector(t, ercDir+"/"+v.KeystoreFile)
			ref, err := ParseKeystore(want)
			if err != nil {
				t.Fatalf("ParseKeystore: %v", err)
			}
			if testing.Short() && expensive(ref) {
				t.Skip("scrypt n=2^18 needs 256 MiB; skipped in -short")
			}
			sk, err := threshold.SecretKeyFromBytes(mustHex(t, v.Secret))
			if err != nil {
				t.Fatalf("SecretKeyFromBytes: %v", err)
			}
			entropy := mustHex(t, ref.Crypto.KDF.Params.Salt+ref.Crypto.Cipher.Params.IV+strings.ReplaceAll(ref.UUID, "-", ""))
			opts := []Option{withEntropy(bytes.NewReader(entropy)), WithPath(ref.Path), WithDescription(ref.Description)}
			if ref.Crypto.KDF.Function == KDFPBKDF2 {
				opts = append(opts, WithPBKDF2(ref.Crypto.KDF.Params.C))
			} else {
				opts = append(opts, WithScryptN(ref.Crypto.KDF.Params.N))
			}
			ks, err := Encrypt(sk, v.Password, opts...)
			if err != nil {
				t.Fatalf("Encrypt: %v", err)
			}
			got, err := ks.Marshal()
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Encrypt+Marshal differs from the EIP keystore:\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

func TestEncryptDecryptRoundTrip(t *testing.T) {
	sk, err := InteropSecretKey(5)
	if err != nil {
		t.Fatalf("InteropSecretKey: %v", err)
	}
	for _, tc := range []struct {
		name string
		opt  Option
		kdf  string
	}{
		{"scrypt", WithScryptN(1 << 4), KDFScrypt},
		{"pbkdf2", WithPBKDF2(16), KDFPBKDF2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const password = "caf\u00e9 \u2460 pass\u0007word"
			ks, err := Encrypt(sk, password, tc.opt, WithPath("m/12381/3600/5/0/0"), WithDescription("round trip"))
			if err != nil {
				t.Fatalf("Encrypt: %v", err)
			}
			if ks.Crypto.KDF.Function != tc.kdf || ks.Path != "m/12381/3600/5/0/0" || ks.Description != "round trip" {
				t.Fatalf("unexpected keystore header: %+v", ks)
			}
			if ks.Pubkey != hex.EncodeToString(sk.PublicKey().Bytes()) {
				t.Fatalf("pubkey field %s does not match the key", ks.Pubkey)
			}
			if !validUUID(ks.UUID) || ks.UUID[14] != '4' {
				t.Fatalf("uuid %q is not a version-4 UUID", ks.UUID)
			}
			data, err := ks.Marshal()
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if bytes.Contains(data, []byte(hex.EncodeToString(sk.Bytes()))) {
				t.Fatal("marshalled keystore contains the plaintext secret")
			}
			parsed, err := ParseKeystore(data)
			if err != nil {
				t.Fatalf("ParseKeystore(Marshal()): %v", err)
			}
			if *parsed != *ks {
				t.Fatalf("parse(marshal(ks)) = %+v, want %+v", parsed, ks)
			}
			got, err := parsed.Decrypt(password)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if !bytes.Equal(got.Bytes(), sk.Bytes()) {
				t.Fatal("decrypted key differs from the encrypted one")
			}
			// The same password in another Unicode form, and with the control
			// code dropped, is the same password after normalization.
			if _, err := parsed.Decrypt("cafe\u0301 1 password"); err != nil {
				t.Fatalf("Decrypt(equivalent password): %v", err)
			}
			if _, err := parsed.Decrypt("caf\u00e9 1 pass word"); !errors.Is(err, ErrWrongPassword) {
				t.Fatalf("Decrypt(wrong password) error = %v, want ErrWrongPassword", err)
			}
			if _, err := parsed.Decrypt(""); !errors.Is(err, ErrWrongPassword) {
				t.Fatalf("Decrypt(empty password) error = %v, want ErrWrongPassword", err)
			}
		})
	}
}

func TestEncryptFreshRandomness(t *testing.T) {
	sk, _ := InteropSecretKey(1)
	a, err := Encrypt(sk, "pw", WithPBKDF2(1))
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	b, err := Encrypt(sk, "pw", WithPBKDF2(1))
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	if a.UUID == b.UUID || a.Crypto.KDF.Params.Salt == b.Crypto.KDF.Params.Salt || a.Crypto.Cipher.Params.IV == b.Crypto.Cipher.Params.IV {
		t.Fatal("two encryptions share a UUID, salt or IV")
	}
	if len(a.Crypto.KDF.Params.Salt) != 2*saltLen {
		t.Fatalf("salt is %d hex characters, want %d", len(a.Crypto.KDF.Params.Salt), 2*saltLen)
	}
}

func TestEncryptDefaults(t *testing.T) {
	sk, _ := InteropSecretKey(2)
	// A failing entropy source stops Encrypt before the (expensive) default
	// KDF runs; the parameters are checked on a keystore built without it.
	if _, err := Encrypt(sk, "pw", withEntropy(iotestErrReader{})); err == nil {
		t.Fatal("Encrypt with failing randomness succeeded")
	}
	cfg := encryptConfig{kdf: KDFScrypt, scryptN: DefaultScryptN}
	if cfg.scryptN != 262144 || DefaultScryptR != 8 || DefaultScryptP != 1 {
		t.Fatal("default scrypt parameters are not the EIP-2335 ones")
	}
	if testing.Short() {
		return
	}
	ks, err := Encrypt(sk, "pw")
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	if p := ks.Crypto.KDF.Params; ks.Crypto.KDF.Function != KDFScrypt || p.N != 262144 || p.R != 8 || p.P != 1 || p.DKLen != 32 {
		t.Fatalf("default KDF = %s %+v, want scrypt n=262144 r=8 p=1 dklen=32", ks.Crypto.KDF.Function, p)
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestEncryptRejectsBadOptions(t *testing.T) {
	sk, _ := InteropSecretKey(3)
	for _, tc := range []struct {
		name  string
		opt   Option
		field string
	}{
		{"scrypt n not a power of two", WithScryptN(3), "crypto.kdf.params.n"},
		{"scrypt n too large", WithScryptN(1 << 21), "crypto.kdf.params.n"},
		{"pbkdf2 c zero", WithPBKDF2(0), "crypto.kdf.params.c"},
		{"pbkdf2 c too large", WithPBKDF2(MaxPBKDF2C + 1), "crypto.kdf.params.c"},
		{"bad path", WithPath("m/x"), "path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Encrypt(sk, "pw", tc.opt)
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("Encrypt error = %v, want FormatError on %s", err, tc.field)
			}
		})
	}
	if _, err := Encrypt(nil, "pw"); err == nil {
		t.Fatal("Encrypt(nil) succeeded")
	}
}

func TestDecryptPubkeyMismatch(t *testing.T) {
	sk, _ := InteropSecretKey(0)
	other, _ := InteropSecretKey(1)
	ks, err := Encrypt(sk, "pw", WithPBKDF2(2))
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	ks.Pubkey = hex.EncodeToString(other.PublicKey().Bytes())
	if _, err := ks.Decrypt("pw"); !errors.Is(err, ErrPubkeyMismatch) {
		t.Fatalf("Decrypt error = %v, want ErrPubkeyMismatch", err)
	}
	// Without a pubkey field the key is returned as is.
	ks.Pubkey = ""
	got, err := ks.Decrypt("pw")
	if err != nil {
		t.Fatalf("Decrypt without pubkey: %v", err)
	}
	if !bytes.Equal(got.Bytes(), sk.Bytes()) {
		t.Fatal("decrypted key differs")
	}
	// A 0x-prefixed pubkey is accepted.
	ks.Pubkey = "0x" + hex.EncodeToString(sk.PublicKey().Bytes())
	if _, err := ks.Decrypt("pw"); err != nil {
		t.Fatalf("Decrypt with 0x pubkey: %v", err)
	}
}

// TestDecryptInvalidScalar seals secrets that are not BLS secret keys (zero
// and r) with a correct checksum: Decrypt must refuse them without calling
// it a wrong password.
func TestDecryptInvalidScalar(t *testing.T) {
	for name, secret := range map[string][]byte{
		"zero": make([]byte, 32),
		"r":    curveOrder.FillBytes(make([]byte, 32)),
	} {
		t.Run(name, func(t *testing.T) {
			ks := sealRaw(t, secret, "pw")
			_, err := ks.Decrypt("pw")
			if err == nil || errors.Is(err, ErrWrongPassword) {
				t.Fatalf("Decrypt error = %v, want an invalid-key error", err)
			}
			if strings.Contains(err.Error(), hex.EncodeToString(secret)) {
				t.Fatal("error message contains the secret")
			}
		})
	}
}

// sealRaw builds a PBKDF2 keystore around arbitrary 32 secret bytes.
func sealRaw(t *testing.T, secret []byte, password string) *Keystore {
	t.Helper()
	sk, _ := InteropSecretKey(9)
	ks, err := Encrypt(sk, password, WithPBKDF2(2))
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	ks.Pubkey = ""
	d, err := ks.decode()
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	key, err := deriveKey(d, NormalizePassword(password))
	if err != nil {
		t.Fatalf("deriveKey: %v", err)
	}
	ct, err := aesCTR(key[:16], d.iv, secret)
	if err != nil {
		t.Fatalf("aesCTR: %v", err)
	}
	sum := checksum(key, ct)
	ks.Crypto.Cipher.Message = hex.EncodeToString(ct)
	ks.Crypto.Checksum.Message = hex.EncodeToString(sum[:])
	return ks
}

func TestValidateDoesNotModify(t *testing.T) {
	sk, _ := InteropSecretKey(4)
	ks, err := Encrypt(sk, "pw", WithPBKDF2(2))
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	before := *ks
	if err := ks.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if *ks != before {
		t.Fatal("Validate modified the keystore")
	}
	ks.Version = 3
	var fe *FormatError
	if err := ks.Validate(); !errors.As(err, &fe) || fe.Field != "version" {
		t.Fatalf("Validate error = %v, want FormatError on version", err)
	}
	if _, err := ks.Marshal(); !errors.As(err, &fe) {
		t.Fatalf("Marshal of invalid keystore error = %v, want FormatError", err)
	}
	if _, err := ks.Decrypt("pw"); !errors.As(err, &fe) {
		t.Fatalf("Decrypt of invalid keystore error = %v, want FormatError", err)
	}
	var nilKS *Keystore
	if err := nilKS.Validate(); !errors.As(err, &fe) {
		t.Fatalf("nil Validate error = %v, want FormatError", err)
	}
}

func TestNormalizePassword(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"plain ASCII ~!", "plain ASCII ~!"},
		{"\x00a\x1fb\x7fc", "abc"},
		{"tab\tnew\nline\r", "tabnewline"},
		{"c1\u0080\u0085\u009fend", "c1end"},
		{"\u00a0nbsp", " nbsp"},                   // NFKD maps NBSP to a space, which stays
		{"caf\u00e9", "cafe\u0301"},               // canonical decomposition
		{"\ufb01le", "file"},                      // compatibility decomposition of the fi ligature
		{"\u2460", "1"},                           // circled digit one
		{"\U0001d531", "t"},                       // mathematical fraktur t
		{"\u00a0\u0085", " "},                     // strip after decomposition
		{"keep\u00a1\u00ff", "keep\u00a1y\u0308"}, // Latin-1 beyond C1 is not stripped
		{"bad\xffutf8", "bad\ufffdutf8"},          // invalid UTF-8 becomes U+FFFD
	} {
		if got := string(NormalizePassword(tc.in)); got != tc.want {
			t.Errorf("NormalizePassword(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
