package main

import "github.com/spf13/cobra"

// clusterAdminCommands are the `phalanx cluster` verbs that talk to a node's admin API.
func clusterAdminCommands(g *globalFlags) []*cobra.Command { return nil }

// extraCommands are further top-level commands backed by a node's HTTP API.
func extraCommands(g *globalFlags) []*cobra.Command { return nil }
