package threshold

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"

	blst "github.com/supranational/blst/bindings/go"
)

// Encoded sizes of the ciphersuite's objects.
const (
	// SecretKeySize is the length of a big-endian encoded secret key.
	SecretKeySize = 32
	// PublicKeySize is the length of a compressed G1 public key.
	PublicKeySize = 48
	// SignatureSize is the length of a compressed G2 signature.
	SignatureSize = 96
)

// dstPOP is the hash-to-curve domain separation tag of the Ethereum
// proof-of-possession ciphersuite.
var dstPOP = []byte("BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_")

// Errors returned by the decoders.
var (
	// ErrInvalidLength reports an encoding of the wrong size.
	ErrInvalidLength = errors.New("threshold: invalid encoding length")
	// ErrInvalidSecretKey reports a secret key that is zero or not below the group order.
	ErrInvalidSecretKey = errors.New("threshold: secret key is zero or not below the group order")
	// ErrInvalidPoint reports an encoding that is not a point of the expected subgroup.
	ErrInvalidPoint = errors.New("threshold: encoding is not a valid point of the subgroup")
	// ErrInfinity reports the point at infinity where a public key is required.
	ErrInfinity = errors.New("threshold: point at infinity is not a valid public key")
	// ErrEmpty reports an empty input to an aggregation.
	ErrEmpty = errors.New("threshold: nothing to aggregate")
)

// SecretKey is a BLS secret key: a scalar in [1, r). Its value never appears
// in fmt, json or slog output; all of those print a redaction marker. Copies
// of a SecretKey share one scalar, and Zeroize clears it for all of them.
type SecretKey struct {
	s *blst.SecretKey
}

// redacted is what every textual form of a SecretKey shows.
const redacted = "SecretKey(redacted)"

// SecretKeyFromBytes decodes a 32-byte big-endian scalar. It rejects zero
// and values not below the group order r. The caller may zero b afterwards.
func SecretKeyFromBytes(b []byte) (*SecretKey, error) {
	if len(b) != SecretKeySize {
		return nil, fmt.Errorf("decode secret key: %d bytes, want %d: %w", len(b), SecretKeySize, ErrInvalidLength)
	}
	s := new(blst.SecretKey)
	if s.Deserialize(b) == nil {
		s.Zeroize()
		return nil, fmt.Errorf("decode secret key: %w", ErrInvalidSecretKey)
	}
	return &SecretKey{s: s}, nil
}

// GenerateSecretKey draws a new secret key from r (normally crypto/rand.Reader)
// using the IETF KeyGen procedure on 32 bytes of input key material.
func GenerateSecretKey(r io.Reader) (*SecretKey, error) {
	var ikm [32]byte
	defer clear(ikm[:])
	if _, err := io.ReadFull(r, ikm[:]); err != nil {
		return nil, fmt.Errorf("generate secret key: read randomness: %w", err)
	}
	s := blst.KeyGen(ikm[:])
	if s == nil || !s.Valid() {
		return nil, fmt.Errorf("generate secret key: %w", ErrInvalidSecretKey)
	}
	return &SecretKey{s: s}, nil
}

// scalar returns the blst scalar, panicking with a clear message on a zero
// SecretKey value (one not made by this package).
func (sk *SecretKey) scalar() *blst.SecretKey {
	if sk == nil || sk.s == nil {
		panic("threshold: use of uninitialised SecretKey")
	}
	return sk.s
}

// Bytes returns the 32-byte big-endian encoding. The caller owns the slice
// and should zero it when done.
func (sk *SecretKey) Bytes() []byte {
	return sk.scalar().Serialize()
}

// PublicKey returns the public key sk·G1.
func (sk *SecretKey) PublicKey() *PublicKey {
	pk := new(PublicKey)
	pk.p.From(sk.scalar())
	return pk
}

// Sign signs msg with the Ethereum POP ciphersuite.
func (sk *SecretKey) Sign(msg []byte) *Signature {
	sig := new(Signature)
	sig.p.Sign(sk.scalar(), msg, dstPOP)
	return sig
}

// SignHashed signs a message that was hashed to G2 beforehand with
// HashMessage; the result equals Sign on the same message.
func (sk *SecretKey) SignHashed(h *HashedMessage) *Signature {
	p := h.jac.Mult(sk.scalar())
	return &Signature{p: *p.ToAffine()}
}

// Zeroize overwrites the scalar with zeros. The key must not be used after.
func (sk *SecretKey) Zeroize() {
	if sk != nil && sk.s != nil {
		sk.s.Zeroize()
	}
}

// String implements fmt.Stringer and never reveals the key.
func (SecretKey) String() string { return redacted }

// GoString implements fmt.GoStringer and never reveals the key.
func (SecretKey) GoString() string { return redacted }

// Format implements fmt.Formatter so that every verb (%v, %+v, %#v, %x, %s,
// %d, ...) prints the redaction marker.
func (SecretKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// MarshalJSON implements json.Marshaler and never reveals the key.
func (SecretKey) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler and never reveals the key.
func (SecretKey) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue implements slog.LogValuer and never reveals the key.
func (SecretKey) LogValue() slog.Value { return slog.StringValue(redacted) }

// PublicKey is a BLS public key: a G1 point in the prime-order subgroup,
// never the point at infinity. Its encoding is the 48-byte compressed form.
type PublicKey struct {
	p blst.P1Affine
}

// PublicKeyFromBytes decodes a compressed public key, checking that it is on
// the curve, in the G1 subgroup and not the point at infinity.
func PublicKeyFromBytes(b []byte) (*PublicKey, error) {
	p, err := decodeG1(b)
	if err != nil {
		return nil, fmt.Errorf("decode public key: %w", err)
	}
	if isInfG1(p) {
		return nil, fmt.Errorf("decode public key: %w", ErrInfinity)
	}
	return &PublicKey{p: *p}, nil
}

// decodeG1 decodes a compressed G1 point in the subgroup; infinity is allowed.
func decodeG1(b []byte) (*blst.P1Affine, error) {
	if len(b) != PublicKeySize {
		return nil, fmt.Errorf("%d bytes, want %d: %w", len(b), PublicKeySize, ErrInvalidLength)
	}
	p := new(blst.P1Affine)
	if p.Uncompress(b) == nil || !p.InG1() {
		return nil, ErrInvalidPoint
	}
	return p, nil
}

var (
	infG1 blst.P1Affine
	infG2 blst.P2Affine
)

func isInfG1(p *blst.P1Affine) bool { return p.Equals(&infG1) }
func isInfG2(p *blst.P2Affine) bool { return p.Equals(&infG2) }

// valid reports whether pk is usable: non-nil and not infinity (the zero
// PublicKey value is the point at infinity).
func (pk *PublicKey) valid() bool { return pk != nil && !isInfG1(&pk.p) }

// Bytes returns the 48-byte compressed encoding.
func (pk *PublicKey) Bytes() []byte { return pk.p.Compress() }

// Equal reports whether pk and o are the same point. Two nil keys are equal.
func (pk *PublicKey) Equal(o *PublicKey) bool {
	if pk == nil || o == nil {
		return pk == o
	}
	return pk.p.Equals(&o.p)
}

// String returns the 0x-prefixed hex of the compressed encoding.
func (pk *PublicKey) String() string {
	if pk == nil {
		return "<nil>"
	}
	return "0x" + hex.EncodeToString(pk.Bytes())
}

// Verify reports whether sig is a valid signature of msg under pk.
func (pk *PublicKey) Verify(msg []byte, sig *Signature) bool {
	if !pk.valid() || sig == nil {
		return false
	}
	return sig.p.Verify(false, &pk.p, false, msg, dstPOP)
}

// Signature is a BLS signature: a G2 point in the prime-order subgroup,
// encoded as its 96-byte compressed form.
type Signature struct {
	p blst.P2Affine
}

// SignatureFromBytes decodes a compressed signature, checking that it is on
// the curve and in the G2 subgroup. The point at infinity decodes (it is a
// subgroup element) but verifies against no public key.
func SignatureFromBytes(b []byte) (*Signature, error) {
	if len(b) != SignatureSize {
		return nil, fmt.Errorf("decode signature: %d bytes, want %d: %w", len(b), SignatureSize, ErrInvalidLength)
	}
	s := new(Signature)
	if s.p.Uncompress(b) == nil || !s.p.InG2() {
		return nil, fmt.Errorf("decode signature: %w", ErrInvalidPoint)
	}
	return s, nil
}

// DecodePartialSignature decodes a compressed signature checking only that it is on the curve, not that it is
// in the G2 subgroup (the subgroup check costs more than the decompression). It is for partial signatures
// that are used only inside a recombination whose result is then checked with InSubgroup and verified, so one
// subgroup check covers t shares. FindBadShares checks the subgroup of every share it is given.
func DecodePartialSignature(b []byte) (*Signature, error) {
	if len(b) != SignatureSize {
		return nil, fmt.Errorf("decode partial signature: %d bytes, want %d: %w", len(b), SignatureSize, ErrInvalidLength)
	}
	s := new(Signature)
	if s.p.Uncompress(b) == nil {
		return nil, fmt.Errorf("decode partial signature: %w", ErrInvalidPoint)
	}
	return s, nil
}

// InSubgroup reports whether s is in the prime-order G2 subgroup. Signatures from SignatureFromBytes and from
// signing always are; a recombination of DecodePartialSignature results must be checked.
func (s *Signature) InSubgroup() bool { return s != nil && s.p.InG2() }

// Bytes returns the 96-byte compressed encoding.
func (s *Signature) Bytes() []byte { return s.p.Compress() }

// Equal reports whether s and o are the same point. Two nil signatures are equal.
func (s *Signature) Equal(o *Signature) bool {
	if s == nil || o == nil {
		return s == o
	}
	return s.p.Equals(&o.p)
}

// String returns the 0x-prefixed hex of the compressed encoding.
func (s *Signature) String() string {
	if s == nil {
		return "<nil>"
	}
	return "0x" + hex.EncodeToString(s.Bytes())
}

// HashedMessage is a message hashed to G2 under the Ethereum POP domain
// separation tag. Hash once with HashMessage, then sign or verify it for any
// number of keys.
type HashedMessage struct {
	jac blst.P2       // for scalar multiplication
	aff blst.P2Affine // for pairings
}

// HashMessage hashes msg to G2 with the Ethereum POP domain separation tag.
func HashMessage(msg []byte) *HashedMessage {
	return hashWithDST(msg, dstPOP)
}

// hashWithDST hashes msg to G2 (RFC 9380 hash_to_curve) under dst.
func hashWithDST(msg, dst []byte) *HashedMessage {
	h := &HashedMessage{jac: *blst.HashToG2(msg, dst)}
	h.aff = *h.jac.ToAffine()
	return h
}
