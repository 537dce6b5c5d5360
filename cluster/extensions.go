package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/phalanx-eth/phalanx/threshold"
)

// Extension types carried on transport frames. The numbers are part of the wire format: they only ever grow.
const (
	// ExtShares travels follower → leader on AppendEntries responses: signature shares for log entries.
	ExtShares uint16 = 1
	// ExtShareRequest travels leader → follower on AppendEntries requests (heartbeats included): the log
	// indices whose shares the leader is still missing.
	ExtShareRequest uint16 = 2
)

const (
	extVersion = 1
	// maxSharesPerExtension bounds what a decoder allocates; a duty entry holds at most a few thousand items.
	maxSharesPerExtension = 1 << 16
	maxRefusalsPerExt     = 1 << 16
	maxRequestedIndices   = 1024
	maxReasonLen          = 256
	signatureLen          = 96
)

// Share is one node's partial signature over one item of one log entry.
type Share struct {
	Index      uint64 // raft log index of the duty entry
	Item       uint16 // position of the validator within the entry's items
	ShareIndex uint32 // the signer's share index (1-based x coordinate)
	Signature  [signatureLen]byte

	// sig is the decoded signature when this node made the share itself (never sent; saves the leader
	// decoding its own shares).
	sig *threshold.Signature
}

// Refusal records that a node declined to sign an item, and why. It is reported so that operators can see,
// on the leader, why a duty could not be signed.
type Refusal struct {
	Index  uint64
	Item   uint16
	Reason string
}

// SharesMessage is the body of an ExtShares extension.
type SharesMessage struct {
	Shares   []Share
	Refusals []Refusal
}

// ShareRequest is the body of an ExtShareRequest extension.
type ShareRequest struct {
	Indices []uint64
}

// ErrExtension reports a malformed extension body.
var ErrExtension = errors.New("malformed extension")

func extErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrExtension, fmt.Sprintf(format, args...))
}

// Marshal encodes the message: version, share count, shares, refusal count, refusals.
func (m *SharesMessage) Marshal() []byte {
	size := 1 + 4 + len(m.Shares)*(8+2+4+signatureLen) + 4
	for _, r := range m.Refusals {
		size += 8 + 2 + 2 + len(r.Reason)
	}
	b := make([]byte, 0, size)
	b = append(b, extVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.Shares)))
	for i := range m.Shares {
		s := &m.Shares[i]
		b = binary.BigEndian.AppendUint64(b, s.Index)
		b = binary.BigEndian.AppendUint16(b, s.Item)
		b = binary.BigEndian.AppendUint32(b, s.ShareIndex)
		b = append(b, s.Signature[:]...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.Refusals)))
	for _, r := range m.Refusals {
		reason := r.Reason
		if len(reason) > maxReasonLen {
			reason = reason[:maxReasonLen]
		}
		b = binary.BigEndian.AppendUint64(b, r.Index)
		b = binary.BigEndian.AppendUint16(b, r.Item)
		b = binary.BigEndian.AppendUint16(b, uint16(len(reason)))
		b = append(b, reason...)
	}
	return b
}

// UnmarshalSharesMessage decodes an ExtShares body. It never allocates more than the input justifies.
func UnmarshalSharesMessage(b []byte) (*SharesMessage, error) {
	r := reader{b: b}
	if v := r.u8(); r.err == nil && v != extVersion {
		return nil, extErr("shares: unknown version %d", v)
	}
	n := r.u32()
	if r.err != nil {
		return nil, extErr("shares: %v", r.err)
	}
	const shareLen = 8 + 2 + 4 + signatureLen
	if n > maxSharesPerExtension || int(n)*shareLen > r.remaining() {
		return nil, extErr("shares: count %d exceeds the %d bytes present", n, r.remaining())
	}
	m := &SharesMessage{Shares: make([]Share, n)}
	for i := range m.Shares {
		s := &m.Shares[i]
		s.Index = r.u64()
		s.Item = r.u16()
		s.ShareIndex = r.u32()
		copy(s.Signature[:], r.bytes(signatureLen))
	}
	nr := r.u32()
	if r.err != nil {
		return nil, extErr("shares: %v", r.err)
	}
	if nr > maxRefusalsPerExt || int(nr)*12 > r.remaining() {
		return nil, extErr("shares: refusal count %d exceeds the %d bytes present", nr, r.remaining())
	}
	if nr > 0 {
		m.Refusals = make([]Refusal, nr)
	}
	for i := range m.Refusals {
		ref := &m.Refusals[i]
		ref.Index = r.u64()
		ref.Item = r.u16()
		l := int(r.u16())
		if l > maxReasonLen {
			return nil, extErr("shares: refusal reason of %d bytes exceeds %d", l, maxReasonLen)
		}
		ref.Reason = string(r.bytes(l))
	}
	if r.err != nil {
		return nil, extErr("shares: %v", r.err)
	}
	if r.remaining() != 0 {
		return nil, extErr("shares: %d trailing bytes", r.remaining())
	}
	return m, nil
}

// Marshal encodes the request: version, count, indices.
func (q *ShareRequest) Marshal() []byte {
	b := make([]byte, 0, 1+4+8*len(q.Indices))
	b = append(b, extVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(len(q.Indices)))
	for _, idx := range q.Indices {
		b = binary.BigEndian.AppendUint64(b, idx)
	}
	return b
}

// UnmarshalShareRequest decodes an ExtShareRequest body.
func UnmarshalShareRequest(b []byte) (*ShareRequest, error) {
	r := reader{b: b}
	if v := r.u8(); r.err == nil && v != extVersion {
		return nil, extErr("share request: unknown version %d", v)
	}
	n := r.u32()
	if r.err != nil {
		return nil, extErr("share request: %v", r.err)
	}
	if n > maxRequestedIndices || int(n)*8 != r.remaining() {
		return nil, extErr("share request: count %d does not match the %d bytes present (max %d)", n, r.remaining(), maxRequestedIndices)
	}
	q := &ShareRequest{Indices: make([]uint64, n)}
	for i := range q.Indices {
		q.Indices[i] = r.u64()
	}
	return q, nil
}

// reader is a bounds-checked big-endian cursor; the first short read sets err and every later read is a no-op.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) remaining() int { return len(r.b) - r.off }

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > r.remaining() {
		r.err = fmt.Errorf("need %d bytes at offset %d, have %d", n, r.off, r.remaining())
		return nil
	}
	out := r.b[r.off : r.off+n]
	r.off += n
	return out
}

func (r *reader) u8() uint8 {
	if b := r.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if b := r.bytes(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.bytes(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.bytes(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}
