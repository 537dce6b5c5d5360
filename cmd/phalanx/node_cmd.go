package main

import (
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/phalanx-eth/phalanx/node"
)

func newNodeCmd(g *globalFlags) *cobra.Command {
	var configPath, graffiti, feeRecipient string
	var beaconURLs []string
	var noDoppelganger bool
	var handoverAfter time.Duration
	var slot, clockSkew time.Duration
	c := &cobra.Command{
		Use:   "node",
		Short: "Run a phalanx node: a cluster member that signs its validators' duties with its key shares",
		Long: `node runs one member of a phalanx cluster from a node config file written by 'phalanx cluster init'.
It joins the cluster over libp2p (only the lock file's members may connect), follows its beacon node(s), and,
while it leads, schedules the validators' duties; every node signs its shares as it appends duty entries to
the replicated log.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			nf, base, err := loadNodeFile(configPath)
			if err != nil {
				return err
			}
			cfg := node.DefaultConfig()
			cfg.ID = nf.ID
			cfg.DataDir = resolve(base, nf.DataDir)
			cfg.IdentityFile = resolve(base, nf.IdentityFile)
			cfg.LockFile = resolve(base, nf.LockFile)
			cfg.KeysDir = resolve(base, nf.KeysDir)
			cfg.PasswordFile = resolve(base, nf.PasswordFile)
			cfg.ListenAddr = nf.P2PListen
			cfg.BeaconURLs = nf.BeaconURLs
			if len(beaconURLs) > 0 {
				cfg.BeaconURLs = beaconURLs
			}
			if nf.SlotTime != "" {
				d, err := time.ParseDuration(nf.SlotTime)
				if err != nil {
					return fmt.Errorf("node config slot_time %q: %w", nf.SlotTime, err)
				}
				cfg.SlotDuration = d
			}
			if slot > 0 {
				cfg.SlotDuration = slot
			}
			cfg.Graffiti = graffiti
			cfg.DoppelgangerCheck = !noDoppelganger
			cfg.HandoverAfter = handoverAfter
			if feeRecipient != "" {
				b, err := hex.DecodeString(strings.TrimPrefix(feeRecipient, "0x"))
				if err != nil || len(b) != 20 {
					return fmt.Errorf("--fee-recipient %q: want a 20-byte 0x-hex address", feeRecipient)
				}
				copy(cfg.FeeRecipient[:], b)
			}
			applyClockSkew(&cfg, clockSkew)
			cfg.Logger = log
			cfg.OnFatal = func(err error) {
				log.Error("phalanx node stops: restart it once its data directory is writable again", "err", err)
				os.Exit(1)
			}
			reg := newRegistry()
			cfg.Registry = reg
			n, err := node.New(cfg)
			if err != nil {
				return err
			}
			return runNode(cmd, n, nf, base, reg, log)
		},
	}
	fl := c.Flags()
	fl.StringVar(&configPath, "config", "", "node config file (node.json from 'phalanx cluster init')")
	fl.StringSliceVar(&beaconURLs, "beacon-url", nil, "beacon node URL(s), overriding the config file")
	fl.StringVar(&graffiti, "graffiti", "phalanx", "graffiti for proposed blocks (at most 32 bytes)")
	fl.StringVar(&feeRecipient, "fee-recipient", "", "execution-layer fee recipient for proposals and builder registrations")
	fl.BoolVar(&noDoppelganger, "no-doppelganger-check", false, "skip the liveness check for doppelgangers before the first duty (not recommended)")
	fl.DurationVar(&handoverAfter, "handover-after", 0, "hand leadership to a voter with a usable beacon node once this node's has been unusable this long (default half a slot; negative disables)")
	fl.DurationVar(&slot, "slot-time", 0, "beacon chain slot time, from which raft timeouts derive (default 12s)")
	addClockSkewFlag(c, &clockSkew)
	return c
}
