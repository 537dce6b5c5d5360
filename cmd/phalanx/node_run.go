package main

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/phalanx-eth/phalanx/node"
)

// runNode runs the node until the command's context ends.
func runNode(cmd *cobra.Command, n *node.Node, nf *nodeFile, base string, log *slog.Logger) error {
	return n.Run(cmd.Context())
}
