package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/phalanx-eth/phalanx/node"
	"github.com/phalanx-eth/phalanx/threshold"
	"github.com/phalanx-eth/phalanx/threshold/keys"
)

func newKeysCmd(g *globalFlags) *cobra.Command {
	c := &cobra.Command{
		Use:   "keys",
		Short: "Split, verify and (break-glass) combine validator keys",
	}
	c.AddCommand(newKeysSplitCmd(), newKeysVerifyCmd(), newKeysCombineCmd())
	return c
}

func newKeysSplitCmd() *cobra.Command {
	var lockPath, nodesDir, ksPath, ksPassword string
	var light bool
	c := &cobra.Command{
		Use:   "split",
		Short: "Split an EIP-2335 keystore into one encrypted share keystore per node and add it to the lock",
		Long: `split decrypts a validator keystore, splits the key into one Shamir share per lock member (threshold from
the lock), writes each share as an EIP-2335 keystore into <nodes-dir>/<member-id>/keys (encrypted with that
node's <nodes-dir>/<member-id>/password.txt) and adds the validator, with its share public keys and Feldman
commitments, to the lock file. Nothing is written unless every step succeeds.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if lockPath == "" || nodesDir == "" || ksPath == "" || ksPassword == "" {
				return errors.New("--lock, --nodes-dir, --keystore and --keystore-password-file are required")
			}
			lock, err := node.LoadLock(lockPath)
			if err != nil {
				return err
			}
			pw, err := node.ReadPasswordFile(ksPassword)
			if err != nil {
				return err
			}
			sk, err := decryptKeystoreFile(ksPath, pw)
			if err != nil {
				return err
			}
			defer sk.Zeroize()
			for _, v := range lock.Validators {
				if bytes.Equal(v.Pubkey, sk.PublicKey().Bytes()) {
					return fmt.Errorf("validator %s is already in the lock", sk.PublicKey())
				}
			}
			passwords := make([]string, len(lock.Members))
			for i, m := range lock.Members {
				p, err := node.ReadPasswordFile(filepath.Join(nodesDir, m.ID, "password.txt"))
				if err != nil {
					return fmt.Errorf("member %s: %w", m.ID, err)
				}
				passwords[i] = p
			}
			shares, comms, err := threshold.Split(sk, lock.Threshold, len(lock.Members), rand.Reader)
			if err != nil {
				return err
			}
			defer func() {
				for i := range shares {
					shares[i].Key.Zeroize()
				}
			}()
			lv, err := node.NewLockValidator(comms, len(lock.Members))
			if err != nil {
				return err
			}
			lock.Validators = append(lock.Validators, lv)
			if err := lock.Validate(); err != nil {
				return err
			}
			var opts []keys.Option
			if light {
				opts = append(opts, keys.WithScryptN(1<<10))
			}
			// Write every member's share, then the lock; on any failure remove the shares written so far, so
			// that a refused split leaves no keystore of a validator the lock does not list. A keystore already
			// there is never overwritten (nor removed).
			var written []string
			undo := func() {
				for _, p := range written {
					os.Remove(p)
				}
			}
			for _, m := range lock.Members {
				p := filepath.Join(nodesDir, m.ID, "keys", node.ShareKeystoreName(lv.Pubkey))
				if _, err := os.Lstat(p); err == nil {
					return fmt.Errorf("member %s already has a share keystore for validator %s (%s); remove it first", m.ID, sk.PublicKey(), p)
				}
			}
			for i, m := range lock.Members {
				if err := node.WriteShareKeystore(filepath.Join(nodesDir, m.ID, "keys"), lv.Pubkey, shares[i], passwords[i], opts...); err != nil {
					undo()
					return fmt.Errorf("member %s: %w", m.ID, err)
				}
				written = append(written, filepath.Join(nodesDir, m.ID, "keys", node.ShareKeystoreName(lv.Pubkey)))
			}
			if err := lock.Save(lockPath); err != nil {
				undo()
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "split validator %s into %d shares (threshold %d); lock updated\n", sk.PublicKey(), len(lock.Members), lock.Threshold)
			return nil
		},
	}
	c.Flags().StringVar(&lockPath, "lock", "", "cluster lock file")
	c.Flags().StringVar(&nodesDir, "nodes-dir", "", "directory holding one sub-directory per member (as written by cluster init)")
	c.Flags().StringVar(&ksPath, "keystore", "", "EIP-2335 keystore of the validator")
	c.Flags().StringVar(&ksPassword, "keystore-password-file", "", "password file of --keystore")
	c.Flags().BoolVar(&light, "light-kdf", false, "devnet only: cheap scrypt cost for the share keystores")
	return c
}

func newKeysVerifyCmd() *cobra.Command {
	var configPath string
	c := &cobra.Command{
		Use:   "verify",
		Short: "Decrypt a node's share keystores and check each against the lock",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			nf, base, err := loadNodeFile(configPath)
			if err != nil {
				return err
			}
			lock, err := node.LoadLock(resolve(base, nf.LockFile))
			if err != nil {
				return err
			}
			idx, ok := lock.MemberIndex(nf.ID)
			if !ok {
				return fmt.Errorf("member %q is not in the lock", nf.ID)
			}
			pw, err := node.ReadPasswordFile(resolve(base, nf.PasswordFile))
			if err != nil {
				return err
			}
			ring, err := node.LoadShares(resolve(base, nf.KeysDir), pw, lock, idx)
			if err != nil {
				return err
			}
			for _, s := range ring {
				s.Key.Zeroize()
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d share keystores decrypt and match share %d of every validator in the lock\n", nf.ID, len(ring), idx)
			return nil
		},
	}
	c.Flags().StringVar(&configPath, "config", "", "node config file (node.json)")
	return c
}

func newKeysCombineCmd() *cobra.Command {
	var lockPath, pubkey, out, outPassword string
	var shareFiles, sharePasswords []string
	c := &cobra.Command{
		Use:   "combine",
		Short: "Break glass: rebuild a validator's whole key from t share keystores into one EIP-2335 keystore",
		Long: `combine decrypts t share keystores of one validator, checks every share against the lock, interpolates the
secret key, checks it against the validator's public key and writes it as a new EIP-2335 keystore. Use it only
to leave the cluster for good (for example to move the validator to a single client): the whole key then
exists on this machine.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if lockPath == "" || out == "" || outPassword == "" || len(shareFiles) == 0 {
				return errors.New("--lock, --share, --share-password-file, --out and --out-password-file are required")
			}
			if len(sharePasswords) != 1 && len(sharePasswords) != len(shareFiles) {
				return fmt.Errorf("give one --share-password-file, or one per --share (%d)", len(shareFiles))
			}
			if _, err := os.Stat(out); err == nil {
				return fmt.Errorf("--out %s exists; refusing to overwrite a keystore", out)
			}
			lock, err := node.LoadLock(lockPath)
			if err != nil {
				return err
			}
			var shares []threshold.SecretShare
			defer func() {
				for _, s := range shares {
					s.Key.Zeroize()
				}
			}()
			var target *node.LockValidator
			for i, path := range shareFiles {
				pwPath := sharePasswords[0]
				if len(sharePasswords) > 1 {
					pwPath = sharePasswords[i]
				}
				pw, err := node.ReadPasswordFile(pwPath)
				if err != nil {
					return err
				}
				b, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				ks, err := keys.ParseKeystore(b)
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				idx, err := shareIndex(ks.Path)
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				sk, err := ks.Decrypt(pw)
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				shares = append(shares, threshold.SecretShare{Index: idx, Key: sk})
				spk := sk.PublicKey().Bytes()
				for vi := range lock.Validators {
					v := &lock.Validators[vi]
					if int(idx) <= len(v.SharePubkeys) && bytes.Equal(v.SharePubkeys[idx-1], spk) {
						if target != nil && !bytes.Equal(target.Pubkey, v.Pubkey) {
							return errors.New("the shares belong to different validators")
						}
						target = v
					}
				}
				if target == nil || int(idx) > len(target.SharePubkeys) || !bytes.Equal(target.SharePubkeys[idx-1], spk) {
					return fmt.Errorf("%s: share %d matches no validator in the lock", path, idx)
				}
			}
			if pubkey != "" && !strings.EqualFold(strings.TrimPrefix(pubkey, "0x"), hex.EncodeToString(target.Pubkey)) {
				return fmt.Errorf("the shares are of validator %s, not %s", target.Pubkey, pubkey)
			}
			sk, err := threshold.RecombineSecret(shares, lock.Threshold)
			if err != nil {
				return fmt.Errorf("combine needs --share keystores of %d different members (the lock's threshold): %w", lock.Threshold, err)
			}
			defer sk.Zeroize()
			if !bytes.Equal(sk.PublicKey().Bytes(), target.Pubkey) {
				return errors.New("the recombined key does not match the validator's public key")
			}
			pw, err := node.ReadPasswordFile(outPassword)
			if err != nil {
				return err
			}
			ks, err := keys.Encrypt(sk, pw)
			if err != nil {
				return err
			}
			b, err := ks.Marshal()
			if err != nil {
				return err
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			if _, err := f.Write(b); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote the whole key of validator %s to %s\n", target.Pubkey, out)
			return nil
		},
	}
	c.Flags().StringVar(&lockPath, "lock", "", "cluster lock file")
	c.Flags().StringVar(&pubkey, "pubkey", "", "validator public key (optional check)")
	c.Flags().StringSliceVar(&shareFiles, "share", nil, "share keystore (repeat t times)")
	c.Flags().StringSliceVar(&sharePasswords, "share-password-file", nil, "password file of the share keystores (one, or one per --share)")
	c.Flags().StringVar(&out, "out", "", "keystore to write")
	c.Flags().StringVar(&outPassword, "out-password-file", "", "password for the new keystore")
	return c
}

// shareIndex reads the share index from a share keystore's path field ("m/<index>").
func shareIndex(path string) (uint32, error) {
	s, ok := strings.CutPrefix(path, "m/")
	if !ok {
		return 0, fmt.Errorf("keystore path %q is not a share path like m/2", path)
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil || v == 0 || v > threshold.MaxShares {
		return 0, fmt.Errorf("keystore path %q does not name a share index 1..%d", path, threshold.MaxShares)
	}
	return uint32(v), nil
}
