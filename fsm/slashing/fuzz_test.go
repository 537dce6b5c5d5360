package slashing

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func FuzzParseInterchange(f *testing.F) {
	f.Add([]byte(eipExample))
	f.Add([]byte(`{"metadata":{"interchange_format_version":"5","genesis_validators_root":"0x0000000000000000000000000000000000000000000000000000000000000000"},"data":[]}`))
	f.Add([]byte(`{"metadata":{"interchange_format_version":"4"},"data":null}`))
	f.Add([]byte(`[]`))
	// The interchange of every step of the public test vectors, when present.
	if dir, err := findSharedTestdata(); err == nil {
		files, _ := filepath.Glob(filepath.Join(dir, "slashing-protection-interchange-tests", "tests", "generated", "*.json"))
		for _, p := range files {
			raw, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			var tc vectorCase
			if json.Unmarshal(raw, &tc) != nil {
				continue
			}
			for _, s := range tc.Steps {
				f.Add([]byte(s.Interchange))
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ic, err := ParseInterchange(data)
		if err != nil {
			return
		}
		// What parses re-encodes to something that parses to the same document.
		enc, err := json.Marshal(ic)
		if err != nil {
			t.Fatalf("marshal parsed interchange: %v", err)
		}
		again, err := ParseInterchange(enc)
		if err != nil {
			t.Fatalf("own encoding does not parse: %v\n%s", err, enc)
		}
		enc2, _ := json.Marshal(again)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", enc, enc2)
		}
		// And imports, exports and round-trips through the binary format.
		db := New()
		if _, err := db.Import(ic, ic.Metadata.GenesisValidatorsRoot); err != nil {
			t.Fatalf("import of a parsed interchange failed: %v", err)
		}
		bin := mustMarshal(t, db)
		back := New()
		if err := back.UnmarshalBinary(bin); err != nil {
			t.Fatalf("unmarshal own encoding: %v", err)
		}
		if !bytes.Equal(mustMarshal(t, back), bin) {
			t.Fatal("binary round trip differs")
		}
	})
}

func FuzzUnmarshalBinary(f *testing.F) {
	f.Add(mustMarshalF(f, goldenDB()))
	f.Add(mustMarshalF(f, New()))
	f.Add([]byte{BinaryVersion, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		db := New()
		if err := db.UnmarshalBinary(data); err != nil {
			return
		}
		// The decoder is strict: whatever it accepts is the canonical encoding.
		if enc := mustMarshal(t, db); !bytes.Equal(enc, data) {
			t.Fatalf("accepted a non-canonical encoding:\n in %x\nout %x", data, enc)
		}
		// The decoded state is usable.
		for _, pk := range db.Validators() {
			db.CheckProposal(pk, 1, Root{1})
			db.CheckAttestation(pk, 1, 2, Root{1})
		}
		db.Prune(1, 32)
	})
}

func mustMarshalF(f *testing.F, db *DB) []byte {
	b, err := db.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// findSharedTestdata is sharedTestdata without a testing.TB, for fuzz seeds.
func findSharedTestdata() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, "..", "shared", "testdata")
			_, err := os.Stat(p)
			return p, err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
