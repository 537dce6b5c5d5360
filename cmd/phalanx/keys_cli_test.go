package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/phalanx-eth/phalanx/node"
	"github.com/phalanx-eth/phalanx/threshold"
	"github.com/phalanx-eth/phalanx/threshold/keys"
)

// treeState is what a directory tree holds: relative path → "dir" or the file's mode and content hash.
type treeState map[string]string

func readTree(t *testing.T, root string) treeState {
	t.Helper()
	st := treeState{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			st[rel] = "dir " + info.Mode().String()
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		st[rel] = info.Mode().String() + " " + hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatalf("read tree %s: %v", root, err)
	}
	return st
}

// diff names what changed between two tree states.
func (a treeState) diff(b treeState) string {
	var out []string
	for p, v := range a {
		if w, ok := b[p]; !ok {
			out = append(out, "removed "+p)
		} else if w != v {
			out = append(out, "changed "+p)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			out = append(out, "added "+p)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// expectRefused runs the CLI, wants an error that mentions every one of want (case-insensitive) and checks
// that nothing under root changed.
func expectRefused(t *testing.T, root string, want []string, args ...string) error {
	t.Helper()
	before := readTree(t, root)
	out, err := runCLI(t, args...)
	if err == nil {
		t.Fatalf("phalanx %s succeeded; want an error\n%s", strings.Join(args, " "), out)
	}
	t.Logf("refused: %v", err)
	for _, w := range want {
		if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(w)) {
			t.Errorf("phalanx %s: error %q does not mention %q", strings.Join(args, " "), err, w)
		}
	}
	if d := before.diff(readTree(t, root)); d != "" {
		t.Errorf("phalanx %s failed but changed files under %s: %s", strings.Join(args, " "), root, d)
	}
	return err
}

func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("phalanx %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeKeystore writes sk as an EIP-2335 keystore with a cheap KDF (opts may set the path).
func writeKeystore(t *testing.T, path string, sk *threshold.SecretKey, password string, opts ...keys.Option) string {
	t.Helper()
	ks, err := keys.Encrypt(sk, password, append([]keys.Option{keys.WithScryptN(1 << 10)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ks.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, path, string(b))
}

func newKey(t *testing.T) *threshold.SecretKey {
	t.Helper()
	sk, err := threshold.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return sk
}

func pkHex(sk *threshold.SecretKey) string { return hex.EncodeToString(sk.PublicKey().Bytes()) }

// keysFixture is a directory with validator keystores and password files, and (after init) a cluster.
type keysFixture struct {
	dir      string // everything the tests write lives here
	in       string // inputs: keystores and password files
	pw       string // password file of the validator keystores
	sk1, sk2 *threshold.SecretKey
	ks1, ks2 string
	out      string // the cluster directory
	lock     string
}

func newKeysFixture(t *testing.T) *keysFixture {
	t.Helper()
	f := &keysFixture{dir: t.TempDir()}
	f.in = filepath.Join(f.dir, "in")
	f.pw = writeFile(t, filepath.Join(f.in, "password.txt"), "validator password\n")
	f.sk1, f.sk2 = newKey(t), newKey(t)
	f.ks1 = writeKeystore(t, filepath.Join(f.in, "v1.json"), f.sk1, "validator password")
	f.ks2 = writeKeystore(t, filepath.Join(f.in, "v2.json"), f.sk2, "validator password")
	f.out = filepath.Join(f.dir, "cluster")
	f.lock = filepath.Join(f.out, "lock.json")
	return f
}

func (f *keysFixture) init(t *testing.T) {
	t.Helper()
	out := mustCLI(t, "cluster", "init", "--out", f.out, "--nodes", "3", "--keystore", f.ks1, "--keystore-password-file", f.pw, "--light-kdf")
	if !strings.Contains(out, "2-of-3 cluster with 1 validators") {
		t.Fatalf("cluster init: %s", out)
	}
}

func (f *keysFixture) nodeConfig(i int) string {
	return filepath.Join(f.out, memberName(i), "node.json")
}

func (f *keysFixture) share(i int, sk *threshold.SecretKey) string {
	return filepath.Join(f.out, memberName(i), "keys", pkHex(sk)+".json")
}

func (f *keysFixture) sharePassword(i int) string {
	return filepath.Join(f.out, memberName(i), "password.txt")
}

// TestKeysLifecycle is the operator's happy path: cluster init from a keystore, keys verify on every node,
// keys split adds a second validator, keys combine rebuilds exactly the second validator's key.
func TestKeysLifecycle(t *testing.T) {
	f := newKeysFixture(t)
	f.init(t)
	for i := 0; i < 3; i++ {
		out := mustCLI(t, "keys", "verify", "--config", f.nodeConfig(i))
		if want := fmt.Sprintf("%s: 1 share keystores decrypt and match share %d", memberName(i), i+1); !strings.Contains(out, want) {
			t.Fatalf("keys verify node %d: %q; want %q", i+1, out, want)
		}
	}
	lock, err := node.LoadLock(f.lock)
	if err != nil {
		t.Fatal(err)
	}
	if lock.Threshold != 2 || len(lock.Members) != 3 || len(lock.Validators) != 1 || pkHex(f.sk1) != hex.EncodeToString(lock.Validators[0].Pubkey) {
		t.Fatalf("lock after init: threshold %d, %d members, %d validators", lock.Threshold, len(lock.Members), len(lock.Validators))
	}

	out := mustCLI(t, "keys", "split", "--lock", f.lock, "--nodes-dir", f.out, "--keystore", f.ks2, "--keystore-password-file", f.pw, "--light-kdf")
	if !strings.Contains(out, "into 3 shares (threshold 2)") {
		t.Fatalf("keys split: %s", out)
	}
	if lock, err = node.LoadLock(f.lock); err != nil || len(lock.Validators) != 2 {
		t.Fatalf("lock after split: %v, %d validators", err, len(lock.Validators))
	}
	for i := 0; i < 3; i++ {
		if out := mustCLI(t, "keys", "verify", "--config", f.nodeConfig(i)); !strings.Contains(out, "2 share keystores") {
			t.Fatalf("keys verify node %d after split: %s", i+1, out)
		}
	}

	// Break glass with shares 1 and 3 of the second validator.
	outPW := writeFile(t, filepath.Join(f.dir, "combined-password.txt"), "combined password\n")
	combined := filepath.Join(f.dir, "combined.json")
	out = mustCLI(t, "keys", "combine", "--lock", f.lock, "--pubkey", "0x"+pkHex(f.sk2),
		"--share", f.share(0, f.sk2), "--share", f.share(2, f.sk2),
		"--share-password-file", f.sharePassword(0), "--share-password-file", f.sharePassword(2),
		"--out", combined, "--out-password-file", outPW)
	if !strings.Contains(out, "wrote the whole key") {
		t.Fatalf("keys combine: %s", out)
	}
	b, err := os.ReadFile(combined)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keys.ParseKeystore(b)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := ks.Decrypt("combined password")
	if err != nil {
		t.Fatal(err)
	}
	if pkHex(sk) != pkHex(f.sk2) {
		t.Fatal("the combined key has another public key than the validator's")
	}
	msg := []byte("phalanx break-glass check")
	if !sk.Sign(msg).Equal(f.sk2.Sign(msg)) {
		t.Fatal("the combined key signs differently from the validator's key")
	}
}

// TestClusterInitBadInput: every bad input to `phalanx cluster init` is refused with an error naming the
// problem, and nothing is created or changed on disk.
func TestClusterInitBadInput(t *testing.T) {
	f := newKeysFixture(t)
	wrongPW := writeFile(t, filepath.Join(f.in, "wrong.txt"), "not the password\n")
	corrupt := writeFile(t, filepath.Join(f.in, "corrupt.json"), `{"crypto": {"kdf": `)
	existing := filepath.Join(f.dir, "existing")
	writeFile(t, filepath.Join(existing, "keep.txt"), "operator data\n")
	missing := filepath.Join(f.in, "no-such-keystore.json")
	// The first validator's key again, encrypted anew (another salt, another file).
	again := writeKeystore(t, filepath.Join(f.in, "v1-again.json"), f.sk1, "validator password")
	base := []string{"cluster", "init", "--light-kdf"}
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"corrupt keystore", []string{"--out", f.out, "--keystore", corrupt, "--keystore-password-file", f.pw}, []string{"corrupt.json"}},
		{"wrong password", []string{"--out", f.out, "--keystore", f.ks1, "--keystore-password-file", wrongPW}, []string{"v1.json", "password"}},
		{"same key twice", []string{"--out", f.out, "--keystore", f.ks1, "--keystore", again, "--keystore-password-file", f.pw}, []string{"appears twice"}},
		{"missing keystore", []string{"--out", f.out, "--keystore", f.ks1, "--keystore", missing, "--keystore-password-file", f.pw}, []string{"no such file"}},
		{"missing password file", []string{"--out", f.out, "--keystore", f.ks1, "--keystore-password-file", filepath.Join(f.in, "nope.txt")}, []string{"password file"}},
		{"keystore without password", []string{"--out", f.out, "--keystore", f.ks1}, []string{"--keystore-password-file"}},
		{"threshold below a majority", []string{"--out", f.out, "--nodes", "3", "--threshold", "1", "--keystore", f.ks1, "--keystore-password-file", f.pw}, []string{"--threshold 1", "majority"}},
		{"threshold above the nodes", []string{"--out", f.out, "--nodes", "3", "--threshold", "4", "--keystore", f.ks1, "--keystore-password-file", f.pw}, []string{"--threshold 4"}},
		{"too many nodes", []string{"--out", f.out, "--nodes", "1000", "--keystore", f.ks1, "--keystore-password-file", f.pw}, []string{"--nodes 1000"}},
		{"existing out directory", []string{"--out", existing, "--keystore", f.ks1, "--keystore-password-file", f.pw}, []string{"already exists"}},
		{"no out", []string{"--keystore", f.ks1, "--keystore-password-file", f.pw}, []string{"--out"}},
		{"no validators", []string{"--out", f.out}, []string{"no validators"}},
		{"bad interop range", []string{"--out", f.out, "--interop-validators", "9-2"}, []string{"--interop-validators"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := expectRefused(t, f.dir, tc.want, append(base, tc.args...)...)
			if tc.name == "wrong password" && !errors.Is(err, keys.ErrWrongPassword) {
				t.Errorf("wrong password: %v is not keys.ErrWrongPassword", err)
			}
		})
	}
	if _, err := os.Stat(f.out); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused init created %s", f.out)
	}
}

// TestKeysSplitBadInput: `phalanx keys split` refuses bad input and leaves the lock and every node's keys
// untouched, including when writing one member's share fails after others were written.
func TestKeysSplitBadInput(t *testing.T) {
	f := newKeysFixture(t)
	f.init(t)
	wrongPW := writeFile(t, filepath.Join(f.in, "wrong.txt"), "not the password\n")
	corrupt := writeFile(t, filepath.Join(f.in, "corrupt.json"), `not json at all`)
	badLock := writeFile(t, filepath.Join(f.in, "bad-lock.json"), `{"version": 1, "name": "x", "threshold": 2, "members": [], "validators": []}`)
	emptyNodes := filepath.Join(f.dir, "empty-nodes")
	if err := os.MkdirAll(emptyNodes, 0o700); err != nil {
		t.Fatal(err)
	}
	base := []string{"keys", "split", "--light-kdf"}
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"corrupt keystore", []string{"--lock", f.lock, "--nodes-dir", f.out, "--keystore", corrupt, "--keystore-password-file", f.pw}, []string{"corrupt.json"}},
		{"wrong password", []string{"--lock", f.lock, "--nodes-dir", f.out, "--keystore", f.ks2, "--keystore-password-file", wrongPW}, []string{"wrong password"}},
		{"key already in the lock", []string{"--lock", f.lock, "--nodes-dir", f.out, "--keystore", f.ks1, "--keystore-password-file", f.pw}, []string{"already in the lock"}},
		{"missing keystore", []string{"--lock", f.lock, "--nodes-dir", f.out, "--keystore", filepath.Join(f.in, "nope.json"), "--keystore-password-file", f.pw}, []string{"no such file"}},
		{"missing lock", []string{"--lock", filepath.Join(f.in, "nope-lock.json"), "--nodes-dir", f.out, "--keystore", f.ks2, "--keystore-password-file", f.pw}, []string{"lock"}},
		{"invalid lock", []string{"--lock", badLock, "--nodes-dir", f.out, "--keystore", f.ks2, "--keystore-password-file", f.pw}, []string{"lock"}},
		{"nodes dir without members", []string{"--lock", f.lock, "--nodes-dir", emptyNodes, "--keystore", f.ks2, "--keystore-password-file", f.pw}, []string{"member node-1", "password file"}},
		{"missing flags", []string{"--lock", f.lock}, []string{"required"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expectRefused(t, f.dir, tc.want, append(base, tc.args...)...)
		})
	}

	// node-3's keys directory cannot be written (a file stands in its place): the shares already written
	// for node-1 and node-2 must not be left behind, and the lock must not change.
	t.Run("a member's keys directory is not writable", func(t *testing.T) {
		keysDir := filepath.Join(f.out, memberName(2), "keys")
		aside := keysDir + ".aside"
		if err := os.Rename(keysDir, aside); err != nil {
			t.Fatal(err)
		}
		writeFile(t, keysDir, "not a directory\n")
		defer func() {
			os.Remove(keysDir)
			if err := os.Rename(aside, keysDir); err != nil {
				t.Fatal(err)
			}
		}()
		expectRefused(t, f.dir, []string{"node-3"}, append(base, "--lock", f.lock, "--nodes-dir", f.out, "--keystore", f.ks2, "--keystore-password-file", f.pw)...)
	})

	// A share keystore of this validator is already in a member's keys directory (say, left by hand): split
	// refuses rather than overwrite it.
	t.Run("a share keystore is already there", func(t *testing.T) {
		stale := filepath.Join(f.out, memberName(1), "keys", pkHex(f.sk2)+".json")
		writeFile(t, stale, "an older share\n")
		defer os.Remove(stale)
		expectRefused(t, f.dir, []string{"node-2", "already has a share keystore"}, append(base, "--lock", f.lock, "--nodes-dir", f.out, "--keystore", f.ks2, "--keystore-password-file", f.pw)...)
	})

	// After all that, the cluster is intact and the split works.
	mustCLI(t, append(base, "--lock", f.lock, "--nodes-dir", f.out, "--keystore", f.ks2, "--keystore-password-file", f.pw)...)
	for i := 0; i < 3; i++ {
		if out := mustCLI(t, "keys", "verify", "--config", f.nodeConfig(i)); !strings.Contains(out, "2 share keystores") {
			t.Fatalf("keys verify node %d: %s", i+1, out)
		}
	}
}

// TestKeysVerifyBadInput: `phalanx keys verify` names what is wrong with a node's config or keys, and only
// reads.
func TestKeysVerifyBadInput(t *testing.T) {
	f := newKeysFixture(t)
	f.init(t)
	n1 := filepath.Join(f.out, memberName(0))
	nodeJSON := func(name string, edit func(m map[string]any)) string {
		b, err := os.ReadFile(f.nodeConfig(0))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		b, err = json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return writeFile(t, filepath.Join(n1, name), string(b))
	}
	unknownField := nodeJSON("unknown-field.json", func(m map[string]any) { m["data_dri"] = "data" })
	truncated := writeFile(t, filepath.Join(n1, "truncated.json"), `{"id": "node-1", "lock_file": `)
	writeFile(t, filepath.Join(n1, "wrong-password.txt"), "nope\n")
	wrongPW := nodeJSON("wrong-password.json", func(m map[string]any) { m["password_file"] = "wrong-password.txt" })
	stranger := nodeJSON("stranger.json", func(m map[string]any) { m["id"] = "node-9" })
	noID := nodeJSON("no-id.json", func(m map[string]any) { m["id"] = "" })
	otherShares := nodeJSON("other-shares.json", func(m map[string]any) { m["keys_dir"] = "../node-2/keys" })
	noKeys := nodeJSON("no-keys.json", func(m map[string]any) { m["keys_dir"] = "no-such-keys" })
	cases := []struct {
		name   string
		config string
		want   []string
		is     error
	}{
		{"unknown field", unknownField, []string{"data_dri"}, nil},
		{"truncated JSON", truncated, []string{"truncated.json"}, nil},
		{"missing config", filepath.Join(n1, "nope.json"), []string{"no such file"}, nil},
		{"wrong password", wrongPW, []string{"wrong password"}, keys.ErrWrongPassword},
		{"member not in the lock", stranger, []string{"node-9", "not in the lock"}, nil},
		{"empty id", noID, []string{"id is empty"}, nil},
		{"another member's shares", otherShares, []string{"share"}, node.ErrShareMismatch},
		{"missing keys", noKeys, []string{"no such file"}, nil},
		{"no config flag", "", []string{"--config"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := expectRefused(t, f.dir, tc.want, "keys", "verify", "--config", tc.config)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
		})
	}
}

// TestKeysCombineBadInput: `phalanx keys combine` refuses anything but t shares of one validator of the lock
// with their passwords, and writes nothing when it refuses.
func TestKeysCombineBadInput(t *testing.T) {
	f := newKeysFixture(t)
	f.init(t)
	mustCLI(t, "keys", "split", "--lock", f.lock, "--nodes-dir", f.out, "--keystore", f.ks2, "--keystore-password-file", f.pw, "--light-kdf")
	outPW := writeFile(t, filepath.Join(f.in, "out-password.txt"), "new password\n")
	combined := filepath.Join(f.dir, "combined.json")
	existing := writeFile(t, filepath.Join(f.dir, "existing.json"), "an operator's file\n")
	corrupt := writeFile(t, filepath.Join(f.in, "corrupt-share.json"), `{"path": "m/1", "crypto": [`)
	// A stranger's share: right shape, share index 2, but a key no lock validator has.
	stranger := writeKeystore(t, filepath.Join(f.in, "stranger.json"), newKey(t), "stranger", keys.WithPath("m/2"))
	strangerPW := writeFile(t, filepath.Join(f.in, "stranger-password.txt"), "stranger\n")
	// A share index beyond the lock's members.
	beyond := writeKeystore(t, filepath.Join(f.in, "beyond.json"), newKey(t), "stranger", keys.WithPath("m/5"))
	notShare := writeKeystore(t, filepath.Join(f.in, "not-share.json"), newKey(t), "stranger", keys.WithPath("m/12381/3600/0/0/0"))

	share := func(i int, sk *threshold.SecretKey) []string {
		return []string{"--share", f.share(i, sk), "--share-password-file", f.sharePassword(i)}
	}
	args := func(parts ...[]string) []string {
		a := []string{"keys", "combine", "--lock", f.lock, "--out-password-file", outPW}
		for _, p := range parts {
			a = append(a, p...)
		}
		return a
	}
	out := []string{"--out", combined}
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"too few shares", args(out, share(0, f.sk1)), []string{"2 different members", "1 distinct shares"}},
		{"shares of two validators", args(out, share(0, f.sk1), share(1, f.sk2)), []string{"different validators"}},
		{"the same share twice", args(out, share(0, f.sk1), share(0, f.sk1)), []string{"2 different members", "1 distinct shares"}},
		{"wrong password", args(out, []string{"--share", f.share(0, f.sk1), "--share-password-file", f.sharePassword(1)}, share(1, f.sk1)), []string{"wrong password"}},
		{"corrupt share keystore", args(out, share(0, f.sk1), []string{"--share", corrupt, "--share-password-file", f.sharePassword(1)}), []string{"corrupt-share.json"}},
		{"share of no validator", args(out, []string{"--share", stranger, "--share-password-file", strangerPW}, share(0, f.sk1)), []string{"matches no validator"}},
		{"share index beyond the members", args(out, share(0, f.sk1), []string{"--share", beyond, "--share-password-file", strangerPW}), []string{"beyond.json"}},
		{"not a share keystore", args(out, []string{"--share", notShare, "--share-password-file", strangerPW}, share(0, f.sk1)), []string{"does not name a share index"}},
		{"other validator's pubkey", append(args(out, share(0, f.sk1), share(1, f.sk1)), "--pubkey", "0x"+pkHex(f.sk2)), []string{"not 0x" + pkHex(f.sk2)}},
		{"existing out", args([]string{"--out", existing}, share(0, f.sk1), share(1, f.sk1)), []string{"refusing to overwrite"}},
		{"password files do not pair", args(out, []string{"--share", f.share(0, f.sk1), "--share", f.share(1, f.sk1), "--share", f.share(2, f.sk1),
			"--share-password-file", f.sharePassword(0), "--share-password-file", f.sharePassword(1)}), []string{"one per --share"}},
		{"missing share file", args(out, share(0, f.sk1), []string{"--share", filepath.Join(f.in, "nope.json"), "--share-password-file", f.sharePassword(1)}), []string{"no such file"}},
		{"missing out password", []string{"keys", "combine", "--lock", f.lock, "--out", combined, "--out-password-file", filepath.Join(f.in, "nope.txt"),
			"--share", f.share(0, f.sk1), "--share", f.share(1, f.sk1), "--share-password-file", f.sharePassword(0), "--share-password-file", f.sharePassword(1)}, []string{"password file"}},
		{"missing flags", []string{"keys", "combine", "--lock", f.lock}, []string{"required"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expectRefused(t, f.dir, tc.want, tc.args...)
		})
	}
}

// TestNodeBadConfig: `phalanx node` refuses a bad node config before it creates anything (no data
// directory, no raft files).
func TestNodeBadConfig(t *testing.T) {
	f := newKeysFixture(t)
	f.init(t)
	n1 := filepath.Join(f.out, memberName(0))
	edited := func(name string, edit func(m map[string]any)) string {
		b, err := os.ReadFile(f.nodeConfig(0))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		b, _ = json.Marshal(m)
		return writeFile(t, filepath.Join(n1, name), string(b))
	}
	writeFile(t, filepath.Join(n1, "wrong-password.txt"), "nope\n")
	cases := []struct {
		name   string
		config string
		extra  []string
		want   []string
	}{
		{"unknown field", edited("unknown.json", func(m map[string]any) { m["p2p_listne"] = "/ip4/127.0.0.1/tcp/1" }), nil, []string{"p2p_listne"}},
		{"malformed JSON", writeFile(t, filepath.Join(n1, "malformed.json"), `{"id": "node-1",,}`), nil, []string{"malformed.json"}},
		{"missing config", filepath.Join(n1, "nope.json"), nil, []string{"no such file"}},
		{"bad slot time", edited("slot.json", func(m map[string]any) { m["slot_time"] = "twelve seconds" }), nil, []string{"slot_time"}},
		{"member not in the lock", edited("stranger.json", func(m map[string]any) { m["id"] = "node-7" }), nil, []string{"node-7"}},
		{"wrong password", edited("wrong-pw.json", func(m map[string]any) { m["password_file"] = "wrong-password.txt" }), nil, []string{"wrong password"}},
		{"another member's identity", edited("identity.json.cfg", func(m map[string]any) { m["identity_file"] = "../node-2/identity.json" }), nil, []string{"peer ID"}},
		{"missing lock", edited("no-lock.json", func(m map[string]any) { m["lock_file"] = "../no-lock.json" }), nil, []string{"no such file"}},
		{"bad fee recipient", f.nodeConfig(0), []string{"--fee-recipient", "0x1234"}, []string{"--fee-recipient"}},
		{"api without a token", edited("no-token.json", func(m map[string]any) { m["api_listen"] = "127.0.0.1:0"; delete(m, "api_token_file") }), nil, []string{"api_token_file"}},
		{"missing api token file", edited("gone-token.json", func(m map[string]any) { m["api_listen"] = "127.0.0.1:0"; m["api_token_file"] = "gone.txt" }), nil, []string{"gone.txt"}},
		{"no config flag", "", nil, []string{"--config"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"node", "--log-level", "error", "--config", tc.config}, tc.extra...)
			expectRefused(t, f.dir, tc.want, args...)
		})
	}
	if _, err := os.Stat(filepath.Join(n1, "data")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused node start created its data directory: %v", err)
	}
}
