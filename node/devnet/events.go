package devnet

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// event is one server-sent event: its topic and JSON data.
type event struct {
	topic string
	data  []byte
}

// servedTopics are the event topics the devnet emits.
var servedTopics = []string{"head", "block", "finalized_checkpoint", "chain_reorg", "attestation",
	"single_attestation", "voluntary_exit", "contribution_and_proof", "block_gossip", "payload_attributes",
	"blob_sidecar", "attester_slashing", "proposer_slashing", "bls_to_execution_change"}

// broker fans events out to the open streams.
type broker struct {
	mu     sync.Mutex
	subs   map[chan event]map[string]bool
	closed bool
}

func newBroker() *broker { return &broker{subs: make(map[chan event]map[string]bool)} }

// subscribe opens a stream for topics; the channel closes when the broker does.
func (b *broker) subscribe(topics []string) (chan event, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, false
	}
	ch := make(chan event, 64)
	set := make(map[string]bool, len(topics))
	for _, t := range topics {
		set[t] = true
	}
	b.subs[ch] = set
	return ch, true
}

// unsubscribe closes a stream.
func (b *broker) unsubscribe(ch chan event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[ch]; ok {
		delete(b.subs, ch)
		close(ch)
	}
}

// publish sends events to the streams that asked for their topics; a
// stream too slow to keep up loses events rather than stalling the chain.
func (b *broker) publish(evs ...event) {
	if len(evs) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch, topics := range b.subs {
		for _, e := range evs {
			if !topics[e.topic] {
				continue
			}
			select {
			case ch <- e:
			default:
			}
		}
	}
}

// close ends every stream.
func (b *broker) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for ch := range b.subs {
		close(ch)
	}
	clear(b.subs)
}

// mustJSON marshals v, which is a go-eth2-client type whose marshalling
// cannot fail for well-formed values.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte("{}")
	}
	return b
}

// headEvent is the head event for a new head block.
func (d *Devnet) headEvent(b *blockRecord) event {
	epoch := d.spec.EpochAtSlot(b.slot)
	prev := uint64(0)
	if epoch > 0 {
		prev = epoch - 1
	}
	return event{topic: "head", data: mustJSON(&apiv1.HeadEvent{
		Slot:                      phase0.Slot(b.slot),
		Block:                     phase0.Root(b.root),
		State:                     phase0.Root(b.stateRoot),
		EpochTransition:           b.slot%d.spec.SlotsPerEpoch == 0,
		CurrentDutyDependentRoot:  phase0.Root(d.dependentRoot(epoch)),
		PreviousDutyDependentRoot: phase0.Root(d.dependentRoot(prev)),
	})}
}

// blockEvent is the block event for an imported block.
func (d *Devnet) blockEvent(b *blockRecord) event {
	return event{topic: "block", data: mustJSON(&apiv1.BlockEvent{Slot: phase0.Slot(b.slot), Block: phase0.Root(b.root)})}
}

// finalizedEvent is the finalized_checkpoint event for the state st.
func (d *Devnet) finalizedEvent(st *slotRecord) event {
	fin := st.finalized
	stateRoot := d.c.blocks[eth32(fin.Root)]
	var sr phase0.Root
	if stateRoot != nil {
		sr = phase0.Root(stateRoot.stateRoot)
	}
	return event{topic: "finalized_checkpoint", data: mustJSON(&apiv1.FinalizedCheckpointEvent{
		Block: fin.Root, State: sr, Epoch: fin.Epoch,
	})}
}

// handleEvents serves GET /eth/v1/events as a server-sent event stream.
func (d *Devnet) handleEvents(w http.ResponseWriter, r *http.Request) {
	topics := r.URL.Query()["topics"]
	var all []string
	for _, t := range topics {
		for _, one := range splitComma(t) {
			if !slices.Contains(servedTopics, one) {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid topic: %s", one))
				return
			}
			all = append(all, one)
		}
	}
	if len(all) == 0 {
		writeError(w, http.StatusBadRequest, "Missing topics")
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	ch, ok := d.events.subscribe(all)
	if !ok {
		writeError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	defer d.events.unsubscribe(ch)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Connection", "keep-alive")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	keepalive := time.NewTicker(10 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case e, open := <-ch:
			if !open {
				return
			}
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.topic, e.data); err != nil {
				return
			}
			flusher.Flush()
		case <-keepalive.C:
			if _, err := fmt.Fprint(w, ":\n\n"); err != nil {
				return
			}
			flusher.Flush()
		}
	}
}
