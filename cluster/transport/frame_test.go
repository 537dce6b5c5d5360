package transport

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

const testMaxFrame = 1 << 20

func testHeader() raft.RPCHeader {
	return raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("node-1"), Addr: []byte("/ip4/127.0.0.1/tcp/1/p2p/x")}
}

// sampleFrames holds one frame of every type, with non-zero values in every field.
func sampleFrames() []*frame {
	h := testHeader()
	at := time.Unix(1_700_000_000, 123456789).UTC()
	ext := []Extension{{Type: 1, Data: []byte{1, 2, 3}}, {Type: 0xfffe}}
	return []*frame{
		{typ: frameAppendEntriesRequest, ext: ext, msg: &raft.AppendEntriesRequest{
			RPCHeader: h, Term: 7, Leader: []byte("leader"), PrevLogEntry: 41, PrevLogTerm: 6, LeaderCommitIndex: 40,
			Entries: []*raft.Log{
				{Index: 42, Term: 7, Type: raft.LogCommand, Data: []byte("duty"), Extensions: []byte("x"), AppendedAt: at},
				{Index: 43, Term: 7, Type: raft.LogNoop},
				{Index: 44, Term: 7, Type: raft.LogConfiguration, Data: bytes.Repeat([]byte{9}, 300), AppendedAt: time.Unix(-5, 1).UTC()},
			},
		}},
		{typ: frameAppendEntriesResponse, ext: ext, msg: &raft.AppendEntriesResponse{RPCHeader: h, Term: 7, LastLog: 44, Success: true, NoRetryBackoff: true}},
		{typ: frameRequestVoteRequest, msg: &raft.RequestVoteRequest{RPCHeader: h, Term: 8, Candidate: []byte("c"), LastLogIndex: 44, LastLogTerm: 7, LeadershipTransfer: true}},
		{typ: frameRequestVoteResponse, msg: &raft.RequestVoteResponse{RPCHeader: h, Term: 8, Peers: []byte("p"), Granted: true}},
		{typ: frameRequestPreVoteRequest, msg: &raft.RequestPreVoteRequest{RPCHeader: h, Term: 9, LastLogIndex: 44, LastLogTerm: 7}},
		{typ: frameRequestPreVoteResponse, msg: &raft.RequestPreVoteResponse{RPCHeader: h, Term: 9, Granted: true}},
		{typ: frameInstallSnapshotRequest, msg: &raft.InstallSnapshotRequest{
			RPCHeader: h, SnapshotVersion: raft.SnapshotVersionMax, Term: 9, Leader: []byte("l"), LastLogIndex: 100, LastLogTerm: 9,
			Peers: []byte("peers"), Configuration: []byte("conf"), ConfigurationIndex: 3, Size: 1 << 40,
		}},
		{typ: frameSnapshotChunk, chunk: []byte("snapshot bytes")},
		{typ: frameInstallSnapshotResp, msg: &raft.InstallSnapshotResponse{RPCHeader: h, Term: 9, Success: true}},
		{typ: frameTimeoutNowRequest, msg: &raft.TimeoutNowRequest{RPCHeader: h}},
		{typ: frameTimeoutNowResponse, ext: ext, msg: &raft.TimeoutNowResponse{RPCHeader: h}},
		{typ: frameErrorResponse, errMsg: "log not found", ext: ext},
	}
}

func TestFrameRoundTrip(t *testing.T) {
	seen := map[frameType]bool{}
	for _, want := range sampleFrames() {
		t.Run(want.typ.String(), func(t *testing.T) {
			seen[want.typ] = true
			b, err := appendFrame(nil, want, testMaxFrame)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			got, err := decodeFrame(b, testMaxFrame)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip mismatch\n got %#v\nwant %#v", got, want)
			}
			// The stream reader must agree with the buffer decoder.
			got2, err := readFrame(bufio.NewReader(bytes.NewReader(b)), testMaxFrame)
			if err != nil {
				t.Fatalf("readFrame: %v", err)
			}
			if !reflect.DeepEqual(got2, want) {
				t.Fatalf("readFrame mismatch\n got %#v\nwant %#v", got2, want)
			}
		})
	}
	for typ := frameType(1); typ <= frameTypeMax; typ++ {
		if !seen[typ] {
			t.Errorf("no round-trip case for frame type %s", typ)
		}
	}
}

// TestFrameGolden pins the encoding of a heartbeat with one extension, so an
// accidental change of the wire format fails here.
func TestFrameGolden(t *testing.T) {
	f := &frame{
		typ: frameAppendEntriesRequest,
		msg: &raft.AppendEntriesRequest{
			RPCHeader: raft.RPCHeader{ProtocolVersion: 3, ID: []byte("a"), Addr: []byte("b")},
			Term:      2,
			Leader:    []byte("b"),
		},
		ext: []Extension{{Type: 0x0102, Data: []byte{0xff}}},
	}
	b, err := appendFrame(nil, f, testMaxFrame)
	if err != nil {
		t.Fatal(err)
	}
	const golden = "01010000001106016101620201620000000001010201ff"
	if got := hex.EncodeToString(b); got != golden {
		t.Fatalf("encoding changed:\n got %s\nwant %s", got, golden)
	}
}

func TestEncodeRejects(t *testing.T) {
	if _, err := appendFrame(nil, &frame{typ: frameAppendEntriesRequest, msg: &raft.AppendEntriesResponse{}}, testMaxFrame); err == nil {
		t.Error("mismatched type and message encoded")
	}
	if _, err := appendFrame(nil, &frame{typ: frameAppendEntriesRequest, msg: &raft.AppendEntriesRequest{Entries: []*raft.Log{nil}}}, testMaxFrame); err == nil {
		t.Error("nil entry encoded")
	}
	if _, err := appendFrame(nil, &frame{typ: frameInstallSnapshotRequest, msg: &raft.InstallSnapshotRequest{Size: -1}}, testMaxFrame); err == nil {
		t.Error("negative snapshot size encoded")
	}
	big := &frame{typ: frameSnapshotChunk, chunk: make([]byte, minFrameSize+1)}
	if _, err := appendFrame(nil, big, minFrameSize); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("oversized frame: err = %v, want ErrFrameTooLarge", err)
	}
}

func mustEncode(t testing.TB, f *frame) []byte {
	t.Helper()
	b, err := appendFrame(nil, f, testMaxFrame)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withBody builds a frame with a hand-written body and a correct length.
func withBody(typ frameType, body ...byte) []byte {
	b := []byte{frameVersion, byte(typ), 0, 0, 0, 0}
	putFrameHeader(b, typ, len(body))
	return append(b, body...)
}

func TestDecodeMalformed(t *testing.T) {
	voteResp := mustEncode(t, &frame{typ: frameRequestVoteResponse, msg: &raft.RequestVoteResponse{Term: 1}})
	preVote := mustEncode(t, &frame{typ: frameRequestPreVoteResponse, msg: &raft.RequestPreVoteResponse{Term: 1, Granted: true}})
	// header: version 0, empty id, empty addr.
	hdr := []byte{0, 0, 0}
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformedFrame},
		{"short header", []byte{1, 2, 0, 0}, ErrMalformedFrame},
		{"version 0", append([]byte{0}, voteResp[1:]...), ErrUnsupportedVersion},
		{"version 2", append([]byte{2}, voteResp[1:]...), ErrUnsupportedVersion},
		{"type 0", withBody(0), ErrMalformedFrame},
		{"unknown type", withBody(frameTypeMax + 1), ErrMalformedFrame},
		{"length beyond max", []byte{1, 2, 0x7f, 0xff, 0xff, 0xff}, ErrFrameTooLarge},
		{"length beyond data", append([]byte{1, byte(frameRequestVoteResponse), 0, 0, 0, 100}, voteResp[6:]...), ErrMalformedFrame},
		{"trailing byte after frame", append(append([]byte{}, voteResp...), 0), ErrMalformedFrame},
		{"trailing byte in body", withBody(frameTimeoutNowRequest, append(hdr, 0, 0)...), ErrMalformedFrame},
		{"truncated body", withBody(frameAppendEntriesResponse, hdr...), ErrMalformedFrame},
		{"bad boolean", withBody(frameRequestPreVoteResponse, append(hdr, 1, 2, 0)...), ErrMalformedFrame},
		{"bool ok but ext count huge", withBody(frameRequestPreVoteResponse, append(hdr, 1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f)...), ErrMalformedFrame},
		{"byte string beyond body", withBody(frameTimeoutNowRequest, 0, 10, 'a', 0, 0), ErrMalformedFrame},
		{"non-minimal uvarint", withBody(frameTimeoutNowRequest, 0, 0x80, 0x00, 0, 0), ErrMalformedFrame},
		{"overlong uvarint", withBody(frameTimeoutNowRequest, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0), ErrMalformedFrame},
		{"entry count beyond body", withBody(frameAppendEntriesRequest, append(hdr, 1, 0, 0, 0, 0, 0xe8, 0x07)...), ErrMalformedFrame},
		{"entry data beyond body", withBody(frameAppendEntriesRequest, append(hdr, 1, 0, 0, 0, 0, 1, 1, 1, 0, 5, 'a', 'b', 0)...), ErrMalformedFrame},
		{"entry without extensions list", withBody(frameAppendEntriesRequest, append(hdr, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0)...), ErrMalformedFrame},
		{"nanoseconds out of range", withBody(frameAppendEntriesRequest, append(hdr, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0x80, 0x94, 0xeb, 0xdc, 0x03, 0)...), ErrMalformedFrame},
		{"snapshot size beyond int64", withBody(frameInstallSnapshotRequest, append(hdr, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0)...), ErrMalformedFrame},
		{"extension truncated", withBody(frameTimeoutNowResponse, append(hdr, 1, 0, 7)...), ErrMalformedFrame},
		{"pre-vote with trailing garbage", append(append([]byte{}, preVote[:5]...), append([]byte{preVote[5] + 1}, append(preVote[6:], 0xAA)...)...), ErrMalformedFrame},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := decodeFrame(tc.in, testMaxFrame)
			if err == nil {
				t.Fatalf("decoded %#v, want error", f)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestTimeRoundTrip(t *testing.T) {
	for _, tm := range []time.Time{{}, time.Unix(0, 0).UTC(), time.Unix(1_700_000_000, 999_999_999).UTC(), time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)} {
		d := decoder{b: appendTime(nil, tm)}
		got := d.time()
		if d.err != nil || !got.Equal(tm) || got != tm {
			t.Errorf("time %v round-tripped to %v (err %v)", tm, got, d.err)
		}
	}
}

func TestChunkReader(t *testing.T) {
	var b []byte
	payload := bytes.Repeat([]byte("0123456789"), 1000)
	for off := 0; off < len(payload); off += 3000 {
		end := min(off+3000, len(payload))
		b = append(b, withBody(frameSnapshotChunk, payload[off:end]...)...)
	}
	read := func(in []byte, size int64) ([]byte, error) {
		c := &chunkReader{s: nopDeadline{}, r: bufio.NewReader(bytes.NewReader(in)), remaining: size, maxSize: testMaxFrame, timeout: time.Second}
		var out bytes.Buffer
		_, err := out.ReadFrom(c)
		return out.Bytes(), err
	}
	got, err := read(b, int64(len(payload)))
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("chunks: got %d bytes, err %v", len(got), err)
	}
	if _, err := read(b, int64(len(payload))+1); err == nil {
		t.Error("short stream: no error")
	}
	if _, err := read(b, 100); !errors.Is(err, ErrUnexpectedFrame) {
		t.Errorf("chunk larger than the remaining size: err = %v", err)
	}
	wrong := mustEncode(t, &frame{typ: frameTimeoutNowRequest, msg: &raft.TimeoutNowRequest{}})
	if _, err := read(wrong, 10); !errors.Is(err, ErrUnexpectedFrame) {
		t.Errorf("non-chunk frame: err = %v", err)
	}
}

// FuzzDecodeFrame checks that the decoder never panics, and that whatever it
// accepts re-encodes to the same bytes (the encoding is canonical).
func FuzzDecodeFrame(f *testing.F) {
	for _, fr := range sampleFrames() {
		f.Add(mustEncode(f, fr))
	}
	f.Add([]byte{})
	f.Add([]byte{1, 1, 0, 0, 0, 0})
	f.Add(withBody(frameAppendEntriesRequest, 0, 0, 0, 1, 0, 0, 0, 0, 0xe8, 0x07))
	f.Add([]byte{1, 2, 0x7f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decodeFrame(b, 1<<16)
		if err != nil {
			if fr != nil {
				t.Fatal("frame returned with an error")
			}
			return
		}
		again, err := appendFrame(nil, fr, 1<<16)
		if err != nil {
			t.Fatalf("re-encode accepted frame: %v", err)
		}
		// The decoder accepts only minimal varints and in-range times, so
		// accepted input must re-encode identically.
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs\n in %x\nout %x", b, again)
		}
	})
}
