package keys

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// KeystoreVersion is the only EIP-2335 keystore version this package reads and writes.
const KeystoreVersion = 4

// Names of the modules of an EIP-2335 keystore.
const (
	KDFScrypt      = "scrypt"
	KDFPBKDF2      = "pbkdf2"
	PRFHMACSHA256  = "hmac-sha256"
	ChecksumSHA256 = "sha256"
	CipherAES128   = "aes-128-ctr"
)

// Limits on key-derivation parameters. Every keystore written by the
// deposit CLI, Lighthouse, Prysm, Teku, Nimbus, Lodestar, ethdo or Web3Signer
// uses scrypt n=2^18 r=8 p=1 or PBKDF2 c=2^18, far inside these bounds; a
// keystore asking for more is refused before any work is done.
const (
	// MaxScryptN is the largest scrypt cost parameter accepted (2^20).
	MaxScryptN = 1 << 20
	// MaxScryptMemory bounds scrypt's working memory, 128*n*r bytes (1 GiB).
	MaxScryptMemory = 1 << 30
	// MaxScryptWork bounds n*r*p, proportional to scrypt's CPU time (8 times
	// the EIP-2335 default).
	MaxScryptWork = 1 << 24
	// MaxPBKDF2C is the largest PBKDF2 iteration count accepted (2^22).
	MaxPBKDF2C = 1 << 22
	// MaxSaltLen is the longest KDF salt accepted, in bytes.
	MaxSaltLen = 1024
)

const (
	dkLen         = 32 // EIP-2335 decryption key length
	ivLen         = 16 // AES block size
	checksumLen   = 32 // SHA-256
	secretLen     = 32 // a BLS12-381 secret key
	pubkeyLen     = 48 // compressed G1 point
	maxKeystoreSz = 1 << 20
)

// ErrWrongPassword is returned by Keystore.Decrypt when the password does not
// produce the keystore's checksum.
var ErrWrongPassword = errors.New("keystore: wrong password (checksum mismatch)")

// ErrPubkeyMismatch is returned by Keystore.Decrypt when the decrypted secret
// key does not belong to the keystore's pubkey field.
var ErrPubkeyMismatch = errors.New("keystore: decrypted secret key does not match the pubkey field")

// FormatError reports a keystore that does not have the EIP-2335 form or
// asks for parameters this package refuses. Field is the JSON path of the
// offending field ("crypto.kdf.params.dklen"), empty for the document as a
// whole.
type FormatError struct {
	Field   string
	Problem string
}

// Error implements error.
func (e *FormatError) Error() string {
	if e.Field == "" {
		return "keystore: " + e.Problem
	}
	return "keystore: " + e.Field + ": " + e.Problem
}

func formatErr(field, format string, args ...any) *FormatError {
	return &FormatError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// Keystore is an EIP-2335 (version 4) keystore. Its JSON form is exactly the
// one the EIP specifies; byte strings are lowercase hex without "0x".
type Keystore struct {
	Crypto CryptoModule `json:"crypto"`
	// Description is free text for the user; may be empty.
	Description string `json:"description"`
	// Pubkey is the hex-encoded 48-byte public key of the stored secret key,
	// or empty if unknown. A "0x" prefix is tolerated on input.
	Pubkey string `json:"pubkey"`
	// Path is the EIP-2334 derivation path of the key, or empty.
	Path string `json:"path"`
	// UUID is the keystore's identifier (RFC 4122 text form).
	UUID string `json:"uuid"`
	// Version is always KeystoreVersion (4).
	Version int `json:"version"`
}

// CryptoModule holds the three EIP-2335 modules.
type CryptoModule struct {
	KDF      KDFModule      `json:"kdf"`
	Checksum ChecksumModule `json:"checksum"`
	Cipher   CipherModule   `json:"cipher"`
}

// KDFModule derives the decryption key from the normalized password.
// Function is KDFScrypt or KDFPBKDF2; Message is always empty.
type KDFModule struct {
	Function string    `json:"function"`
	Params   KDFParams `json:"params"`
	Message  string    `json:"message"`
}

// KDFParams holds the parameters of either KDF. Scrypt uses DKLen, N, P, R
// and Salt; PBKDF2 uses DKLen, C, PRF and Salt. The fields a function does
// not use must be zero. Fields are in alphabetical order so the JSON form
// matches the EIP examples for both functions.
type KDFParams struct {
	DKLen int    `json:"dklen"`
	C     int    `json:"c,omitempty"`
	N     int    `json:"n,omitempty"`
	P     int    `json:"p,omitempty"`
	PRF   string `json:"prf,omitempty"`
	R     int    `json:"r,omitempty"`
	Salt  string `json:"salt"`
}

// ChecksumModule verifies the password: Message is the hex SHA-256 of the
// second half of the decryption key followed by the cipher message.
type ChecksumModule struct {
	Function string         `json:"function"`
	Params   ChecksumParams `json:"params"`
	Message  string         `json:"message"`
}

// ChecksumParams is the (empty) parameter object of the sha256 checksum.
type ChecksumParams struct{}

// CipherModule holds the encrypted secret: Message is the hex AES-128-CTR
// ciphertext under the first half of the decryption key.
type CipherModule struct {
	Function string       `json:"function"`
	Params   CipherParams `json:"params"`
	Message  string       `json:"message"`
}

// CipherParams holds the hex-encoded 16-byte AES-CTR initial counter.
type CipherParams struct {
	IV string `json:"iv"`
}

// decodedKeystore is a validated keystore with its byte fields decoded.
type decodedKeystore struct {
	kdf        string
	n, r, p, c int
	salt       []byte
	checksum   []byte
	iv         []byte
	ciphertext []byte
	pubkey     []byte // nil when absent
}

// ParseKeystore decodes and validates an EIP-2335 keystore. It is strict:
// the version must be 4; the KDF, checksum and cipher must be known modules
// with exactly their documented parameters; byte fields must be hex of the
// right length; the ciphertext must be a 32-byte secret; KDF parameters must
// be within the Max* limits. Unknown top-level fields (such as "name",
// written by some wallets) are ignored. Every problem is reported as a
// *FormatError naming the field.
func ParseKeystore(data []byte) (*Keystore, error) {
	if len(data) > maxKeystoreSz {
		return nil, formatErr("", "larger than %d bytes", maxKeystoreSz)
	}
	top, err := decodeObject(data, "")
	if err != nil {
		return nil, err
	}
	ks := &Keystore{}
	if ks.Version, err = requiredInt(top, "", "version"); err != nil {
		return nil, err
	}
	if ks.Version != KeystoreVersion {
		return nil, formatErr("version", "must be %d, got %d", KeystoreVersion, ks.Version)
	}
	if ks.UUID, err = requiredString(top, "", "uuid"); err != nil {
		return nil, err
	}
	if ks.Path, err = optionalString(top, "", "path"); err != nil {
		return nil, err
	}
	if ks.Description, err = optionalString(top, "", "description"); err != nil {
		return nil, err
	}
	if ks.Pubkey, err = optionalString(top, "", "pubkey"); err != nil {
		return nil, err
	}
	if err := parseCrypto(top, &ks.Crypto); err != nil {
		return nil, err
	}
	if _, err := ks.decode(); err != nil {
		return nil, err
	}
	return ks, nil
}

func parseCrypto(top map[string]json.RawMessage, c *CryptoModule) error {
	crypto, err := requiredObject(top, "", "crypto", []string{"kdf", "checksum", "cipher"})
	if err != nil {
		return err
	}

	// KDF.
	kdf, err := requiredObject(crypto, "crypto", "kdf", []string{"function", "params", "message"})
	if err != nil {
		return err
	}
	if c.KDF.Function, err = requiredString(kdf, "crypto.kdf", "function"); err != nil {
		return err
	}
	if c.KDF.Message, err = requiredString(kdf, "crypto.kdf", "message"); err != nil {
		return err
	}
	var kdfKeys []string
	switch c.KDF.Function {
	case KDFScrypt:
		kdfKeys = []string{"dklen", "n", "r", "p", "salt"}
	case KDFPBKDF2:
		kdfKeys = []string{"dklen", "c", "prf", "salt"}
	default:
		return formatErr("crypto.kdf.function", "unknown function %q (want %q or %q)", c.KDF.Function, KDFScrypt, KDFPBKDF2)
	}
	params, err := requiredObject(kdf, "crypto.kdf", "params", kdfKeys)
	if err != nil {
		return err
	}
	const pp = "crypto.kdf.params"
	p := &c.KDF.Params
	if p.DKLen, err = requiredInt(params, pp, "dklen"); err != nil {
		return err
	}
	if p.Salt, err = requiredString(params, pp, "salt"); err != nil {
		return err
	}
	if c.KDF.Function == KDFScrypt {
		if p.N, err = requiredInt(params, pp, "n"); err != nil {
			return err
		}
		if p.R, err = requiredInt(params, pp, "r"); err != nil {
			return err
		}
		if p.P, err = requiredInt(params, pp, "p"); err != nil {
			return err
		}
	} else {
		if p.C, err = requiredInt(params, pp, "c"); err != nil {
			return err
		}
		if p.PRF, err = requiredString(params, pp, "prf"); err != nil {
			return err
		}
	}

	// Checksum.
	sum, err := requiredObject(crypto, "crypto", "checksum", []string{"function", "params", "message"})
	if err != nil {
		return err
	}
	if c.Checksum.Function, err = requiredString(sum, "crypto.checksum", "function"); err != nil {
		return err
	}
	if _, err := requiredObject(sum, "crypto.checksum", "params", nil); err != nil {
		return err
	}
	if c.Checksum.Message, err = requiredString(sum, "crypto.checksum", "message"); err != nil {
		return err
	}

	// Cipher.
	ciph, err := requiredObject(crypto, "crypto", "cipher", []string{"function", "params", "message"})
	if err != nil {
		return err
	}
	if c.Cipher.Function, err = requiredString(ciph, "crypto.cipher", "function"); err != nil {
		return err
	}
	cparams, err := requiredObject(ciph, "crypto.cipher", "params", []string{"iv"})
	if err != nil {
		return err
	}
	if c.Cipher.Params.IV, err = requiredString(cparams, "crypto.cipher.params", "iv"); err != nil {
		return err
	}
	if c.Cipher.Message, err = requiredString(ciph, "crypto.cipher", "message"); err != nil {
		return err
	}
	return nil
}

// Validate checks ks against the same rules as ParseKeystore, without
// modifying it. Decrypt and Marshal call it.
func (ks *Keystore) Validate() error {
	_, err := ks.decode()
	return err
}

// decode validates ks and decodes its byte fields.
func (ks *Keystore) decode() (*decodedKeystore, error) {
	if ks == nil {
		return nil, formatErr("", "nil keystore")
	}
	d := &decodedKeystore{}
	var err error
	if ks.Version != KeystoreVersion {
		return nil, formatErr("version", "must be %d, got %d", KeystoreVersion, ks.Version)
	}
	if !validUUID(ks.UUID) {
		return nil, formatErr("uuid", "must be a UUID of the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx")
	}
	if ks.Path != "" {
		if _, err := ParsePath(ks.Path); err != nil {
			return nil, formatErr("path", "must be empty or an EIP-2334 path like m/12381/3600/0/0/0")
		}
	}
	if ks.Pubkey != "" {
		pk := strings.TrimPrefix(ks.Pubkey, "0x")
		if d.pubkey, err = decodeHex("pubkey", pk, pubkeyLen, pubkeyLen); err != nil {
			return nil, err
		}
	}

	kdf := &ks.Crypto.KDF
	p := kdf.Params
	const pp = "crypto.kdf.params."
	if kdf.Message != "" {
		return nil, formatErr("crypto.kdf.message", "must be empty")
	}
	if p.DKLen != dkLen {
		return nil, formatErr(pp+"dklen", "must be %d, got %d", dkLen, p.DKLen)
	}
	if d.salt, err = decodeHex(pp+"salt", p.Salt, 1, MaxSaltLen); err != nil {
		return nil, err
	}
	d.kdf = kdf.Function
	switch kdf.Function {
	case KDFScrypt:
		if p.C != 0 || p.PRF != "" {
			return nil, formatErr("crypto.kdf.params", "scrypt takes dklen, n, r, p and salt only")
		}
		if err := checkScrypt(p.N, p.R, p.P); err != nil {
			return nil, err
		}
		d.n, d.r, d.p = p.N, p.R, p.P
	case KDFPBKDF2:
		if p.N != 0 || p.R != 0 || p.P != 0 {
			return nil, formatErr("crypto.kdf.params", "pbkdf2 takes dklen, c, prf and salt only")
		}
		if p.PRF != PRFHMACSHA256 {
			return nil, formatErr(pp+"prf", "must be %q, got %q", PRFHMACSHA256, p.PRF)
		}
		if p.C < 1 || p.C > MaxPBKDF2C {
			return nil, formatErr(pp+"c", "must be between 1 and %d, got %d", MaxPBKDF2C, p.C)
		}
		d.c = p.C
	default:
		return nil, formatErr("crypto.kdf.function", "unknown function %q (want %q or %q)", kdf.Function, KDFScrypt, KDFPBKDF2)
	}

	if ks.Crypto.Checksum.Function != ChecksumSHA256 {
		return nil, formatErr("crypto.checksum.function", "unknown function %q (want %q)", ks.Crypto.Checksum.Function, ChecksumSHA256)
	}
	if d.checksum, err = decodeHex("crypto.checksum.message", ks.Crypto.Checksum.Message, checksumLen, checksumLen); err != nil {
		return nil, err
	}

	if ks.Crypto.Cipher.Function != CipherAES128 {
		return nil, formatErr("crypto.cipher.function", "unknown function %q (want %q)", ks.Crypto.Cipher.Function, CipherAES128)
	}
	if d.iv, err = decodeHex("crypto.cipher.params.iv", ks.Crypto.Cipher.Params.IV, ivLen, ivLen); err != nil {
		return nil, err
	}
	if d.ciphertext, err = decodeHex("crypto.cipher.message", ks.Crypto.Cipher.Message, secretLen, secretLen); err != nil {
		return nil, err
	}
	return d, nil
}

// checkScrypt enforces the scrypt parameter limits.
func checkScrypt(n, r, p int) error {
	const pp = "crypto.kdf.params."
	if n < 2 || n > MaxScryptN || bits.OnesCount(uint(n)) != 1 {
		return formatErr(pp+"n", "must be a power of two between 2 and %d, got %d", MaxScryptN, n)
	}
	if r < 1 || r > MaxScryptMemory/128/n {
		return formatErr(pp+"r", "must be between 1 and %d for n=%d (128*n*r bytes of memory at most %d), got %d",
			MaxScryptMemory/128/n, n, MaxScryptMemory, r)
	}
	if p < 1 || p > MaxScryptWork/(n*r) {
		return formatErr(pp+"p", "must be between 1 and %d for n=%d r=%d (n*r*p at most %d), got %d",
			max(MaxScryptWork/(n*r), 1), n, r, MaxScryptWork, p)
	}
	return nil
}

// Marshal returns the EIP-2335 JSON form of ks, indented like the EIP's
// examples. It refuses a keystore that ParseKeystore would refuse.
func (ks *Keystore) Marshal() ([]byte, error) {
	if err := ks.Validate(); err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(ks, "", "    ")
	if err != nil {
		return nil, fmt.Errorf("keystore: marshal: %w", err)
	}
	return append(out, '\n'), nil
}

// decodeHex decodes a hex field whose decoded length must be in [minLen, maxLen].
func decodeHex(field, s string, minLen, maxLen int) ([]byte, error) {
	if len(s) > 2*maxLen {
		return nil, formatErr(field, "must be %s, got %d hex characters", byteCount(minLen, maxLen), len(s))
	}
	b, err := hex.DecodeString(s)
	switch {
	case err == nil:
	case strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X"):
		return nil, formatErr(field, "must be plain hex without a 0x prefix")
	case errors.Is(err, hex.ErrLength):
		return nil, formatErr(field, "has an odd number of hex digits")
	default:
		return nil, formatErr(field, "must be hex (0-9, a-f)")
	}
	if len(b) < minLen {
		return nil, formatErr(field, "must be %s, got %d", byteCount(minLen, maxLen), len(b))
	}
	return b, nil
}

func byteCount(minLen, maxLen int) string {
	if minLen == maxLen {
		return strconv.Itoa(minLen) + " bytes"
	}
	return fmt.Sprintf("%d to %d bytes", minLen, maxLen)
}

// validUUID reports whether s has the RFC 4122 text form (any version, any case).
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHexDigit(c) {
				return false
			}
		}
	}
	return true
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// decodeObject decodes one JSON object into its raw members; field names
// the object in errors ("" for the whole document).
func decodeObject(data []byte, field string) (map[string]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 && field == "" {
		return nil, formatErr(field, "empty document")
	}
	if len(trimmed) == 0 || trimmed[0] != '{' {
		if field == "" {
			return nil, formatErr(field, "must be a JSON object")
		}
		return nil, formatErr(field, "must be an object")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &m); err != nil {
		if field == "" {
			return nil, formatErr(field, "invalid JSON: %v", jsonProblem(err))
		}
		return nil, formatErr(field, "must be an object")
	}
	return m, nil
}

// jsonProblem describes a JSON syntax error without echoing input.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf("syntax error at byte offset %d", syn.Offset)
	}
	return "not a JSON object"
}

func join(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// requiredObject returns member name of m, which must be an object whose
// members are exactly the names in allowed (none when allowed is nil).
func requiredObject(m map[string]json.RawMessage, parent, name string, allowed []string) (map[string]json.RawMessage, error) {
	field := join(parent, name)
	raw, ok := m[name]
	if !ok {
		return nil, formatErr(field, "missing")
	}
	obj, err := decodeObject(raw, field)
	if err != nil {
		return nil, err
	}
	for key := range obj {
		known := false
		for _, a := range allowed {
			if key == a {
				known = true
				break
			}
		}
		if !known {
			return nil, formatErr(join(field, key), "unknown field")
		}
	}
	for _, a := range allowed {
		if _, ok := obj[a]; !ok {
			return nil, formatErr(join(field, a), "missing")
		}
	}
	return obj, nil
}

func requiredString(m map[string]json.RawMessage, parent, name string) (string, error) {
	raw, ok := m[name]
	if !ok {
		return "", formatErr(join(parent, name), "missing")
	}
	return decodeString(raw, join(parent, name))
}

func optionalString(m map[string]json.RawMessage, parent, name string) (string, error) {
	raw, ok := m[name]
	if !ok {
		return "", nil
	}
	return decodeString(raw, join(parent, name))
}

func decodeString(raw json.RawMessage, field string) (string, error) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", formatErr(field, "must be a string")
	}
	return s, nil
}

// requiredInt decodes a non-negative JSON integer no larger than 2^31-1.
func requiredInt(m map[string]json.RawMessage, parent, name string) (int, error) {
	field := join(parent, name)
	raw, ok := m[name]
	if !ok {
		return 0, formatErr(field, "missing")
	}
	s := string(raw)
	if s == "" || strings.ContainsAny(s, ".eE+-\"") || s[0] < '0' || s[0] > '9' {
		return 0, formatErr(field, "must be a non-negative integer")
	}
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, formatErr(field, "must be an integer below 2^31")
	}
	return int(v), nil
}
