package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/phalanx-eth/phalanx/cluster"
	"github.com/phalanx-eth/phalanx/node"
	"github.com/phalanx-eth/phalanx/threshold"
	"github.com/phalanx-eth/phalanx/threshold/keys"
)

func newClusterCmd(g *globalFlags) *cobra.Command {
	c := &cobra.Command{
		Use:   "cluster",
		Short: "Create and manage a cluster",
	}
	c.AddCommand(newClusterInitCmd(g))
	c.AddCommand(clusterAdminCommands(g)...)
	return c
}

// nodeFile is the per-node configuration file `phalanx cluster init` writes and `phalanx node --config`
// reads. Relative paths are relative to the file's directory.
type nodeFile struct {
	ID           string   `json:"id"`
	DataDir      string   `json:"data_dir"`
	IdentityFile string   `json:"identity_file"`
	LockFile     string   `json:"lock_file"`
	KeysDir      string   `json:"keys_dir"`
	PasswordFile string   `json:"password_file"`
	P2PListen    string   `json:"p2p_listen"`
	APIListen    string   `json:"api_listen,omitempty"`
	BeaconURLs   []string `json:"beacon_urls"`
	// APITokenFile holds the bearer token of the admin and Keymanager APIs (the same on every member, so a
	// request forwarded to the leader is accepted there).
	APITokenFile string `json:"api_token_file,omitempty"`
	// KeymanagerTokenFile holds the bearer token of the Keymanager API (for validator-client tooling).
	KeymanagerTokenFile string `json:"keymanager_token_file,omitempty"`
	// MemberAPIs maps each member's ID to the base URL of its API, for forwarding requests to the leader.
	MemberAPIs map[string]string `json:"member_apis,omitempty"`
	// SlotTime is the beacon chain's slot time ("12s"); raft timeouts derive from it.
	SlotTime string `json:"slot_time,omitempty"`
}

type clusterInitFlags struct {
	out          string
	name         string
	nodes        int
	threshold    int
	host         string
	p2pBasePort  int
	apiBasePort  int
	beaconURLs   []string
	interop      string
	keystores    []string
	ksPassword   string
	lightKDF     bool
	force        bool
	passwordFile string
	slotTime     time.Duration
}

func newClusterInitCmd(g *globalFlags) *cobra.Command {
	f := &clusterInitFlags{}
	c := &cobra.Command{
		Use:   "init",
		Short: "Create a ready-to-run cluster configuration: identities, lock file, share keystores, node configs",
		Long: `init creates, under --out, one directory per node (identity, share keystores, password file, node
config) and lock.json: the members' peer IDs and addresses and, for every validator, its group public key, the
public key of every share and the Feldman commitments. Validator keys come from EIP-2335 keystores (--keystore,
split here; the whole key never touches disk) or, for devnets, from interop keys (--interop-validators 0-31).

Each node directory is meant for one machine: copy node-i/ and lock.json there. No directory holds more than one
share of any key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runClusterInit(cmd, f) },
	}
	fl := c.Flags()
	fl.StringVar(&f.out, "out", "", "directory to create (required; must not exist unless --force)")
	fl.StringVar(&f.name, "name", "phalanx", "cluster name")
	fl.IntVar(&f.nodes, "nodes", 3, "number of nodes (3 or 5 usual; up to 16)")
	fl.IntVar(&f.threshold, "threshold", 0, "signing threshold (default: a majority, 2 of 3, 3 of 5)")
	fl.StringVar(&f.host, "host", "127.0.0.1", "IP address the nodes listen on (one per node with --hosts is not supported yet; edit node.json)")
	fl.IntVar(&f.p2pBasePort, "p2p-base-port", 9000, "node i listens for cluster traffic on this port + i - 1")
	fl.IntVar(&f.apiBasePort, "api-base-port", 5060, "node i serves its HTTP API on this port + i - 1 (0 disables)")
	fl.StringSliceVar(&f.beaconURLs, "beacon-url", []string{"http://127.0.0.1:5052"}, "beacon node URL(s), in order of preference")
	fl.StringVar(&f.interop, "interop-validators", "", "devnet only: split the interop keys of these validator indices, e.g. 0-31")
	fl.StringSliceVar(&f.keystores, "keystore", nil, "EIP-2335 keystore(s) of validators to split")
	fl.StringVar(&f.ksPassword, "keystore-password-file", "", "password file of the --keystore files")
	fl.StringVar(&f.passwordFile, "password-file", "", "password for the share keystores (default: a random password per node, written to node-i/password.txt)")
	fl.BoolVar(&f.lightKDF, "light-kdf", false, "devnet only: encrypt share keystores with a cheap scrypt cost so nodes start fast")
	fl.BoolVar(&f.force, "force", false, "write into --out even if it exists")
	fl.DurationVar(&f.slotTime, "slot-time", 12*time.Second, "the beacon chain's slot time (raft timeouts derive from it)")
	return c
}

func runClusterInit(cmd *cobra.Command, f *clusterInitFlags) error {
	if f.out == "" {
		return errors.New("--out is required")
	}
	if f.nodes < 1 || f.nodes > threshold.MaxShares {
		return fmt.Errorf("--nodes %d: must be between 1 and %d", f.nodes, threshold.MaxShares)
	}
	t := f.threshold
	if t == 0 {
		t = f.nodes/2 + 1
	}
	if t <= f.nodes/2 || t > f.nodes {
		return fmt.Errorf("--threshold %d: must be a majority of %d nodes (%d..%d)", t, f.nodes, f.nodes/2+1, f.nodes)
	}
	if f.interop == "" && len(f.keystores) == 0 {
		return errors.New("no validators: give --keystore files (with --keystore-password-file) or, for a devnet, --interop-validators")
	}
	if len(f.keystores) > 0 && f.ksPassword == "" {
		return errors.New("--keystore needs --keystore-password-file")
	}
	if _, err := os.Stat(f.out); err == nil && !f.force {
		return fmt.Errorf("--out %s already exists; choose another directory or pass --force", f.out)
	}

	// Gather the validator secret keys first, so that bad input changes nothing on disk.
	secrets, err := gatherSecrets(f)
	if err != nil {
		return err
	}
	defer func() {
		for _, sk := range secrets {
			sk.Zeroize()
		}
	}()

	lock := &node.Lock{Version: node.LockVersion, Name: f.name, Threshold: t}
	ids := make([]*cluster.Identity, f.nodes)
	for i := range ids {
		id, err := cluster.GenerateIdentity()
		if err != nil {
			return err
		}
		ids[i] = id
		addr := fmt.Sprintf("/ip4/%s/tcp/%d/p2p/%s", f.host, f.p2pBasePort+i, id.PeerID())
		lock.Members = append(lock.Members, node.LockMember{ID: memberName(i), PeerID: id.PeerID(), Address: addr})
	}

	passwords := make([]string, f.nodes)
	for i := range passwords {
		if f.passwordFile != "" {
			p, err := node.ReadPasswordFile(f.passwordFile)
			if err != nil {
				return err
			}
			passwords[i] = p
		} else {
			var b [24]byte
			if _, err := rand.Read(b[:]); err != nil {
				return err
			}
			passwords[i] = hex.EncodeToString(b[:])
		}
	}
	var ksOpts []keys.Option
	if f.lightKDF {
		ksOpts = append(ksOpts, keys.WithScryptN(1<<10))
	}

	type split struct {
		shares []threshold.SecretShare
		pk     []byte
	}
	var splits []split
	for _, sk := range secrets {
		shares, comms, err := threshold.Split(sk, t, f.nodes, rand.Reader)
		if err != nil {
			return fmt.Errorf("split key: %w", err)
		}
		lv, err := node.NewLockValidator(comms, f.nodes)
		if err != nil {
			return err
		}
		lock.Validators = append(lock.Validators, lv)
		splits = append(splits, split{shares: shares, pk: lv.Pubkey})
	}
	if err := lock.Validate(); err != nil {
		return err
	}

	var tok [32]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return err
	}
	token := hex.EncodeToString(tok[:])
	if _, err := rand.Read(tok[:]); err != nil {
		return err
	}
	kmToken := hex.EncodeToString(tok[:])
	memberAPIs := make(map[string]string)
	if f.apiBasePort > 0 {
		for i := 0; i < f.nodes; i++ {
			memberAPIs[memberName(i)] = fmt.Sprintf("http://%s:%d", f.host, f.apiBasePort+i)
		}
	}

	if err := os.MkdirAll(f.out, 0o700); err != nil {
		return err
	}
	if err := lock.Save(filepath.Join(f.out, "lock.json")); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(f.out, "api-token.txt"), []byte(token+"\n"), 0o600); err != nil {
		return err
	}
	for i := 0; i < f.nodes; i++ {
		dir := filepath.Join(f.out, memberName(i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		idPath := filepath.Join(dir, "identity.json")
		os.Remove(idPath)
		if err := cluster.SaveIdentity(idPath, ids[i]); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "password.txt"), []byte(passwords[i]+"\n"), 0o600); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "api-token.txt"), []byte(token+"\n"), 0o600); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "keymanager-token.txt"), []byte(kmToken+"\n"), 0o600); err != nil {
			return err
		}
		for _, s := range splits {
			if err := node.WriteShareKeystore(filepath.Join(dir, "keys"), s.pk, s.shares[i], passwords[i], ksOpts...); err != nil {
				return err
			}
		}
		nf := nodeFile{
			ID:                  memberName(i),
			DataDir:             "data",
			IdentityFile:        "identity.json",
			LockFile:            "../lock.json",
			KeysDir:             "keys",
			PasswordFile:        "password.txt",
			P2PListen:           fmt.Sprintf("/ip4/%s/tcp/%d", f.host, f.p2pBasePort+i),
			BeaconURLs:          f.beaconURLs,
			APITokenFile:        "api-token.txt",
			KeymanagerTokenFile: "keymanager-token.txt",
			MemberAPIs:          memberAPIs,
			SlotTime:            f.slotTime.String(),
		}
		if f.apiBasePort > 0 {
			nf.APIListen = fmt.Sprintf("%s:%d", f.host, f.apiBasePort+i)
		}
		b, _ := json.MarshalIndent(nf, "", "  ")
		if err := os.WriteFile(filepath.Join(dir, "node.json"), append(b, '\n'), 0o600); err != nil {
			return err
		}
	}
	for _, s := range splits {
		for i := range s.shares {
			s.shares[i].Key.Zeroize()
		}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "created a %d-of-%d cluster with %d validators in %s\n", t, f.nodes, len(secrets), f.out)
	for i, m := range lock.Members {
		fmt.Fprintf(cmd.OutOrStdout(), "  %s  %s  (phalanx node --config %s)\n", m.ID, m.Address, filepath.Join(f.out, memberName(i), "node.json"))
	}
	return nil
}

func memberName(i int) string { return fmt.Sprintf("node-%d", i+1) }

// gatherSecrets loads or derives every validator key the init splits.
func gatherSecrets(f *clusterInitFlags) ([]*threshold.SecretKey, error) {
	var out []*threshold.SecretKey
	fail := func(err error) ([]*threshold.SecretKey, error) {
		for _, sk := range out {
			sk.Zeroize()
		}
		return nil, err
	}
	if f.interop != "" {
		lo, hi, err := parseRange(f.interop)
		if err != nil {
			return fail(fmt.Errorf("--interop-validators: %w", err))
		}
		for i := lo; i <= hi; i++ {
			sk, err := keys.InteropSecretKey(i)
			if err != nil {
				return fail(err)
			}
			out = append(out, sk)
		}
	}
	if len(f.keystores) > 0 {
		pw, err := node.ReadPasswordFile(f.ksPassword)
		if err != nil {
			return fail(err)
		}
		for _, path := range f.keystores {
			sk, err := decryptKeystoreFile(path, pw)
			if err != nil {
				return fail(err)
			}
			out = append(out, sk)
		}
	}
	seen := make(map[string]bool)
	for _, sk := range out {
		k := string(sk.PublicKey().Bytes())
		if seen[k] {
			return fail(fmt.Errorf("validator %s appears twice", sk.PublicKey()))
		}
		seen[k] = true
	}
	return out, nil
}

func decryptKeystoreFile(path, password string) (*threshold.SecretKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	ks, err := keys.ParseKeystore(b)
	if err != nil {
		return nil, fmt.Errorf("keystore %s: %w", path, err)
	}
	sk, err := ks.Decrypt(password)
	if err != nil {
		return nil, fmt.Errorf("keystore %s: %w", path, err)
	}
	return sk, nil
}

// parseRange parses "a-b" or "a" (inclusive).
func parseRange(s string) (uint64, uint64, error) {
	lo, hi, found := strings.Cut(s, "-")
	a, err := strconv.ParseUint(strings.TrimSpace(lo), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("%q is not a validator index or range like 0-31", s)
	}
	b := a
	if found {
		if b, err = strconv.ParseUint(strings.TrimSpace(hi), 10, 64); err != nil {
			return 0, 0, fmt.Errorf("%q is not a validator index or range like 0-31", s)
		}
	}
	if b < a || b-a >= 1<<16 {
		return 0, 0, fmt.Errorf("range %q is empty or too large", s)
	}
	return a, b, nil
}
