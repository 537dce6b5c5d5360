package node

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phalanx-eth/phalanx/threshold/keys"
)

func TestLockValidate(t *testing.T) {
	vals := testValidators(t, 0, 1)
	good, _ := testLock(t, vals, 2, 3)
	other, _ := testLock(t, vals, 2, 3)
	cases := []struct {
		name   string
		mutate func(l *Lock)
		want   string
	}{
		{"version", func(l *Lock) { l.Version = 2 }, "version 2"},
		{"no name", func(l *Lock) { l.Name = " " }, "name is empty"},
		{"threshold not a majority", func(l *Lock) { l.Threshold = 1 }, "not a majority"},
		{"duplicate member", func(l *Lock) { l.Members[1].ID = l.Members[0].ID }, "appears twice"},
		{"address without peer id", func(l *Lock) { l.Members[0].Address = "/ip4/127.0.0.1/tcp/9000" }, "does not end in /p2p/"},
		{"share pubkey from another split", func(l *Lock) {
			l.Validators[0].SharePubkeys[1] = other.Validators[0].SharePubkeys[1]
		}, "share_pubkeys[1]"},
		{"commitments of another validator", func(l *Lock) { l.Validators[0].Pubkey = l.Validators[1].Pubkey }, "commitment 0"},
		{"too few commitments", func(l *Lock) { l.Validators[0].Commitments = l.Validators[0].Commitments[:1] }, "commitments"},
		{"no validators", func(l *Lock) { l.Validators = nil }, "no validators"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := jsonClone(good)
			if err != nil {
				t.Fatal(err)
			}
			tc.mutate(b)
			err = b.Validate()
			if !errors.Is(err, ErrInvalidLock) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want ErrInvalidLock mentioning %q", err, tc.want)
			}
		})
	}
	path := filepath.Join(t.TempDir(), "lock.json")
	if err := good.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := LoadLock(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Name != good.Name || len(back.Validators) != 2 {
		t.Fatalf("round trip lost data: %+v", back)
	}
	if _, err := ParseLock([]byte(`{"version":1,"unknown":true}`)); !errors.Is(err, ErrInvalidLock) {
		t.Fatalf("unknown field accepted: %v", err)
	}
}

func jsonClone(l *Lock) (*Lock, error) {
	b := *l
	b.Members = append([]LockMember(nil), l.Members...)
	b.Validators = nil
	for _, v := range l.Validators {
		c := v
		c.SharePubkeys = append([]HexBytes(nil), v.SharePubkeys...)
		c.Commitments = append([]HexBytes(nil), v.Commitments...)
		b.Validators = append(b.Validators, c)
	}
	return &b, nil
}

func TestLoadShares(t *testing.T) {
	vals := testValidators(t, 0, 1)
	lock, shares := testLock(t, vals, 2, 3)
	dir := t.TempDir()
	for i, v := range lock.Validators {
		if err := WriteShareKeystore(dir, v.Pubkey, shares[i][1], "pw", keys.WithScryptN(16)); err != nil {
			t.Fatal(err)
		}
	}
	ring, err := LoadShares(dir, "pw", lock, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(ring) != 2 {
		t.Fatalf("%d shares loaded, want 2", len(ring))
	}
	if _, err := LoadShares(dir, "wrong", lock, 2); !errors.Is(err, keys.ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	// The keystores hold share 2; a node holding share 1 must refuse them.
	if _, err := LoadShares(dir, "pw", lock, 1); !errors.Is(err, ErrShareMismatch) {
		t.Fatalf("share of another index: %v", err)
	}
	// A keystore of the right index but from another split does not match the lock.
	_, otherShares := testLock(t, vals, 2, 3)
	if err := WriteShareKeystore(dir, lock.Validators[0].Pubkey, otherShares[0][1], "pw", keys.WithScryptN(16)); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadShares(dir, "pw", lock, 2); !errors.Is(err, ErrShareMismatch) {
		t.Fatalf("share not matching the lock: %v", err)
	}
	if _, err := LoadShares(t.TempDir(), "pw", lock, 2); err == nil {
		t.Fatal("missing keystores accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	err := c.Validate()
	for _, want := range []string{"ID is empty", "DataDir", "LockFile", "BeaconURLs"} {
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to name %s", err, want)
		}
	}
	c.ID, c.DataDir, c.IdentityFile, c.LockFile, c.KeysDir, c.PasswordFile = "n", "d", "i", "l", "k", "p"
	c.BeaconURLs = []string{"http://127.0.0.1:5052"}
	if err := c.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	c.BeaconURLs = []string{"ftp://x"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "ftp://x") {
		t.Fatalf("bad URL accepted: %v", err)
	}
}

func FuzzParseLock(f *testing.F) {
	vals := testValidators(f, 0)
	l, _ := testLock(f, vals, 2, 3)
	path := filepath.Join(f.TempDir(), "lock.json")
	if err := l.Save(path); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"version":1,"name":"x","threshold":2,"members":[],"validators":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseLock(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidLock) {
				t.Fatalf("error does not wrap ErrInvalidLock: %v", err)
			}
			return
		}
		if err := l.Validate(); err != nil {
			t.Fatalf("parsed lock fails Validate: %v", err)
		}
	})
}
