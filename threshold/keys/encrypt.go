package keys

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"

	"golang.org/x/crypto/pbkdf2"
	"golang.org/x/crypto/scrypt"

	"github.com/phalanx-eth/phalanx/threshold"
)

// Default key-derivation parameters of Encrypt, from EIP-2335.
const (
	DefaultScryptN = 1 << 18
	DefaultScryptR = 8
	DefaultScryptP = 1
)

const saltLen = 32

// Option configures Encrypt.
type Option func(*encryptConfig)

type encryptConfig struct {
	kdf         string
	scryptN     int
	pbkdf2C     int
	path        string
	description string
	entropy     io.Reader
}

// WithPBKDF2 makes Encrypt use PBKDF2-HMAC-SHA256 with c iterations instead
// of scrypt. EIP-2335 uses c = 262144; small values are for tests and devnets.
func WithPBKDF2(c int) Option {
	return func(cfg *encryptConfig) {
		cfg.kdf = KDFPBKDF2
		cfg.pbkdf2C = c
	}
}

// WithScryptN makes Encrypt use scrypt (the default KDF) with cost parameter
// n, a power of two no larger than MaxScryptN; r and p stay 8 and 1. Small
// values are for tests and devnets.
func WithScryptN(n int) Option {
	return func(cfg *encryptConfig) {
		cfg.kdf = KDFScrypt
		cfg.scryptN = n
	}
}

// WithPath records the EIP-2334 derivation path of the key in the keystore.
func WithPath(path string) Option {
	return func(cfg *encryptConfig) { cfg.path = path }
}

// WithDescription sets the keystore's free-text description.
func WithDescription(description string) Option {
	return func(cfg *encryptConfig) { cfg.description = description }
}

// withEntropy replaces crypto/rand as the source of the salt, IV and UUID.
// Tests use it to reproduce published keystores byte for byte.
func withEntropy(r io.Reader) Option {
	return func(cfg *encryptConfig) { cfg.entropy = r }
}

// Encrypt seals sk into a new EIP-2335 keystore under password, by default
// with scrypt n=262144, r=8, p=1, a random 32-byte salt, a random IV and a
// random version-4 UUID. The keystore records sk's public key.
func Encrypt(sk *threshold.SecretKey, password string, opts ...Option) (*Keystore, error) {
	if sk == nil {
		return nil, fmt.Errorf("keystore: encrypt: nil secret key")
	}
	cfg := encryptConfig{kdf: KDFScrypt, scryptN: DefaultScryptN, entropy: rand.Reader}
	for _, o := range opts {
		o(&cfg)
	}

	random := make([]byte, saltLen+ivLen+16)
	if _, err := io.ReadFull(cfg.entropy, random); err != nil {
		return nil, fmt.Errorf("keystore: encrypt: read randomness: %w", err)
	}
	salt, iv, id := random[:saltLen], random[saltLen:saltLen+ivLen], random[saltLen+ivLen:]

	ks := &Keystore{
		Description: cfg.description,
		Pubkey:      hex.EncodeToString(sk.PublicKey().Bytes()),
		Path:        cfg.path,
		UUID:        uuidV4(id),
		Version:     KeystoreVersion,
	}
	ks.Crypto.KDF.Function = cfg.kdf
	ks.Crypto.KDF.Params = KDFParams{DKLen: dkLen, Salt: hex.EncodeToString(salt)}
	if cfg.kdf == KDFPBKDF2 {
		ks.Crypto.KDF.Params.C = cfg.pbkdf2C
		ks.Crypto.KDF.Params.PRF = PRFHMACSHA256
	} else {
		ks.Crypto.KDF.Params.N = cfg.scryptN
		ks.Crypto.KDF.Params.R = DefaultScryptR
		ks.Crypto.KDF.Params.P = DefaultScryptP
	}
	ks.Crypto.Checksum.Function = ChecksumSHA256
	ks.Crypto.Cipher.Function = CipherAES128
	ks.Crypto.Cipher.Params.IV = hex.EncodeToString(iv)
	// Placeholders of the right size so the parameters can be validated
	// before any expensive work.
	ks.Crypto.Checksum.Message = hex.EncodeToString(make([]byte, checksumLen))
	ks.Crypto.Cipher.Message = hex.EncodeToString(make([]byte, secretLen))
	d, err := ks.decode()
	if err != nil {
		return nil, fmt.Errorf("keystore: encrypt: %w", err)
	}

	pw := NormalizePassword(password)
	defer clear(pw)
	key, err := deriveKey(d, pw)
	if err != nil {
		return nil, fmt.Errorf("keystore: encrypt: %w", err)
	}
	defer clear(key)

	secret := sk.Bytes()
	defer clear(secret)
	ciphertext, err := aesCTR(key[:16], iv, secret)
	if err != nil {
		return nil, fmt.Errorf("keystore: encrypt: %w", err)
	}
	sum := checksum(key, ciphertext)
	ks.Crypto.Checksum.Message = hex.EncodeToString(sum[:])
	ks.Crypto.Cipher.Message = hex.EncodeToString(ciphertext)
	return ks, nil
}

// Decrypt recovers the secret key sealed in ks. The password is normalized
// with NormalizePassword. It returns ErrWrongPassword when the checksum does
// not match, a *FormatError when ks is malformed, and ErrPubkeyMismatch when
// the keystore names a public key that the decrypted secret key does not have.
func (ks *Keystore) Decrypt(password string) (*threshold.SecretKey, error) {
	d, err := ks.decode()
	if err != nil {
		return nil, err
	}
	pw := NormalizePassword(password)
	defer clear(pw)
	key, err := deriveKey(d, pw)
	if err != nil {
		return nil, fmt.Errorf("keystore: decrypt: %w", err)
	}
	defer clear(key)

	sum := checksum(key, d.ciphertext)
	if subtle.ConstantTimeCompare(sum[:], d.checksum) != 1 {
		return nil, ErrWrongPassword
	}
	secret, err := aesCTR(key[:16], d.iv, d.ciphertext)
	if err != nil {
		return nil, fmt.Errorf("keystore: decrypt: %w", err)
	}
	defer clear(secret)
	sk, err := threshold.SecretKeyFromBytes(secret)
	if err != nil {
		return nil, fmt.Errorf("keystore: decrypted secret is not a valid BLS secret key: %w", err)
	}
	if d.pubkey != nil && !bytes.Equal(sk.PublicKey().Bytes(), d.pubkey) {
		sk.Zeroize()
		return nil, ErrPubkeyMismatch
	}
	return sk, nil
}

// deriveKey runs the keystore's KDF over the normalized password.
func deriveKey(d *decodedKeystore, password []byte) ([]byte, error) {
	switch d.kdf {
	case KDFScrypt:
		key, err := scrypt.Key(password, d.salt, d.n, d.r, d.p, dkLen)
		if err != nil {
			return nil, fmt.Errorf("scrypt: %w", err)
		}
		return key, nil
	case KDFPBKDF2:
		return pbkdf2.Key(password, d.salt, d.c, dkLen, sha256.New), nil
	default:
		return nil, fmt.Errorf("unknown kdf %q", d.kdf)
	}
}

// checksum is the EIP-2335 sha256 checksum: SHA256(key[16:32] || ciphertext).
func checksum(key, ciphertext []byte) [32]byte {
	h := sha256.New()
	h.Write(key[16:32])
	h.Write(ciphertext)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func aesCTR(key, iv, in []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	out := make([]byte, len(in))
	cipher.NewCTR(block, iv).XORKeyStream(out, in)
	return out, nil
}

// uuidV4 formats 16 random bytes as an RFC 4122 version-4 UUID.
func uuidV4(b []byte) string {
	var u [16]byte
	copy(u[:], b)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
