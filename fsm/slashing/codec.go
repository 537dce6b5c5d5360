package slashing

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Binary format, version 2 (all integers are unsigned LEB128 varints in their
// shortest form; byte strings are raw):
//
//	version   byte = 2
//	count     varint                       number of validators
//	count × validator, sorted by pubkey, each:
//	  pubkey      48 bytes
//	  flags       byte                      bit 0: block watermark, bit 1: attestation watermarks
//	  blockMark   varint                    only with bit 0
//	  sourceMark  varint, targetMark varint only with bit 1
//	  nblocks     varint
//	  nblocks × block, sorted by (slot, root):
//	    slot      varint                    first: absolute; then: delta to the previous slot
//	    root      byte 0 (unknown) | byte 1 followed by 32 bytes (explicit root, any value)
//	  natts       varint
//	  natts × attestation, sorted by (target, source, root):
//	    target    varint                    first: absolute; then: delta to the previous target
//	    source    varint
//	    root      as for blocks
//
// Roots sort unknown first, then explicit ones by their bytes.
//
// Decoding is strict: anything that a canonical encoder would not produce is an
// error, so equal DBs and only equal DBs have equal encodings.
//
// Version 1 had the same layout but no explicit all-zero root: a zero signing
// root was recorded as unknown, and tag 1 with 32 zero bytes was invalid.
// Version 2 tells an explicit all-zero root apart from an unknown one, so a
// version 1 encoding does not say which of the two a tag 0 meant; it is not read.
const (
	// BinaryVersion is the format version MarshalBinary writes and the only one
	// UnmarshalBinary reads.
	BinaryVersion = 2

	flagBlockMark = 1 << 0
	flagAttMark   = 1 << 1
	knownFlags    = flagBlockMark | flagAttMark

	// Smallest encodings, used to reject counts that cannot fit the input before
	// allocating for them.
	minValidatorSize = 48 + 1 + 1 + 1
	minBlockSize     = 1 + 1
	minAttSize       = 1 + 1 + 1
)

// ErrCorrupt is wrapped by every UnmarshalBinary error about malformed input.
var ErrCorrupt = errors.New("malformed encoding")

// MarshalBinary encodes db deterministically (see the format above). Equal DBs
// give equal bytes. It never fails; the error is there for encoding.BinaryMarshaler.
func (db *DB) MarshalBinary() ([]byte, error) {
	pks := db.Validators()
	size := 1 + binary.MaxVarintLen64
	for _, pk := range pks {
		h := db.vals[pk]
		size += minValidatorSize + 3*binary.MaxVarintLen64 + len(h.blocks)*(2+33) + len(h.atts)*(3+33)
	}
	b := make([]byte, 0, size)
	b = append(b, BinaryVersion)
	b = binary.AppendUvarint(b, uint64(len(pks)))
	for _, pk := range pks {
		h := db.vals[pk]
		b = append(b, pk[:]...)
		var flags byte
		if h.hasBlockMark {
			flags |= flagBlockMark
		}
		if h.hasAttMark {
			flags |= flagAttMark
		}
		b = append(b, flags)
		if h.hasBlockMark {
			b = binary.AppendUvarint(b, h.blockMark)
		}
		if h.hasAttMark {
			b = binary.AppendUvarint(b, h.sourceMark)
			b = binary.AppendUvarint(b, h.targetMark)
		}
		b = binary.AppendUvarint(b, uint64(len(h.blocks)))
		var prev uint64
		for _, r := range h.blocks {
			b = binary.AppendUvarint(b, r.slot-prev)
			prev = r.slot
			b = appendRoot(b, r.root)
		}
		b = binary.AppendUvarint(b, uint64(len(h.atts)))
		prev = 0
		for _, r := range h.atts {
			b = binary.AppendUvarint(b, r.target-prev)
			prev = r.target
			b = binary.AppendUvarint(b, r.source)
			b = appendRoot(b, r.root)
		}
	}
	return b, nil
}

func appendRoot(b []byte, r OptionalRoot) []byte {
	if !r.Known {
		return append(b, 0)
	}
	b = append(b, 1)
	return append(b, r.Root[:]...)
}

// UnmarshalBinary replaces db's contents with the decoded state. On error db is
// left unchanged. It never panics, whatever the input.
func (db *DB) UnmarshalBinary(data []byte) error {
	vals, err := decodeDB(data)
	if err != nil {
		return fmt.Errorf("decode slashing-protection state: %w", err)
	}
	db.vals = vals
	return nil
}

// decoder reads the binary format. Its methods record the first error and then
// return zero values, so callers check d.err at convenient points.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: at byte %d: %s", ErrCorrupt, d.off, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) remaining() int { return len(d.b) - d.off }

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	switch {
	case n == 0:
		d.fail("%s: truncated varint", what)
		return 0
	case n < 0:
		d.fail("%s: varint overflows 64 bits", what)
		return 0
	case n != uvarintLen(v):
		d.fail("%s: varint is not in its shortest form", what)
		return 0
	}
	d.off += n
	return v
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func (d *decoder) byte1(what string) byte {
	if d.err != nil {
		return 0
	}
	if d.remaining() < 1 {
		d.fail("%s: truncated", what)
		return 0
	}
	c := d.b[d.off]
	d.off++
	return c
}

func (d *decoder) bytes(dst []byte, what string) {
	if d.err != nil {
		return
	}
	if d.remaining() < len(dst) {
		d.fail("%s: truncated", what)
		return
	}
	d.off += copy(dst, d.b[d.off:])
}

// count reads a length and rejects it when the input is too short to hold that
// many items of at least minSize bytes each.
func (d *decoder) count(minSize int, what string) int {
	n := d.uvarint(what)
	if d.err != nil {
		return 0
	}
	if n > uint64(d.remaining()/minSize) {
		d.fail("%s: %d items cannot fit in the remaining %d bytes", what, n, d.remaining())
		return 0
	}
	return int(n)
}

func (d *decoder) root(what string) OptionalRoot {
	var r OptionalRoot
	switch tag := d.byte1(what); {
	case d.err != nil:
	case tag == 0:
	case tag == 1:
		d.bytes(r.Root[:], what)
		r.Known = d.err == nil
	default:
		d.fail("%s: root tag %d, want 0 or 1", what, tag)
	}
	return r
}

func decodeDB(data []byte) (map[Pubkey]*history, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrCorrupt)
	}
	if data[0] != BinaryVersion {
		return nil, fmt.Errorf("%w: format version %d, this build reads version %d", ErrCorrupt, data[0], BinaryVersion)
	}
	d := &decoder{b: data, off: 1}
	n := d.count(minValidatorSize, "validator count")
	vals := make(map[Pubkey]*history, n)
	var prevPK Pubkey
	for i := 0; i < n && d.err == nil; i++ {
		var pk Pubkey
		d.bytes(pk[:], "pubkey")
		if d.err == nil && i > 0 && bytes.Compare(prevPK[:], pk[:]) >= 0 {
			d.fail("validator %d: pubkeys are not strictly ascending", i)
		}
		prevPK = pk
		h := decodeHistory(d, i)
		if d.err == nil {
			vals[pk] = h
		}
	}
	if d.err == nil && d.remaining() != 0 {
		d.fail("%d trailing bytes", d.remaining())
	}
	if d.err != nil {
		return nil, d.err
	}
	return vals, nil
}

func decodeHistory(d *decoder, i int) *history {
	h := &history{}
	flags := d.byte1("flags")
	if flags&^knownFlags != 0 {
		d.fail("validator %d: unknown flags %#x", i, flags)
		return nil
	}
	if flags&flagBlockMark != 0 {
		h.hasBlockMark, h.blockMark = true, d.uvarint("block watermark")
	}
	if flags&flagAttMark != 0 {
		h.hasAttMark = true
		h.sourceMark = d.uvarint("source watermark")
		h.targetMark = d.uvarint("target watermark")
	}

	nb := d.count(minBlockSize, "block count")
	if nb > 0 {
		h.blocks = make([]blockRecord, 0, nb)
	}
	var prev uint64
	for j := 0; j < nb && d.err == nil; j++ {
		delta := d.uvarint("block slot")
		r := blockRecord{slot: prev + delta, root: d.root("block root")}
		switch {
		case d.err != nil:
		case r.slot < prev:
			d.fail("validator %d block %d: slot overflows", i, j)
		case j > 0 && cmpBlock(h.blocks[j-1], r) >= 0:
			d.fail("validator %d block %d: blocks are not strictly ascending", i, j)
		case h.hasBlockMark && r.slot <= h.blockMark:
			d.fail("validator %d block %d: slot %d is at or below the watermark %d", i, j, r.slot, h.blockMark)
		}
		prev = r.slot
		h.blocks = append(h.blocks, r)
	}

	na := d.count(minAttSize, "attestation count")
	if na > 0 {
		h.atts = make([]attRecord, 0, na)
	}
	prev = 0
	for j := 0; j < na && d.err == nil; j++ {
		delta := d.uvarint("attestation target")
		r := attRecord{target: prev + delta}
		r.source = d.uvarint("attestation source")
		r.root = d.root("attestation root")
		switch {
		case d.err != nil:
		case r.target < prev:
			d.fail("validator %d attestation %d: target overflows", i, j)
		case j > 0 && cmpAtt(h.atts[j-1], r) >= 0:
			d.fail("validator %d attestation %d: attestations are not strictly ascending", i, j)
		case h.hasAttMark && r.target <= h.targetMark:
			d.fail("validator %d attestation %d: target %d is at or below the watermark %d", i, j, r.target, h.targetMark)
		}
		prev = r.target
		h.atts = append(h.atts, r)
	}
	h.recomputeSourceBounds()
	return h
}
