package keys

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"strconv"
	"strings"
	"testing"

	"github.com/phalanx-eth/phalanx/threshold"
)

// decimalKey converts a decimal big integer to a 32-byte big-endian scalar.
func decimalKey(t testing.TB, s string) []byte {
	t.Helper()
	x, ok := new(big.Int).SetString(s, 10)
	if !ok {
		t.Fatalf("bad decimal %q in vector", s)
	}
	return x.FillBytes(make([]byte, 32))
}

type kdfCase struct {
	Name       string `json:"name"`
	Seed       string `json:"seed"`
	MasterSK   string `json:"master_SK"`
	ChildIndex uint32 `json:"child_index"`
	ChildSK    string `json:"child_SK"`
	Mnemonic   string `json:"bip39_mnemonic"`
	Passphrase string `json:"bip39_passphrase"`
}

// checkKDFCase runs DeriveMasterSK and DeriveChildSK on one EIP-2333 case.
func checkKDFCase(t *testing.T, c kdfCase) {
	t.Helper()
	seed := mustHex(t, c.Seed)
	master, err := DeriveMasterSK(seed)
	if err != nil {
		t.Fatalf("DeriveMasterSK: %v", err)
	}
	if got, want := master.Bytes(), decimalKey(t, c.MasterSK); !bytes.Equal(got, want) {
		t.Fatalf("master SK = %x, want %x", got, want)
	}
	child, err := DeriveChildSK(master, c.ChildIndex)
	if err != nil {
		t.Fatalf("DeriveChildSK: %v", err)
	}
	if got, want := child.Bytes(), decimalKey(t, c.ChildSK); !bytes.Equal(got, want) {
		t.Fatalf("child SK = %x, want %x", got, want)
	}
	// The same key through the path interface.
	viaPath, err := DerivePath(seed, "m/"+strconv.FormatUint(uint64(c.ChildIndex), 10))
	if err != nil {
		t.Fatalf("DerivePath: %v", err)
	}
	if !bytes.Equal(viaPath.Bytes(), child.Bytes()) {
		t.Fatalf("DerivePath m/%d differs from DeriveChildSK", c.ChildIndex)
	}
}

func TestEIP2333Vectors(t *testing.T) {
	var file struct {
		Cases        []kdfCase `json:"cases"`
		Intermediate struct {
			kdfCase
			Lamport0   []string `json:"lamport_0"`
			Lamport1   []string `json:"lamport_1"`
			Compressed string   `json:"compressed_lamport_PK"`
		} `json:"intermediate_values_case"`
	}
	if err := json.Unmarshal(readVector(t, ercDir+"/eip2333_test_vectors.json"), &file); err != nil {
		t.Fatalf("decode vectors: %v", err)
	}
	if len(file.Cases) != 4 {
		t.Fatalf("got %d cases, want 4", len(file.Cases))
	}
	for _, c := range file.Cases {
		t.Run(c.Name, func(t *testing.T) {
			checkKDFCase(t, c)
			if c.Mnemonic != "" {
				if got := MnemonicToSeed(c.Mnemonic, c.Passphrase); !bytes.Equal(got, mustHex(t, c.Seed)) {
					t.Fatalf("MnemonicToSeed = %x, want %s", got, c.Seed)
				}
			}
		})
	}
	iv := file.Intermediate
	t.Run(iv.Name, func(t *testing.T) {
		checkKDFCase(t, iv.kdfCase)
		checkLamport(t, decimalKey(t, iv.MasterSK), iv.ChildIndex, iv.Lamport0, iv.Lamport1, iv.Compressed)
	})
}

// checkLamport checks every intermediate value of parent_SK_to_lamport_PK.
func checkLamport(t *testing.T, parent []byte, index uint32, lamport0, lamport1 []string, compressed string) {
	t.Helper()
	if len(lamport0) != lamportChunks || len(lamport1) != lamportChunks {
		t.Fatalf("vector has %d and %d Lamport chunks, want %d", len(lamport0), len(lamport1), lamportChunks)
	}
	var salt [4]byte
	salt[0], salt[1], salt[2], salt[3] = byte(index>>24), byte(index>>16), byte(index>>8), byte(index)
	notParent := make([]byte, len(parent))
	for i := range parent {
		notParent[i] = ^parent[i]
	}
	for side, tc := range []struct {
		ikm  []byte
		want []string
	}{{parent, lamport0}, {notParent, lamport1}} {
		got, err := ikmToLamportSK(tc.ikm, salt[:])
		if err != nil {
			t.Fatalf("ikmToLamportSK: %v", err)
		}
		if len(got) != 32*lamportChunks {
			t.Fatalf("lamport_%d: %d bytes, want %d", side, len(got), 32*lamportChunks)
		}
		for i, w := range tc.want {
			if chunk := got[32*i : 32*i+32]; !bytes.Equal(chunk, mustHex(t, w)) {
				t.Fatalf("lamport_%d[%d] = %x, want %s", side, i, chunk, w)
			}
		}
	}
	pk, err := parentSKToLamportPK(parent, index)
	if err != nil {
		t.Fatalf("parentSKToLamportPK: %v", err)
	}
	if !bytes.Equal(pk[:], mustHex(t, compressed)) {
		t.Fatalf("compressed Lamport PK = %x, want %s", pk, compressed)
	}
}

func TestDepositCLITreeKDF(t *testing.T) {
	dec := json.NewDecoder(bytes.NewReader(readVector(t, depositDir+"/test_key_derivation/test_vectors/tree_kdf.json")))
	dec.UseNumber()
	var file struct {
		Tests []struct {
			Seed       string      `json:"seed"`
			MasterSK   json.Number `json:"master_SK"`
			ChildIndex json.Number `json:"child_index"`
			ChildSK    json.Number `json:"child_SK"`
		} `json:"kdf_tests"`
	}
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("decode tree_kdf.json: %v", err)
	}
	if len(file.Tests) == 0 {
		t.Fatal("tree_kdf.json has no cases")
	}
	for i, c := range file.Tests {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			index, err := strconv.ParseUint(c.ChildIndex.String(), 10, 32)
			if err != nil {
				t.Fatalf("child_index: %v", err)
			}
			checkKDFCase(t, kdfCase{Seed: c.Seed, MasterSK: c.MasterSK.String(), ChildIndex: uint32(index), ChildSK: c.ChildSK.String()})
		})
	}
}

func TestDepositCLITreeKDFIntermediate(t *testing.T) {
	dec := json.NewDecoder(bytes.NewReader(readVector(t, depositDir+"/test_key_derivation/test_vectors/tree_kdf_intermediate.json")))
	dec.UseNumber()
	var c struct {
		Mnemonic   string      `json:"mnemonic"`
		Password   string      `json:"password"`
		Seed       string      `json:"seed"`
		MasterSK   json.Number `json:"master_SK"`
		Path       string      `json:"path"`
		ChildIndex json.Number `json:"child_index"`
		Lamport0   []string    `json:"lamport_0"`
		Lamport1   []string    `json:"lamport_1"`
		Compressed string      `json:"compressed_lamport_PK"`
		ChildSK    json.Number `json:"child_SK"`
	}
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("decode tree_kdf_intermediate.json: %v", err)
	}
	seed := MnemonicToSeed(c.Mnemonic, c.Password)
	if !bytes.Equal(seed, mustHex(t, c.Seed)) {
		t.Fatalf("MnemonicToSeed = %x, want %s", seed, c.Seed)
	}
	index, err := strconv.ParseUint(c.ChildIndex.String(), 10, 32)
	if err != nil {
		t.Fatalf("child_index: %v", err)
	}
	checkKDFCase(t, kdfCase{Seed: c.Seed, MasterSK: c.MasterSK.String(), ChildIndex: uint32(index), ChildSK: c.ChildSK.String()})
	checkLamport(t, decimalKey(t, c.MasterSK.String()), uint32(index), c.Lamport0, c.Lamport1, c.Compressed)
	sk, err := DerivePath(seed, c.Path)
	if err != nil {
		t.Fatalf("DerivePath(%q): %v", c.Path, err)
	}
	if !bytes.Equal(sk.Bytes(), decimalKey(t, c.ChildSK.String())) {
		t.Fatalf("DerivePath(%q) = %x, want child_SK", c.Path, sk.Bytes())
	}
}

func TestMnemonicToSeedVectors(t *testing.T) {
	var file map[string][][]string
	if err := json.Unmarshal(readVector(t, depositDir+"/test_key_derivation/test_vectors/mnemonic.json"), &file); err != nil {
		t.Fatalf("decode mnemonic.json: %v", err)
	}
	if len(file["english"]) == 0 {
		t.Fatal("mnemonic.json has no English vectors")
	}
	// Every language: the seed step is language-independent apart from NFKD,
	// which the Spanish (accents) and Korean (Hangul) lists exercise.
	for lang, cases := range file {
		t.Run(lang, func(t *testing.T) {
			if testing.Short() && lang != "english" && lang != "spanish" {
				cases = cases[:2]
			}
			for i, c := range cases {
				if len(c) < 3 {
					t.Fatalf("case %d: %d fields, want entropy, mnemonic, seed", i, len(c))
				}
				// The deposit CLI runs these vectors with passphrase "TREZOR".
				if got := MnemonicToSeed(c[1], "TREZOR"); !bytes.Equal(got, mustHex(t, c[2])) {
					t.Fatalf("case %d (%s): seed = %x, want %s", i, c[0], got, c[2])
				}
			}
		})
	}
}

func TestDerivePathMatchesChildChain(t *testing.T) {
	seed := bytes.Repeat([]byte{0x42}, 32)
	path := "m/12381/3600/7/0/0"
	got, err := DerivePath(seed, path)
	if err != nil {
		t.Fatalf("DerivePath: %v", err)
	}
	sk, err := DeriveMasterSK(seed)
	if err != nil {
		t.Fatalf("DeriveMasterSK: %v", err)
	}
	for _, i := range []uint32{12381, 3600, 7, 0, 0} {
		if sk, err = DeriveChildSK(sk, i); err != nil {
			t.Fatalf("DeriveChildSK(%d): %v", i, err)
		}
	}
	if !bytes.Equal(got.Bytes(), sk.Bytes()) {
		t.Fatal("DerivePath differs from successive DeriveChildSK calls")
	}
	master, err := DerivePath(seed, "m")
	if err != nil {
		t.Fatalf("DerivePath(m): %v", err)
	}
	want, _ := DeriveMasterSK(seed)
	if !bytes.Equal(master.Bytes(), want.Bytes()) {
		t.Fatal(`DerivePath("m") is not the master key`)
	}
}

func TestDeriveErrors(t *testing.T) {
	if _, err := DeriveMasterSK(make([]byte, 31)); !errors.Is(err, ErrShortSeed) {
		t.Errorf("DeriveMasterSK(31 bytes) error = %v, want ErrShortSeed", err)
	}
	if _, err := DerivePath(make([]byte, 31), "m/0"); !errors.Is(err, ErrShortSeed) {
		t.Errorf("DerivePath(31 bytes) error = %v, want ErrShortSeed", err)
	}
	if _, err := DeriveChildSK(nil, 0); err == nil {
		t.Error("DeriveChildSK(nil) succeeded")
	}
	if _, err := DerivePath(make([]byte, 32), "m/x"); !errors.Is(err, ErrInvalidPath) {
		t.Errorf("DerivePath(m/x) error = %v, want ErrInvalidPath", err)
	}
}

func TestParsePath(t *testing.T) {
	good := map[string][]uint32{
		"m":                  {},
		"m/0":                {0},
		"m/12381/3600/0/0/0": {12381, 3600, 0, 0, 0},
		"m/4294967295":       {4294967295},
		"m/007":              {7},
	}
	for path, want := range good {
		got, err := ParsePath(path)
		if err != nil {
			t.Errorf("ParsePath(%q): %v", path, err)
			continue
		}
		if len(got) != len(want) {
			t.Errorf("ParsePath(%q) = %v, want %v", path, got, want)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("ParsePath(%q) = %v, want %v", path, got, want)
			}
		}
	}
	bad := []string{"", "M/0", "m/", "m//0", "/0", "m/0/", "m/-1", "m/+1", "m/ 1", "m/1h", "m/0'",
		"m/4294967296", "m/0x10", "n/0", strings.Repeat("m", 2), "m" + strings.Repeat("/0", maxPathDepth+1)}
	for _, path := range bad {
		if _, err := ParsePath(path); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("ParsePath(%q) error = %v, want ErrInvalidPath", path, err)
		}
	}
}

// TestHKDFModRNonZero checks the output range on a spread of inputs.
func TestHKDFModRNonZero(t *testing.T) {
	for i := 0; i < 64; i++ {
		ikm := bytes.Repeat([]byte{byte(i)}, 32+i)
		sk, err := hkdfModR(ikm, nil)
		if err != nil {
			t.Fatalf("hkdfModR: %v", err)
		}
		if _, err := threshold.SecretKeyFromBytes(sk[:]); err != nil {
			t.Fatalf("hkdfModR output %d is not a valid scalar: %v", i, err)
		}
	}
}
