package eth

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testdataDir returns ../shared/testdata relative to the repository root
// (the folder holding go.mod), or skips the test when it is absent.
func testdataDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no go.mod above the package directory; cannot locate ../shared/testdata")
		}
		dir = parent
	}
	td := filepath.Join(dir, "..", "shared", "testdata")
	if _, err := os.Stat(td); err != nil {
		t.Skipf("third-party vectors not found at %s: %v", td, err)
	}
	return td
}

// vectorDir returns a folder inside the vectors, skipping when it is absent.
func vectorDir(t testing.TB, parts ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{testdataDir(t)}, parts...)...)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("vector folder %s not found: %v", p, err)
	}
	return p
}

// mustHex decodes a 0x-prefixed hex string.
func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		t.Fatalf("decode hex %q: %v", s, err)
	}
	return b
}

// mustRoot decodes a 0x-prefixed 32-byte hex string.
func mustRoot(t testing.TB, s string) Root {
	t.Helper()
	b := mustHex(t, s)
	if len(b) != 32 {
		t.Fatalf("root %q has %d bytes", s, len(b))
	}
	return Root(b)
}
