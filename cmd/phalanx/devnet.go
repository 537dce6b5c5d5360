package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/phalanx-eth/phalanx/node/devnet"
)

func newDevnetCmd(g *globalFlags) *cobra.Command {
	cfg := devnet.DefaultConfig()
	var cluster string
	var genesisDelay time.Duration
	c := &cobra.Command{
		Use:   "devnet",
		Short: "Run the embedded devnet: a local beacon chain serving the standard Beacon API on loopback",
		Long: `devnet runs an in-process beacon chain with interop validators (key of validator i derived from i). The
validators named by --cluster-validators are left to a phalanx cluster; the devnet's own signer performs the
duties of all the others, so finality needs both. Every signature submitted to it is verified with the real
domains. GET /phalanx/devnet/v1/status reports the chain and the cluster's inclusion per slot.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if cluster != "" {
				lo, hi, err := parseRange(cluster)
				if err != nil {
					return fmt.Errorf("--cluster-validators: %w", err)
				}
				cfg.ClusterValidators = nil
				for i := lo; i <= hi; i++ {
					cfg.ClusterValidators = append(cfg.ClusterValidators, i)
				}
			}
			if genesisDelay > 0 {
				cfg.GenesisTime = time.Now().Add(genesisDelay).Truncate(time.Second)
			}
			cfg.Logger = log
			if err := cfg.Validate(); err != nil {
				return err
			}
			d, err := devnet.New(cfg)
			if err != nil {
				return err
			}
			if err := d.Start(); err != nil {
				return err
			}
			defer d.Close()
			log.Info("devnet serving the Beacon API", "url", d.URL(), "validators", cfg.NumValidators,
				"cluster_validators", len(cfg.ClusterValidators), "slot_duration", cfg.SlotDuration, "genesis", d.GenesisTime())
			<-cmd.Context().Done()
			return nil
		},
	}
	fl := c.Flags()
	fl.IntVar(&cfg.NumValidators, "validators", cfg.NumValidators, "number of interop validators at genesis")
	fl.StringVar(&cluster, "cluster-validators", "", "validator indices the cluster runs, e.g. 0-31 (the devnet signs the rest)")
	fl.DurationVar(&cfg.SlotDuration, "slot-time", cfg.SlotDuration, "slot duration")
	fl.StringVar(&cfg.ListenAddr, "listen", "127.0.0.1:5052", "address to serve the Beacon API on (loopback)")
	fl.StringVar(&cfg.Fork, "fork", cfg.Fork, "fork active from genesis")
	fl.DurationVar(&genesisDelay, "genesis-delay", 0, "genesis this long after start (default: the devnet's own default)")
	return c
}
