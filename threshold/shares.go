package threshold

import (
	"errors"
	"fmt"
	"io"
	"math/bits"

	blst "github.com/supranational/blst/bindings/go"
)

// MaxShares is the largest number of shares a key can be split into, and so
// the largest share index.
const MaxShares = 16

// Errors of the threshold layer. Compare with errors.Is.
var (
	// ErrTooFewShares reports fewer distinct shares than the threshold.
	ErrTooFewShares = errors.New("threshold: fewer distinct shares than the threshold")
	// ErrDuplicateIndex reports two different shares with one index.
	ErrDuplicateIndex = errors.New("threshold: two different shares carry the same index")
	// ErrIndexOutOfRange reports a share index outside 1..MaxShares.
	ErrIndexOutOfRange = errors.New("threshold: share index out of range 1..16")
	// ErrThreshold reports a threshold or share count outside 1 <= t <= n <= MaxShares.
	ErrThreshold = errors.New("threshold: need 1 <= t <= n <= 16")
	// ErrBadShare is what every *BadShareError matches with errors.Is.
	ErrBadShare = errors.New("threshold: bad share")
	// ErrMissing reports a nil key, signature or commitment where one is required.
	ErrMissing = errors.New("threshold: missing value")
)

// BadShareError names a share that does not match its public commitment: a
// secret share rejected by Commitments.VerifyShare, or a partial signature
// that does not verify under its share public key.
type BadShareError struct {
	Index uint32
}

// Error implements error.
func (e *BadShareError) Error() string {
	return fmt.Sprintf("threshold: share %d does not match its public key", e.Index)
}

// Is makes errors.Is(err, ErrBadShare) true for every *BadShareError.
func (e *BadShareError) Is(target error) bool { return target == ErrBadShare }

// SecretShare is share Index (1-based) of a split secret key: f(Index) for
// the sharing polynomial f. Printing it never shows the key.
type SecretShare struct {
	Index uint32
	Key   *SecretKey
}

// SignHashed makes this share's partial signature of a hashed message.
func (s *SecretShare) SignHashed(h *HashedMessage) PartialSignature {
	return PartialSignature{Index: s.Index, Signature: s.Key.SignHashed(h)}
}

// PartialSignature is the signature of a message by one secret share.
type PartialSignature struct {
	Index     uint32
	Signature *Signature
}

// Commitments are the Feldman commitments of a sharing polynomial
// f(x) = a_0 + a_1·x + ... + a_{t-1}·x^{t-1}: C_j = a_j·G1. C_0 is the group
// public key; anyone can derive each share's public key from them.
type Commitments []*PublicKey

// Threshold returns t, the number of shares needed to sign.
func (c Commitments) Threshold() int { return len(c) }

// GroupPublicKey returns C_0, the public key of the unsplit secret key, or
// nil for empty commitments.
func (c Commitments) GroupPublicKey() *PublicKey {
	if len(c) == 0 {
		return nil
	}
	return c[0]
}

// checkIndex rejects indices outside 1..MaxShares.
func checkIndex(index uint32) error {
	if index == 0 || index > MaxShares {
		return fmt.Errorf("share index %d: %w", index, ErrIndexOutOfRange)
	}
	return nil
}

// SharePublicKey returns the public key of share index:
// Σ_j index^j·C_j, evaluated by Horner's rule with small-scalar multiplications.
func (c Commitments) SharePublicKey(index uint32) (*PublicKey, error) {
	if err := checkIndex(index); err != nil {
		return nil, err
	}
	if len(c) == 0 || len(c) > MaxShares {
		return nil, fmt.Errorf("share public key: %d commitments: %w", len(c), ErrThreshold)
	}
	for j, cj := range c {
		if !cj.valid() {
			return nil, fmt.Errorf("share public key: commitment %d: %w", j, ErrMissing)
		}
	}
	x := []byte{byte(index)}
	nbits := bits.Len32(index)
	var acc blst.P1
	acc.FromAffine(&c[len(c)-1].p)
	for j := len(c) - 2; j >= 0; j-- {
		acc.MultAssign(x, nbits)
		acc.AddAssign(&c[j].p)
	}
	pk := &PublicKey{p: *acc.ToAffine()}
	if !pk.valid() {
		return nil, fmt.Errorf("share public key %d: %w", index, ErrInfinity)
	}
	return pk, nil
}

// VerifyShare checks a secret share against the commitments. A share whose
// key does not match returns a *BadShareError naming it.
func (c Commitments) VerifyShare(s SecretShare) error {
	want, err := c.SharePublicKey(s.Index)
	if err != nil {
		return fmt.Errorf("verify share: %w", err)
	}
	if s.Key == nil || s.Key.s == nil || !s.Key.PublicKey().Equal(want) {
		return &BadShareError{Index: s.Index}
	}
	return nil
}

// Bytes encodes the commitments as the concatenation of their compressed
// points, C_0 first.
func (c Commitments) Bytes() []byte {
	out := make([]byte, 0, len(c)*PublicKeySize)
	for _, pk := range c {
		out = append(out, pk.Bytes()...)
	}
	return out
}

// CommitmentsFromBytes decodes commitments written by Commitments.Bytes:
// 1 to MaxShares compressed G1 points, each in the subgroup and not infinity.
func CommitmentsFromBytes(b []byte) (Commitments, error) {
	if len(b) == 0 || len(b)%PublicKeySize != 0 || len(b) > MaxShares*PublicKeySize {
		return nil, fmt.Errorf("decode commitments: %d bytes, want 48·t for 1 <= t <= %d: %w", len(b), MaxShares, ErrInvalidLength)
	}
	c := make(Commitments, len(b)/PublicKeySize)
	for j := range c {
		pk, err := PublicKeyFromBytes(b[j*PublicKeySize : (j+1)*PublicKeySize])
		if err != nil {
			return nil, fmt.Errorf("decode commitment %d: %w", j, err)
		}
		c[j] = pk
	}
	return c, nil
}

// scalarFromUint sets a public small integer as a blst scalar.
func scalarFromUint(v uint32) *blst.Scalar {
	var buf [32]byte
	buf[0], buf[1], buf[2], buf[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	return new(blst.Scalar).FromLEndian(buf[:])
}

// Split shares sk among n holders so that any t of them can sign: it draws a
// random polynomial f of degree t-1 with f(0) = sk (coefficients from rand,
// normally crypto/rand.Reader), gives holder i the share f(i), i = 1..n, and
// returns the Feldman commitments to f. sk is left untouched; the polynomial's
// other coefficients are zeroed before Split returns.
func Split(sk *SecretKey, t, n int, rand io.Reader) ([]SecretShare, Commitments, error) {
	if t < 1 || t > n || n > MaxShares {
		return nil, nil, fmt.Errorf("split %d-of-%d: %w", t, n, ErrThreshold)
	}
	if sk == nil || sk.s == nil {
		return nil, nil, fmt.Errorf("split: secret key: %w", ErrMissing)
	}
	coeffs := make([]*blst.Scalar, t)
	coeffs[0] = sk.s
	defer func() {
		for _, a := range coeffs[1:] {
			if a != nil {
				a.Zeroize()
			}
		}
	}()
	for j := 1; j < t; j++ {
		a, err := GenerateSecretKey(rand)
		if err != nil {
			return nil, nil, fmt.Errorf("split: coefficient %d: %w", j, err)
		}
		coeffs[j] = a.s
	}
	comms := make(Commitments, t)
	for j, a := range coeffs {
		comms[j] = (&SecretKey{s: a}).PublicKey()
	}
	shares := make([]SecretShare, n)
	for i := 1; i <= n; i++ {
		x := scalarFromUint(uint32(i))
		acc := new(blst.Scalar)
		*acc = *coeffs[t-1]
		for j := t - 2; j >= 0; j-- {
			acc.MulAssign(x)
			acc.AddAssign(coeffs[j])
		}
		if !acc.Valid() { // f(i) = 0: probability about 2^-255
			acc.Zeroize()
			for _, s := range shares[:i-1] {
				s.Key.Zeroize()
			}
			return nil, nil, fmt.Errorf("split: share %d is zero: %w", i, ErrInvalidSecretKey)
		}
		shares[i-1] = SecretShare{Index: uint32(i), Key: &SecretKey{s: acc}}
	}
	return shares, comms, nil
}
