package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/hashicorp/raft"
)

// Wire format. Every message on a phalanx raft stream is one frame:
//
//	[version u8 = 1][type u8][length u32 big-endian][body: length bytes]
//
// RPC bodies hold the raft message in a compact binary encoding (unsigned
// integers as uvarints, signed ones as zig-zag varints, both minimal; byte
// strings as a uvarint length then the bytes; booleans as one byte 0 or 1;
// times as Unix seconds and nanoseconds) followed by the extension list: a
// uvarint count, then per extension [type u16 big-endian] and a byte string.
// Snapshot chunk bodies are raw snapshot bytes. Frame types only ever grow; a
// decoder refuses anything it does not know, and trailing bytes.
const (
	frameVersion    byte = 1
	frameHeaderSize      = 6
)

// frameType names the message a frame carries.
type frameType uint8

const (
	frameAppendEntriesRequest   frameType = 1
	frameAppendEntriesResponse  frameType = 2
	frameRequestVoteRequest     frameType = 3
	frameRequestVoteResponse    frameType = 4
	frameRequestPreVoteRequest  frameType = 5
	frameRequestPreVoteResponse frameType = 6
	frameInstallSnapshotRequest frameType = 7
	frameSnapshotChunk          frameType = 8
	frameInstallSnapshotResp    frameType = 9
	frameTimeoutNowRequest      frameType = 10
	frameTimeoutNowResponse     frameType = 11
	frameErrorResponse          frameType = 12

	frameTypeMax = frameErrorResponse
)

func (t frameType) String() string {
	switch t {
	case frameAppendEntriesRequest:
		return "append_entries_request"
	case frameAppendEntriesResponse:
		return "append_entries_response"
	case frameRequestVoteRequest:
		return "request_vote_request"
	case frameRequestVoteResponse:
		return "request_vote_response"
	case frameRequestPreVoteRequest:
		return "request_pre_vote_request"
	case frameRequestPreVoteResponse:
		return "request_pre_vote_response"
	case frameInstallSnapshotRequest:
		return "install_snapshot_request"
	case frameSnapshotChunk:
		return "snapshot_chunk"
	case frameInstallSnapshotResp:
		return "install_snapshot_response"
	case frameTimeoutNowRequest:
		return "timeout_now_request"
	case frameTimeoutNowResponse:
		return "timeout_now_response"
	case frameErrorResponse:
		return "error_response"
	default:
		return fmt.Sprintf("frame_type_%d", uint8(t))
	}
}

// Errors a frame decoder returns; each is wrapped with the detail.
var (
	// ErrMalformedFrame reports a frame that does not follow the wire format.
	ErrMalformedFrame = errors.New("malformed frame")
	// ErrUnsupportedVersion reports a frame whose version byte is not one this build speaks.
	ErrUnsupportedVersion = errors.New("unsupported frame version")
	// ErrFrameTooLarge reports a frame whose declared length exceeds the configured MaxFrameSize.
	ErrFrameTooLarge = errors.New("frame too large")
)

// Extension is an opaque, typed payload carried next to a raft RPC. The
// transport neither interprets nor validates it; the cluster layer owns the
// registry of Type values.
type Extension struct {
	Type uint16
	Data []byte
}

// frame is one decoded wire message. msg holds a pointer to the raft struct
// for RPC frames, chunk the bytes of a snapshot chunk, errMsg the text of an
// error response.
type frame struct {
	typ    frameType
	msg    any
	ext    []Extension
	chunk  []byte
	errMsg string
}

// frameTypeOf returns the frame type that carries msg.
func frameTypeOf(msg any) (frameType, error) {
	switch msg.(type) {
	case *raft.AppendEntriesRequest:
		return frameAppendEntriesRequest, nil
	case *raft.AppendEntriesResponse:
		return frameAppendEntriesResponse, nil
	case *raft.RequestVoteRequest:
		return frameRequestVoteRequest, nil
	case *raft.RequestVoteResponse:
		return frameRequestVoteResponse, nil
	case *raft.RequestPreVoteRequest:
		return frameRequestPreVoteRequest, nil
	case *raft.RequestPreVoteResponse:
		return frameRequestPreVoteResponse, nil
	case *raft.InstallSnapshotRequest:
		return frameInstallSnapshotRequest, nil
	case *raft.InstallSnapshotResponse:
		return frameInstallSnapshotResp, nil
	case *raft.TimeoutNowRequest:
		return frameTimeoutNowRequest, nil
	case *raft.TimeoutNowResponse:
		return frameTimeoutNowResponse, nil
	default:
		return 0, fmt.Errorf("no frame type for %T", msg)
	}
}

// appendFrame appends the encoding of f to dst. It refuses a body larger
// than maxSize so that a peer never receives a frame it must reject.
func appendFrame(dst []byte, f *frame, maxSize int) ([]byte, error) {
	start := len(dst)
	dst = append(dst, frameVersion, byte(f.typ), 0, 0, 0, 0)
	var err error
	switch f.typ {
	case frameSnapshotChunk:
		dst = append(dst, f.chunk...)
	case frameErrorResponse:
		dst = appendBytes(dst, []byte(f.errMsg))
		dst = appendExtensions(dst, f.ext)
	default:
		var want frameType
		want, err = frameTypeOf(f.msg)
		if err != nil {
			return dst[:start], err
		}
		if want != f.typ {
			return dst[:start], fmt.Errorf("frame type %s carries %T", f.typ, f.msg)
		}
		dst, err = appendMessage(dst, f.msg)
		if err != nil {
			return dst[:start], err
		}
		dst = appendExtensions(dst, f.ext)
	}
	n := len(dst) - start - frameHeaderSize
	if n > maxSize || uint64(n) > math.MaxUint32 {
		return dst[:start], fmt.Errorf("encode %s frame of %d bytes: %w", f.typ, n, ErrFrameTooLarge)
	}
	binary.BigEndian.PutUint32(dst[start+2:], uint32(n))
	return dst, nil
}

func appendMessage(dst []byte, msg any) ([]byte, error) {
	switch m := msg.(type) {
	case *raft.AppendEntriesRequest:
		dst = appendHeader(dst, &m.RPCHeader)
		dst = binary.AppendUvarint(dst, m.Term)
		dst = appendBytes(dst, m.Leader)
		dst = binary.AppendUvarint(dst, m.PrevLogEntry)
		dst = binary.AppendUvarint(dst, m.PrevLogTerm)
		dst = binary.AppendUvarint(dst, m.LeaderCommitIndex)
		dst = binary.AppendUvarint(dst, uint64(len(m.Entries)))
		for i, e := range m.Entries {
			if e == nil {
				return dst, fmt.Errorf("append entries: entry %d is nil", i)
			}
			dst = binary.AppendUvarint(dst, e.Index)
			dst = binary.AppendUvarint(dst, e.Term)
			dst = append(dst, byte(e.Type))
			dst = appendBytes(dst, e.Data)
			dst = appendBytes(dst, e.Extensions)
			dst = appendTime(dst, e.AppendedAt)
		}
	case *raft.AppendEntriesResponse:
		dst = appendHeader(dst, &m.RPCHeader)
		dst = binary.AppendUvarint(dst, m.Term)
		dst = binary.AppendUvarint(dst, m.LastLog)
		dst = appendBool(dst, m.Success)
		dst = appendBool(dst, m.NoRetryBackoff)
	case *raft.RequestVoteRequest:
		dst = appendHeader(dst, &m.RPCHeader)
		dst = binary.AppendUvarint(dst, m.Term)
		dst = appendBytes(dst, m.Candidate)
		dst = binary.AppendUvarint(dst, m.LastLogIndex)
		dst = binary.AppendUvarint(dst, m.LastLogTerm)
		dst = appendBool(dst, m.LeadershipTransfer)
	case *raft.RequestVoteResponse:
		dst = appendHeader(dst, &m.RPCHeader)
		dst = binary.AppendUvarint(dst, m.Term)
		dst = appendBytes(dst, m.Peers)
		dst = appendBool(dst, m.Granted)
	case *raft.RequestPreVoteRequest:
		dst = appendHeader(dst, &m.RPCHeader)
		dst = binary.AppendUvarint(dst, m.Term)
		dst = binary.AppendUvarint(dst, m.LastLogIndex)
		dst = binary.AppendUvarint(dst, m.LastLogTerm)
	case *raft.RequestPreVoteResponse:
		dst = appendHeader(dst, &m.RPCHeader)
		dst = binary.AppendUvarint(dst, m.Term)
		dst = appendBool(dst, m.Granted)
	case *raft.InstallSnapshotRequest:
		if m.Size < 0 {
			return dst, fmt.Errorf("install snapshot: negative size %d", m.Size)
		}
		dst = appendHeader(dst, &m.RPCHeader)
		dst = binary.AppendVarint(dst, int64(m.SnapshotVersion))
		dst = binary.AppendUvarint(dst, m.Term)
		dst = appendBytes(dst, m.Leader)
		dst = binary.AppendUvarint(dst, m.LastLogIndex)
		dst = binary.AppendUvarint(dst, m.LastLogTerm)
		dst = appendBytes(dst, m.Peers)
		dst = appendBytes(dst, m.Configuration)
		dst = binary.AppendUvarint(dst, m.ConfigurationIndex)
		dst = binary.AppendUvarint(dst, uint64(m.Size))
	case *raft.InstallSnapshotResponse:
		dst = appendHeader(dst, &m.RPCHeader)
		dst = binary.AppendUvarint(dst, m.Term)
		dst = appendBool(dst, m.Success)
	case *raft.TimeoutNowRequest:
		dst = appendHeader(dst, &m.RPCHeader)
	case *raft.TimeoutNowResponse:
		dst = appendHeader(dst, &m.RPCHeader)
	default:
		return dst, fmt.Errorf("no frame type for %T", msg)
	}
	return dst, nil
}

func appendHeader(dst []byte, h *raft.RPCHeader) []byte {
	dst = binary.AppendVarint(dst, int64(h.ProtocolVersion))
	dst = appendBytes(dst, h.ID)
	return appendBytes(dst, h.Addr)
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// appendTime encodes t as Unix seconds (zig-zag varint) and nanoseconds
// (uvarint). The zero time round-trips to the zero time; the location and
// the monotonic reading are not carried.
func appendTime(dst []byte, t time.Time) []byte {
	dst = binary.AppendVarint(dst, t.Unix())
	return binary.AppendUvarint(dst, uint64(t.Nanosecond()))
}

func appendExtensions(dst []byte, ext []Extension) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ext)))
	for _, e := range ext {
		dst = binary.BigEndian.AppendUint16(dst, e.Type)
		dst = appendBytes(dst, e.Data)
	}
	return dst
}

// readFrameHeader reads and checks a frame header, returning the frame type
// and the body length.
func readFrameHeader(r io.Reader, maxSize int) (frameType, int, error) {
	var hdr [frameHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, 0, err
	}
	return parseFrameHeader(hdr[:], maxSize)
}

func parseFrameHeader(hdr []byte, maxSize int) (frameType, int, error) {
	if hdr[0] != frameVersion {
		return 0, 0, fmt.Errorf("frame version %d: %w", hdr[0], ErrUnsupportedVersion)
	}
	typ := frameType(hdr[1])
	if typ == 0 || typ > frameTypeMax {
		return 0, 0, fmt.Errorf("unknown frame type %d: %w", hdr[1], ErrMalformedFrame)
	}
	n := binary.BigEndian.Uint32(hdr[2:])
	if uint64(n) > uint64(maxSize) {
		return 0, 0, fmt.Errorf("%s frame of %d bytes, limit %d: %w", typ, n, maxSize, ErrFrameTooLarge)
	}
	return typ, int(n), nil
}

// readFrame reads one whole frame from r. The body buffer is allocated after
// the declared length has been checked against maxSize, and decoded byte
// slices alias it.
func readFrame(r *bufio.Reader, maxSize int) (*frame, error) {
	typ, n, err := readFrameHeader(r, maxSize)
	if err != nil {
		return nil, err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read %s frame body: %w", typ, err)
	}
	return decodeBody(typ, body)
}

// decodeFrame decodes exactly one frame held in b; bytes after it are an
// error. Decoded byte slices alias b.
func decodeFrame(b []byte, maxSize int) (*frame, error) {
	if len(b) < frameHeaderSize {
		return nil, fmt.Errorf("frame of %d bytes is shorter than its header: %w", len(b), ErrMalformedFrame)
	}
	typ, n, err := parseFrameHeader(b[:frameHeaderSize], maxSize)
	if err != nil {
		return nil, err
	}
	if rest := len(b) - frameHeaderSize; rest != n {
		return nil, fmt.Errorf("%s frame declares %d body bytes, has %d: %w", typ, n, rest, ErrMalformedFrame)
	}
	return decodeBody(typ, b[frameHeaderSize:])
}

// decodeBody decodes the body of a frame of type typ. It never panics and
// never allocates more than a small multiple of len(body).
func decodeBody(typ frameType, body []byte) (*frame, error) {
	d := decoder{b: body}
	f := &frame{typ: typ}
	switch typ {
	case frameSnapshotChunk:
		f.chunk = body
		return f, nil
	case frameErrorResponse:
		f.errMsg = string(d.bytes())
	case frameAppendEntriesRequest:
		m := &raft.AppendEntriesRequest{}
		d.header(&m.RPCHeader)
		m.Term = d.uvarint()
		m.Leader = d.bytes()
		m.PrevLogEntry = d.uvarint()
		m.PrevLogTerm = d.uvarint()
		m.LeaderCommitIndex = d.uvarint()
		// The smallest entry takes 7 bytes: index, term, type, two empty
		// byte strings and a two-byte time.
		if n := d.count(7); n > 0 {
			m.Entries = make([]*raft.Log, n)
			logs := make([]raft.Log, n)
			for i := range logs {
				e := &logs[i]
				e.Index = d.uvarint()
				e.Term = d.uvarint()
				e.Type = raft.LogType(d.byte())
				e.Data = d.bytes()
				e.Extensions = d.bytes()
				e.AppendedAt = d.time()
				m.Entries[i] = e
			}
		}
		f.msg = m
	case frameAppendEntriesResponse:
		m := &raft.AppendEntriesResponse{}
		d.header(&m.RPCHeader)
		m.Term = d.uvarint()
		m.LastLog = d.uvarint()
		m.Success = d.bool()
		m.NoRetryBackoff = d.bool()
		f.msg = m
	case frameRequestVoteRequest:
		m := &raft.RequestVoteRequest{}
		d.header(&m.RPCHeader)
		m.Term = d.uvarint()
		m.Candidate = d.bytes()
		m.LastLogIndex = d.uvarint()
		m.LastLogTerm = d.uvarint()
		m.LeadershipTransfer = d.bool()
		f.msg = m
	case frameRequestVoteResponse:
		m := &raft.RequestVoteResponse{}
		d.header(&m.RPCHeader)
		m.Term = d.uvarint()
		m.Peers = d.bytes()
		m.Granted = d.bool()
		f.msg = m
	case frameRequestPreVoteRequest:
		m := &raft.RequestPreVoteRequest{}
		d.header(&m.RPCHeader)
		m.Term = d.uvarint()
		m.LastLogIndex = d.uvarint()
		m.LastLogTerm = d.uvarint()
		f.msg = m
	case frameRequestPreVoteResponse:
		m := &raft.RequestPreVoteResponse{}
		d.header(&m.RPCHeader)
		m.Term = d.uvarint()
		m.Granted = d.bool()
		f.msg = m
	case frameInstallSnapshotRequest:
		m := &raft.InstallSnapshotRequest{}
		d.header(&m.RPCHeader)
		m.SnapshotVersion = raft.SnapshotVersion(d.int())
		m.Term = d.uvarint()
		m.Leader = d.bytes()
		m.LastLogIndex = d.uvarint()
		m.LastLogTerm = d.uvarint()
		m.Peers = d.bytes()
		m.Configuration = d.bytes()
		m.ConfigurationIndex = d.uvarint()
		size := d.uvarint()
		if size > math.MaxInt64 {
			d.fail("snapshot size %d out of range", size)
		}
		m.Size = int64(size)
		f.msg = m
	case frameInstallSnapshotResp:
		m := &raft.InstallSnapshotResponse{}
		d.header(&m.RPCHeader)
		m.Term = d.uvarint()
		m.Success = d.bool()
		f.msg = m
	case frameTimeoutNowRequest:
		m := &raft.TimeoutNowRequest{}
		d.header(&m.RPCHeader)
		f.msg = m
	case frameTimeoutNowResponse:
		m := &raft.TimeoutNowResponse{}
		d.header(&m.RPCHeader)
		f.msg = m
	default:
		return nil, fmt.Errorf("unknown frame type %d: %w", uint8(typ), ErrMalformedFrame)
	}
	// The smallest extension takes 3 bytes: type and an empty byte string.
	if n := d.count(3); n > 0 {
		f.ext = make([]Extension, n)
		for i := range f.ext {
			f.ext[i].Type = d.uint16()
			f.ext[i].Data = d.bytes()
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return nil, fmt.Errorf("decode %s frame: %w", typ, d.err)
	}
	return f, nil
}

// decoder reads the body encoding. The first failure sticks in err; later
// reads return zero values, so decode functions check err once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrMalformedFrame)
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	if n > 1 && d.b[n-1] == 0 {
		d.fail("non-minimal uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	if n > 1 && d.b[n-1] == 0 {
		d.fail("non-minimal varint")
		return 0
	}
	if v < math.MinInt || v > math.MaxInt {
		d.fail("varint %d out of range", v)
		return 0
	}
	d.b = d.b[n:]
	return int(v)
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uint16() uint16 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 2 {
		d.fail("truncated")
		return 0
	}
	v := binary.BigEndian.Uint16(d.b)
	d.b = d.b[2:]
	return v
}

func (d *decoder) bool() bool {
	switch v := d.byte(); v {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail("bad boolean %d", v)
		return false
	}
}

// bytes returns a byte string aliasing the body; an empty string decodes as nil.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("byte string of %d bytes, %d remain", n, len(d.b))
		return nil
	}
	if n == 0 {
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) time() time.Time {
	sec := d.int()
	nsec := d.uvarint()
	if d.err != nil {
		return time.Time{}
	}
	if sec < -maxTimeSeconds || sec > maxTimeSeconds {
		d.fail("seconds %d out of range", sec)
		return time.Time{}
	}
	if nsec >= uint64(time.Second) {
		d.fail("nanoseconds %d out of range", nsec)
		return time.Time{}
	}
	return time.Unix(int64(sec), int64(nsec)).UTC()
}

// maxTimeSeconds bounds decoded Unix seconds (about ±35,000 years, which
// includes the zero time) so that every accepted time re-encodes identically.
const maxTimeSeconds = 1 << 40

// count reads a list length and checks it against the remaining bytes,
// given the smallest encoded size of one element, so that the caller can
// allocate the list without trusting the peer.
func (d *decoder) count(minElem int) int {
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	if n > uint64(len(d.b)/minElem) {
		d.fail("list of %d elements cannot fit in %d bytes", n, len(d.b))
		return 0
	}
	return int(n)
}

func (d *decoder) header(h *raft.RPCHeader) {
	h.ProtocolVersion = raft.ProtocolVersion(d.int())
	h.ID = d.bytes()
	h.Addr = d.bytes()
}
