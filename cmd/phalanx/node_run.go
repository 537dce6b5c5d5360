package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/phalanx-eth/phalanx/api"
	"github.com/phalanx-eth/phalanx/node"
)

// newRegistry is the process's Prometheus registry, with the Go runtime and process collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// runNode runs the node and, when the config names an API address, its HTTP API, until the command's
// context ends. The node stops first, then the API.
func runNode(cmd *cobra.Command, n *node.Node, nf *nodeFile, base string, reg *prometheus.Registry, log *slog.Logger) error {
	ctx := cmd.Context()
	if nf.APIListen == "" {
		return n.Run(ctx)
	}
	readToken := func(path string) (string, error) {
		if path == "" {
			return "", nil
		}
		b, err := os.ReadFile(resolve(base, path))
		if err != nil {
			return "", fmt.Errorf("api token: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	token, err := readToken(nf.APITokenFile)
	if err != nil {
		return err
	}
	if token == "" {
		return errors.New("api_listen is set but no api_token_file: the admin API needs a token")
	}
	kmToken, err := readToken(nf.KeymanagerTokenFile)
	if err != nil {
		return err
	}
	acfg := api.DefaultConfig()
	acfg.Listen = nf.APIListen
	acfg.AdminToken = token
	acfg.KeymanagerToken = kmToken
	acfg.UpstreamBeaconURLs = nf.BeaconURLs
	acfg.MemberAPIs = nf.MemberAPIs
	acfg.Version = "phalanx/" + version
	acfg.Logger = log
	acfg.Registry = reg
	srv, err := api.New(acfg, api.Deps{
		Cluster:    n.Cluster(),
		State:      n.Cluster().Machine(),
		NodeStatus: func() any { return n.Status() },
	})
	if err != nil {
		return err
	}
	apiCtx, stopAPI := context.WithCancel(context.WithoutCancel(ctx))
	apiDone := make(chan error, 1)
	go func() { apiDone <- srv.Run(apiCtx) }()
	log.Info("API serving", "listen", nf.APIListen)

	runErr := n.Run(ctx)
	stopAPI()
	apiErr := <-apiDone
	if runErr != nil {
		return runErr
	}
	if apiErr != nil && !errors.Is(apiErr, context.Canceled) {
		return fmt.Errorf("api: %w", apiErr)
	}
	return nil
}
