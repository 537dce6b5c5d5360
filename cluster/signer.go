package cluster

import (
	"fmt"
	"log/slog"
	"runtime"
	"sync"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/phalanx-eth/phalanx/fsm"
	"github.com/phalanx-eth/phalanx/fsm/slashing"
	"github.com/phalanx-eth/phalanx/threshold"
)

// KeyRing gives a node's secret share of a validator key, by the validator's group public key.
type KeyRing interface {
	Share(groupPubkey [48]byte) (*threshold.SecretShare, bool)
}

// MapKeyRing is a KeyRing held in memory.
type MapKeyRing map[[48]byte]*threshold.SecretShare

// Share implements KeyRing.
func (m MapKeyRing) Share(pk [48]byte) (*threshold.SecretShare, bool) {
	s, ok := m[pk]
	return s, ok
}

// Signer turns duty entries into this node's signature shares. It runs on every node: on followers for each
// entry raft has durably appended, on the leader for the entries it proposes, and on either when the leader
// asks again for the shares of committed entries. For every item it requires (1) that the state machine,
// as committed so far, approves it, and (2) that this node's signed-by-me record approves it; the record is
// fsynced before any share is returned.
type Signer struct {
	machine *fsm.Machine
	keys    KeyRing
	record  *SignedByMe
	log     *slog.Logger

	// mu serialises signing so that the signed-by-me record sees entries in log order.
	mu sync.Mutex
}

// NewSigner builds a signer.
func NewSigner(machine *fsm.Machine, keys KeyRing, record *SignedByMe, log *slog.Logger) *Signer {
	if log == nil {
		log = slog.Default()
	}
	return &Signer{machine: machine, keys: keys, record: record, log: log}
}

// SignEntry checks, records and signs the duty entry found at log index (0 when the leader signs before
// proposing). Entries that are not duties yield nothing. An error means the signed-by-me record failed: no
// share may be released and the node should stop signing.
func (s *Signer) SignEntry(index uint64, data []byte) ([]Share, []Refusal, error) {
	entry, err := fsm.Decode(data)
	if err != nil {
		// raft only replicates what a leader encoded; an undecodable entry is refused, never signed.
		return nil, []Refusal{{Index: index, Item: 0, Reason: "undecodable entry: " + err.Error()}}, nil
	}
	duty, ok := entry.(*fsm.Duty)
	if !ok {
		return nil, nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	res := s.machine.Check(data)
	var refusals []Refusal
	if res.Status != fsm.StatusApplied {
		for i := range duty.Items {
			refusals = append(refusals, Refusal{Index: index, Item: uint16(i), Reason: "state machine rejects entry: " + res.Reason})
		}
		return nil, refusals, nil
	}
	if len(res.Items) != len(duty.Items) {
		return nil, nil, fmt.Errorf("state machine returned %d item results for %d items", len(res.Items), len(duty.Items))
	}

	slashable, err := slashableFields(duty)
	if err != nil {
		for i := range duty.Items {
			refusals = append(refusals, Refusal{Index: index, Item: uint16(i), Reason: err.Error()})
		}
		return nil, refusals, nil
	}

	type candidate struct {
		item  int
		share *threshold.SecretShare
	}
	var cands []candidate
	var reqs []SignRequest
	var reqItem []int
	for i, it := range res.Items {
		if !it.Verdict.Approved {
			refusals = append(refusals, Refusal{Index: index, Item: uint16(i), Reason: "state machine: " + verdictText(it.Verdict)})
			continue
		}
		share, ok := s.keys.Share(it.Pubkey)
		if !ok {
			refusals = append(refusals, Refusal{Index: index, Item: uint16(i), Reason: "no key share for this validator on this node"})
			continue
		}
		cands = append(cands, candidate{item: i, share: share})
		if slashable != nil {
			r := *slashable
			r.Pubkey = slashing.Pubkey(it.Pubkey)
			r.SigningRoot = slashing.Root(it.SigningRoot)
			reqs = append(reqs, r)
			reqItem = append(reqItem, i)
		}
	}
	if len(reqs) > 0 {
		verdicts, err := s.record.Authorize(reqs)
		if err != nil {
			return nil, nil, err
		}
		denied := make(map[int]bool)
		for k, v := range verdicts {
			if !v.Approved {
				denied[reqItem[k]] = true
				refusals = append(refusals, Refusal{Index: index, Item: uint16(reqItem[k]), Reason: "signed-by-me: " + verdictText(v)})
				s.log.Warn("refused to sign a share that conflicts with one signed before",
					"log_index", index, "slot", duty.Slot, "validator", fmt.Sprintf("%#x", res.Items[reqItem[k]].Pubkey[:8]),
					"reason", v.Reason.String(), "detail", v.Detail)
			}
		}
		kept := cands[:0]
		for _, c := range cands {
			if !denied[c.item] {
				kept = append(kept, c)
			}
		}
		cands = kept
	}

	// All validators of a committee sign the same root: hash to the curve once per root.
	hashed := make(map[[32]byte]*threshold.HashedMessage)
	for _, c := range cands {
		root := res.Items[c.item].SigningRoot
		if _, ok := hashed[root]; !ok {
			hashed[root] = hashes.get(root)
		}
	}
	shares := make([]Share, len(cands))
	signOne := func(k int) {
		c := cands[k]
		part := c.share.SignHashed(hashed[res.Items[c.item].SigningRoot])
		sh := Share{Index: index, Item: uint16(c.item), ShareIndex: part.Index, sig: part.Signature}
		copy(sh.Signature[:], part.Signature.Bytes())
		shares[k] = sh
	}
	// A committee's batch is spread over the cores; small batches stay on this goroutine.
	workers := runtime.GOMAXPROCS(0)
	if len(cands) < 8 || workers < 2 {
		for k := range cands {
			signOne(k)
		}
		return shares, refusals, nil
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for k := w; k < len(cands); k += workers {
				signOne(k)
			}
		}(w)
	}
	wg.Wait()
	return shares, refusals, nil
}

// slashableFields returns the signed-by-me request template for slashable duty kinds, nil otherwise.
func slashableFields(d *fsm.Duty) (*SignRequest, error) {
	switch d.Kind {
	case fsm.DutyAttestation:
		var data phase0.AttestationData
		if err := data.UnmarshalSSZ(d.Data); err != nil {
			return nil, fmt.Errorf("attestation data: %w", err)
		}
		return &SignRequest{Kind: SignAttestation, Source: uint64(data.Source.Epoch), Target: uint64(data.Target.Epoch)}, nil
	case fsm.DutyProposal, fsm.DutyBlindedProposal:
		var h phase0.BeaconBlockHeader
		if err := h.UnmarshalSSZ(d.Data); err != nil {
			return nil, fmt.Errorf("block header: %w", err)
		}
		return &SignRequest{Kind: SignProposal, Slot: uint64(h.Slot)}, nil
	}
	return nil, nil
}

func verdictText(v slashing.Verdict) string {
	if v.Detail != "" {
		return v.Reason.String() + ": " + v.Detail
	}
	return v.Reason.String()
}
