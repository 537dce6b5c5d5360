package slashing

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// goldenDB builds a small DB that uses every feature of the binary format:
// several validators, watermarks, unknown roots, explicit roots (the all-zero one
// included), several records at one slot and one target.
func goldenDB() *DB {
	db := New()
	db.RecordProposal(pkA, 10, r1)
	db.RecordProposal(pkA, 70, r0)
	db.RecordProposal(pkA, 70, r2)
	db.RecordProposal(pkA, 300, r1)
	db.RecordAttestation(pkA, 0, 1, r1)
	db.RecordAttestation(pkA, 1, 2, r0)
	db.RecordAttestation(pkA, 2, 9, r1)
	db.RecordAttestation(pkA, 3, 9, r2)
	db.RecordAttestation(pkB, 200, 201, r2)
	importInto(db, Root{}, InterchangeValidator{ // no signing_root: unknown roots
		Pubkey:             pkA,
		SignedBlocks:       []SignedBlock{{Slot: 70}},
		SignedAttestations: []SignedAttestation{{SourceEpoch: 1, TargetEpoch: 2}},
	})
	db.Prune(2, 32) // pkA: block watermark 10, attestation watermarks (0, 1)
	db.RecordProposal(Pubkey{0xc}, 1<<40, r1)
	return db
}

func TestMarshalBinaryGolden(t *testing.T) {
	got := mustMarshal(t, goldenDB())
	path := filepath.Join("testdata", fmt.Sprintf("db_v%d.hex", BinaryVersion))
	if *update {
		if err := os.WriteFile(path, []byte(hex.EncodeToString(got)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if strings.TrimSpace(string(want)) != hex.EncodeToString(got) {
		t.Fatalf("binary encoding changed; if intended, bump BinaryVersion and regenerate with -update\n got %x\nwant %s", got, want)
	}
	if got[0] != BinaryVersion {
		t.Fatalf("first byte %d, want version %d", got[0], BinaryVersion)
	}
}

func TestMarshalBinaryRoundTrip(t *testing.T) {
	for name, db := range map[string]*DB{"empty": New(), "zero value": {}, "golden": goldenDB()} {
		t.Run(name, func(t *testing.T) {
			enc := mustMarshal(t, db)
			back := New()
			if err := back.UnmarshalBinary(enc); err != nil {
				t.Fatal(err)
			}
			if again := mustMarshal(t, back); !bytes.Equal(again, enc) {
				t.Fatalf("round trip differs:\n%x\n%x", enc, again)
			}
		})
	}
}

func TestMarshalBinaryIndependentOfInsertionOrder(t *testing.T) {
	a, b := New(), New()
	a.RecordAttestation(pkA, 1, 2, r1)
	a.RecordAttestation(pkA, 2, 3, r1)
	a.RecordProposal(pkB, 7, r2)
	b.RecordProposal(pkB, 7, r2)
	b.RecordAttestation(pkA, 2, 3, r1)
	b.RecordAttestation(pkA, 1, 2, r1)
	if !bytes.Equal(mustMarshal(t, a), mustMarshal(t, b)) {
		t.Fatal("equal DBs encode differently")
	}
}

func TestCloneIsIndependent(t *testing.T) {
	db := goldenDB()
	before := mustMarshal(t, db)
	c := db.Clone()
	c.RecordProposal(pkA, 400, r1)
	c.RecordAttestation(pkA, 9, 10, r1)
	c.Prune(100, 32)
	if !bytes.Equal(mustMarshal(t, db), before) {
		t.Fatal("mutating a clone changed the original")
	}
}

func TestUnmarshalBinaryRejects(t *testing.T) {
	good := mustMarshal(t, goldenDB())
	pk := bytes.Repeat([]byte{0xaa}, 48)
	// One validator with the given tail after the pubkey.
	one := func(tail ...byte) []byte {
		b := []byte{BinaryVersion, 1}
		b = append(b, pk...)
		return append(b, tail...)
	}
	root1 := append([]byte{1}, bytes.Repeat([]byte{7}, 32)...)
	tests := map[string][]byte{
		"empty":                  {},
		"version 1":              {1, 0},
		"unknown version":        {BinaryVersion + 1, 0},
		"truncated count":        {BinaryVersion},
		"count too large":        {BinaryVersion, 5},
		"non-minimal varint":     {BinaryVersion, 0x80, 0x00},
		"trailing bytes":         append(slicesClone(good), 0),
		"truncated":              good[:len(good)-1],
		"unknown flag":           one(4, 0, 0),
		"bad root tag":           one(0, 1, 5, 2, 0),
		"duplicate block":        one(append(append([]byte{0, 2, 5}, root1...), append([]byte{0}, root1...)...)...),
		"block at watermark":     one(1, 5, 1, 5, 0, 0),
		"attestation at mark":    one(2, 1, 5, 0, 1, 5, 1, 0),
		"attestations unordered": one(0, 0, 2, 5, 1, 0, 0, 0, 0),
		"slot overflow":          one(append(binary.AppendUvarint([]byte{0, 2}, ^uint64(0)), 0, 1, 0, 0)...),
		"pubkeys not ascending": func() []byte {
			b := []byte{BinaryVersion, 2}
			b = append(b, pk...)
			b = append(b, 0, 0, 0)
			b = append(b, pk...)
			return append(b, 0, 0, 0)
		}(),
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			db := goldenDB()
			err := db.UnmarshalBinary(in)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v, want ErrCorrupt", err)
			}
			if !bytes.Equal(mustMarshal(t, db), good) {
				t.Fatal("failed UnmarshalBinary changed the DB")
			}
		})
	}
}

func slicesClone(b []byte) []byte { return append([]byte(nil), b...) }

// TestUnmarshalBinaryRootKinds pins the two root tags: tag 1 with 32 zero bytes
// is an explicit all-zero root, which a repeat signing matches; tag 0 is an
// unknown root, which nothing matches.
func TestUnmarshalBinaryRootKinds(t *testing.T) {
	pk := Pubkey{0xaa}
	oneBlock := func(root ...byte) []byte {
		b := append([]byte{BinaryVersion, 1}, pk[:]...)
		b = append(b, 0, 1, 5) // no flags, one block at slot 5
		b = append(b, root...)
		return append(b, 0) // no attestations
	}
	for _, tc := range []struct {
		name     string
		enc      []byte
		approved bool
	}{
		{"explicit zero root", oneBlock(append([]byte{1}, make([]byte, 32)...)...), true},
		{"unknown root", oneBlock(0), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := New()
			if err := db.UnmarshalBinary(tc.enc); err != nil {
				t.Fatal(err)
			}
			if v := db.CheckProposal(pk, 5, Root{}); v.Approved != tc.approved {
				t.Fatalf("signing slot 5 with the zero root again: %v, want approved=%v", v, tc.approved)
			}
			if !bytes.Equal(mustMarshal(t, db), tc.enc) {
				t.Fatal("round trip differs")
			}
		})
	}
	// Recording the zero root gives the explicit encoding.
	db := New()
	db.RecordProposal(pk, 5, Root{})
	if want := oneBlock(append([]byte{1}, make([]byte, 32)...)...); !bytes.Equal(mustMarshal(t, db), want) {
		t.Fatalf("recorded zero root encodes as %x, want %x", mustMarshal(t, db), want)
	}
}
