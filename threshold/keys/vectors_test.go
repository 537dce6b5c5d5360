package keys

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testdataDir returns ../shared/testdata relative to the repository root (the
// nearest ancestor directory with a go.mod), or skips the test when the
// third-party vectors are not present.
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
		t.Skipf("third-party test vectors not found at %s (see SOURCES.md there): %v", td, err)
	}
	return td
}

// readVector reads a file under the testdata directory.
func readVector(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdataDir(t), rel))
	if err != nil {
		t.Fatalf("read vector %s: %v", rel, err)
	}
	return b
}

// mustHex decodes hex with or without a 0x prefix.
func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		t.Fatalf("bad hex %q in vector: %v", s, err)
	}
	return b
}

const (
	ercDir       = "erc-2333-2335"
	depositDir   = "staking-deposit-cli/tests/test_key_handling"
	mockedDir    = "eth2.0-pm/interop/mocked_start"
	vectorSecret = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
)
