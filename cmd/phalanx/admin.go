package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/phalanx-eth/phalanx/api"
)

// apiFlags are the flags of every verb that talks to a node's admin API.
type apiFlags struct {
	url       string
	tokenFile string
	timeout   time.Duration
}

func (f *apiFlags) register(c *cobra.Command) {
	c.PersistentFlags().StringVar(&f.url, "api", "http://127.0.0.1:5060", "base URL of a node's API (any member; followers forward to the leader)")
	c.PersistentFlags().StringVar(&f.tokenFile, "token-file", "", "file holding the admin token (default: $PHALANX_ADMIN_TOKEN)")
	c.PersistentFlags().DurationVar(&f.timeout, "timeout", time.Minute, "how long to wait for the node")
}

func (f *apiFlags) client() (*api.Client, error) {
	token := os.Getenv("PHALANX_ADMIN_TOKEN")
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		return nil, errors.New("no admin token: pass --token-file or set PHALANX_ADMIN_TOKEN")
	}
	return &api.Client{BaseURL: f.url, Token: token}, nil
}

func (f *apiFlags) ctx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	parent := cmd.Context()
	if parent == nil {
		parent = context.Background()
	}
	return context.WithTimeout(parent, f.timeout)
}

// adminVerb builds a command whose RunE gets a ready client and context.
func adminVerb(f *apiFlags, use, short string, args cobra.PositionalArgs, run func(ctx context.Context, cl *api.Client, cmd *cobra.Command, args []string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  args,
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, err := f.client()
			if err != nil {
				return err
			}
			ctx, cancel := f.ctx(cmd)
			defer cancel()
			return run(ctx, cl, cmd, a)
		},
	}
}

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// clusterAdminCommands are the `phalanx cluster` verbs that talk to a node's admin API.
func clusterAdminCommands(g *globalFlags) []*cobra.Command {
	f := &apiFlags{}
	cmds := []*cobra.Command{
		adminVerb(f, "status", "Show this node's view of the cluster", cobra.NoArgs, runStatus),
		adminVerb(f, "peers", "List the members of the cluster", cobra.NoArgs, runPeers),
		adminVerb(f, "add-voter <id> <multiaddr>", "Add a voting member (leader only; followers forward)", cobra.ExactArgs(2),
			func(ctx context.Context, cl *api.Client, cmd *cobra.Command, a []string) error {
				return printOK(cmd)(cl.AddVoter(ctx, a[0], a[1]))
			}),
		adminVerb(f, "add-nonvoter <id> <multiaddr>", "Add a non-voting member", cobra.ExactArgs(2),
			func(ctx context.Context, cl *api.Client, cmd *cobra.Command, a []string) error {
				return printOK(cmd)(cl.AddNonvoter(ctx, a[0], a[1]))
			}),
		adminVerb(f, "remove <id>", "Remove a member", cobra.ExactArgs(1),
			func(ctx context.Context, cl *api.Client, cmd *cobra.Command, a []string) error {
				return printOK(cmd)(cl.Remove(ctx, a[0]))
			}),
		adminVerb(f, "transfer-leader [id]", "Hand leadership to a member (the most up-to-date one when no id is given)", cobra.MaximumNArgs(1),
			func(ctx context.Context, cl *api.Client, cmd *cobra.Command, a []string) error {
				id := ""
				if len(a) == 1 {
					id = a[0]
				}
				return printOK(cmd)(cl.TransferLeader(ctx, id))
			}),
		adminVerb(f, "why <slot> <validator>", "Explain what the cluster decided for a validator's duties at a slot (validator: 0x pubkey or index)", cobra.ExactArgs(2), runWhy),
	}
	snap := &cobra.Command{Use: "snapshot", Short: "Save or restore a snapshot of the replicated state"}
	snap.AddCommand(
		adminVerb(f, "save <file>", "Write a snapshot of the node's state to a file", cobra.ExactArgs(1), runSnapshotSave),
		adminVerb(f, "restore <file>", "Replace the whole cluster's state with a snapshot file", cobra.ExactArgs(1),
			func(ctx context.Context, cl *api.Client, cmd *cobra.Command, a []string) error {
				fh, err := os.Open(a[0])
				if err != nil {
					return fmt.Errorf("snapshot restore: %w", err)
				}
				defer fh.Close()
				return printOK(cmd)(cl.SnapshotRestore(ctx, fh))
			}),
	)
	cmds = append(cmds, snap)
	for _, c := range cmds {
		f.register(c)
	}
	return cmds
}

// extraCommands are further top-level commands backed by a node's HTTP API.
func extraCommands(g *globalFlags) []*cobra.Command {
	f := &apiFlags{}
	var pubkeys []string
	var complete bool
	var out string
	export := adminVerb(f, "export", "Write the EIP-3076 slashing-protection interchange of the cluster's validators", cobra.NoArgs,
		func(ctx context.Context, cl *api.Client, cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			var fh *os.File
			if out != "" && out != "-" {
				var err error
				if fh, err = os.OpenFile(out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err != nil {
					return fmt.Errorf("slashing export: %w", err)
				}
				w = fh
			}
			err := cl.SlashingExport(ctx, w, pubkeys, complete)
			if fh != nil {
				if cerr := fh.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					os.Remove(out)
				}
			}
			if err != nil {
				return fmt.Errorf("slashing export: %w", err)
			}
			return nil
		})
	export.Flags().StringSliceVar(&pubkeys, "pubkey", nil, "only these validators (0x public keys; default all)")
	export.Flags().BoolVar(&complete, "complete", false, "complete format (every record) instead of minimal")
	export.Flags().StringVar(&out, "out", "-", "file to create (- for stdout)")
	imp := adminVerb(f, "import <file>", "Import an EIP-3076 slashing-protection interchange through the log", cobra.ExactArgs(1),
		func(ctx context.Context, cl *api.Client, cmd *cobra.Command, a []string) error {
			fh, err := os.Open(a[0])
			if err != nil {
				return fmt.Errorf("slashing import: %w", err)
			}
			defer fh.Close()
			return printOK(cmd)(cl.SlashingImport(ctx, fh))
		})
	s := &cobra.Command{Use: "slashing", Short: "Export and import slashing protection (EIP-3076)"}
	f.register(s)
	s.AddCommand(export, imp)
	return []*cobra.Command{s}
}

func printOK(cmd *cobra.Command) func(api.OKResponse, error) error {
	return func(r api.OKResponse, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", cmd.CommandPath(), err)
		}
		msg := r.Message
		if msg == "" {
			msg = "done"
		}
		if r.LogIndex > 0 {
			msg += fmt.Sprintf(" (log index %d)", r.LogIndex)
		}
		fmt.Fprintln(cmd.OutOrStdout(), msg)
		return nil
	}
}

func runStatus(ctx context.Context, cl *api.Client, cmd *cobra.Command, _ []string) error {
	st, err := cl.Status(ctx)
	if err != nil {
		return fmt.Errorf("cluster status: %w", err)
	}
	w := table(cmd.OutOrStdout())
	leader := st.LeaderID
	if leader == "" {
		leader = "(none known)"
	}
	fmt.Fprintf(w, "Node\t%s\n", st.ID)
	fmt.Fprintf(w, "Peer ID\t%s\n", st.PeerID)
	fmt.Fprintf(w, "State\t%s\n", st.State)
	fmt.Fprintf(w, "Leader\t%s\n", leader)
	fmt.Fprintf(w, "Term\t%d\n", st.Term)
	fmt.Fprintf(w, "Last index\t%d\n", st.LastIndex)
	fmt.Fprintf(w, "Commit index\t%d\n", st.CommitIndex)
	fmt.Fprintf(w, "Applied index\t%d\n", st.AppliedIndex)
	if st.SigningError != "" {
		fmt.Fprintf(w, "Signing\tDISABLED: %s\n", st.SigningError)
	} else {
		fmt.Fprintf(w, "Signing\tenabled\n")
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout())
	return printMembers(cmd.OutOrStdout(), st.LeaderID, st.Members)
}

func runPeers(ctx context.Context, cl *api.Client, cmd *cobra.Command, _ []string) error {
	p, err := cl.Peers(ctx)
	if err != nil {
		return fmt.Errorf("cluster peers: %w", err)
	}
	return printMembers(cmd.OutOrStdout(), p.Leader, p.Members)
}

func printMembers(out io.Writer, leader string, members []clusterMember) error {
	w := table(out)
	fmt.Fprintln(w, "Node\tAddress\tState\tVoter\tReadiness")
	for _, m := range members {
		state := "follower"
		if m.ID == leader {
			state = "leader"
		}
		ready := m.Readiness
		if ready == "" {
			ready = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%t\t%s\n", m.ID, m.Address, state, m.Voter, ready)
	}
	return w.Flush()
}

func runWhy(ctx context.Context, cl *api.Client, cmd *cobra.Command, a []string) error {
	slot, err := strconv.ParseUint(a[0], 10, 64)
	if err != nil {
		return fmt.Errorf("cluster why: slot %q is not a slot number", a[0])
	}
	r, err := cl.Why(ctx, slot, a[1])
	if err != nil {
		return fmt.Errorf("cluster why: %w", err)
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "Validator %s at slot %d: %s\n", r.Pubkey, r.Slot, r.Explanation)
	if len(r.Records) == 0 {
		return nil
	}
	fmt.Fprintln(out)
	w := table(out)
	fmt.Fprintln(w, "Log index\tKind\tSlot\tEpoch\tValidator index\tVerdict\tReason\tSigning root")
	for _, rec := range r.Records {
		reason := rec.Reason
		if reason == "" {
			reason = "-"
		}
		fmt.Fprintf(w, "%d\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", rec.LogIndex, rec.Kind, rec.Slot, rec.Epoch, rec.ValidatorIndex, rec.Verdict, reason, rec.SigningRoot)
	}
	return w.Flush()
}

func runSnapshotSave(ctx context.Context, cl *api.Client, cmd *cobra.Command, a []string) error {
	path := a[0]
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("snapshot save: %w", err)
	}
	n, err := cl.SnapshotSave(ctx, fh)
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("snapshot save: %w", err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "saved a %d-byte snapshot to %s\n", n, path)
	return nil
}
