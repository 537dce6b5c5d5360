package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/phalanx-eth/phalanx/node"
	"github.com/phalanx-eth/phalanx/node/devnet"
)

// newWatchCmd prints a live, per-slot view of a cluster running on the embedded devnet.
func newWatchCmd(g *globalFlags) *cobra.Command {
	var devnetURL, tokenFile string
	var apis []string
	var lag uint64
	c := &cobra.Command{
		Use:   "watch",
		Short: "Print a live per-slot view of a cluster on the embedded devnet",
		Long: `watch polls the devnet's status and the nodes' APIs and prints one line per slot, once the slot's
attestations have had time to be included: the leader, the cluster's attestations signed (by the leader's
scheduler), accepted by the beacon node (every signature verified with the real domains) and included in a block,
the block of the slot, and the justified and finalized epochs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			token := ""
			if tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return err
				}
				token = strings.TrimSpace(string(b))
			}
			w := &watcher{devnet: strings.TrimRight(devnetURL, "/"), apis: apis, token: token, out: cmd.OutOrStdout(),
				client: &http.Client{Timeout: 2 * time.Second}, lag: lag}
			return w.run(cmd.Context())
		},
	}
	c.Flags().StringVar(&devnetURL, "devnet", "http://127.0.0.1:5052", "devnet URL")
	c.Flags().StringSliceVar(&apis, "api", []string{"http://127.0.0.1:5060", "http://127.0.0.1:5061", "http://127.0.0.1:5062"}, "node API URLs")
	c.Flags().StringVar(&tokenFile, "token-file", "", "admin API token file")
	c.Flags().Uint64Var(&lag, "lag", 2, "print a slot this many slots after it starts (inclusion happens in later blocks)")
	return c
}

type watcher struct {
	devnet string
	apis   []string
	token  string
	out    io.Writer
	client *http.Client
	lag    uint64

	printed       uint64
	started       bool
	slotsPerEpoch uint64
	signed        map[uint64]int // slot → attestations the leader's scheduler signed and verified
}

func (w *watcher) get(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if w.token != "" {
		req.Header.Set("Authorization", "Bearer "+w.token)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(v)
}

// nodeView asks each node for its status; the leader's report has the duties it signed.
func (w *watcher) nodeView(ctx context.Context) (leader string, up int) {
	for _, a := range w.apis {
		var st node.Status
		if err := w.get(ctx, strings.TrimRight(a, "/")+"/v1/node/status", &st); err != nil {
			continue
		}
		up++
		if st.Leader {
			leader = st.ID
			for _, r := range st.Slots {
				if d := r.Duties["attestation"]; d != nil {
					w.signed[r.Slot] = d.Verified
				}
			}
		} else if leader == "" && st.LeaderID != "" {
			leader = st.LeaderID
		}
	}
	return leader, up
}

func (w *watcher) run(ctx context.Context) error {
	w.signed = make(map[uint64]int)
	fmt.Fprintf(w.out, "%-6s %-5s %-7s %-24s %-26s %-9s %-9s\n", "slot", "epoch", "leader", "block", "cluster attestations", "justified", "finalized")
	fmt.Fprintf(w.out, "%-6s %-5s %-7s %-24s %-26s %-9s %-9s\n", "", "", "", "", "signed/accepted/included", "", "")
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	misses := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		var resp struct {
			Data devnet.Stats `json:"data"`
		}
		if err := w.get(ctx, w.devnet+"/phalanx/devnet/v1/status", &resp); err != nil {
			if misses++; misses == 20 {
				return fmt.Errorf("devnet at %s not reachable: %w", w.devnet, err)
			}
			continue
		}
		misses = 0
		if w.slotsPerEpoch == 0 {
			// The devnet may have started after this command: read its SLOTS_PER_EPOCH once it answers.
			var spec struct {
				Data map[string]string `json:"data"`
			}
			if err := w.get(ctx, w.devnet+"/eth/v1/config/spec", &spec); err != nil {
				continue
			}
			v, err := strconv.ParseUint(spec.Data["SLOTS_PER_EPOCH"], 10, 64)
			if err != nil || v == 0 {
				return fmt.Errorf("devnet at %s serves no SLOTS_PER_EPOCH", w.devnet)
			}
			w.slotsPerEpoch = v
		}
		st := resp.Data
		leader, up := w.nodeView(ctx)
		if st.Slot < w.lag {
			continue
		}
		upto := st.Slot - w.lag
		if !w.started {
			w.printed, w.started = upto, true
			if upto > 0 {
				w.printed = upto - 1
			}
		}
		for s := w.printed + 1; s <= upto; s++ {
			w.printSlot(st, s, leader, up)
			w.printed = s
		}
	}
}

func (w *watcher) printSlot(st devnet.Stats, slot uint64, leader string, up int) {
	var ss *devnet.SlotStats
	for i := range st.Slots {
		if st.Slots[i].Slot == slot {
			ss = &st.Slots[i]
		}
	}
	if ss == nil {
		return
	}
	spe := w.slotsPerEpoch
	block := ss.Block
	if ss.ProposerIsCluster {
		block = fmt.Sprintf("%s by cluster v%d", ss.Block, ss.Proposer)
	} else if ss.Block != "" {
		block = fmt.Sprintf("%s by devnet v%d", ss.Block, ss.Proposer)
	}
	if leader == "" {
		leader = "-"
	}
	atts := "-"
	if ss.ClusterAttesters > 0 {
		signed := "?"
		if n, ok := w.signed[slot]; ok {
			signed = fmt.Sprint(n)
		}
		atts = fmt.Sprintf("%s/%d/%d of %d", signed, ss.ClusterAttestationsReceived, ss.ClusterAttestationsIncluded, ss.ClusterAttesters)
	}
	note := ""
	if up < len(w.apis) {
		note = fmt.Sprintf("  (%d of %d nodes answering)", up, len(w.apis))
	}
	if ss.Rejected > 0 {
		note += fmt.Sprintf("  %d rejected", ss.Rejected)
	}
	fmt.Fprintf(w.out, "%-6d %-5d %-7s %-24s %-26s %-9d %-9d%s\n", slot, slot/spe, leader, block, atts, st.JustifiedEpoch, st.FinalizedEpoch, note)
}
