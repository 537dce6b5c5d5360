package devnet

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/phalanx-eth/phalanx/fsm/eth"
)

// errNotFound marks a state or block id that names nothing known.
type errNotFound struct{ what string }

func (e errNotFound) Error() string { return e.what }

// resolveStateLocked maps a state id to a slot of the chain.
func (d *Devnet) resolveStateLocked(id string) (uint64, error) {
	c := d.c
	cur := c.currentSlot()
	switch id {
	case "head":
		return cur, nil
	case "genesis":
		return 0, nil
	case "finalized":
		return d.spec.EpochStartSlot(uint64(c.state(cur).finalized.Epoch)), nil
	case "justified":
		return d.spec.EpochStartSlot(uint64(c.state(cur).currJustified.Epoch)), nil
	}
	if strings.HasPrefix(id, "0x") {
		r, err := parseRoot(id)
		if err != nil {
			return 0, fmt.Errorf("invalid state id: %w", err)
		}
		for s := len(c.slots) - 1; s >= 0; s-- {
			if c.slots[s].stateRoot == r {
				return uint64(s), nil
			}
		}
		return 0, errNotFound{"State not found"}
	}
	s, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid state id %q: must be head, genesis, finalized, justified, a slot or a 0x state root", id)
	}
	if s > cur {
		return 0, errNotFound{"State not found"}
	}
	return s, nil
}

// resolveBlockLocked maps a block id to a block of the chain.
func (d *Devnet) resolveBlockLocked(id string) (*blockRecord, error) {
	c := d.c
	cur := c.currentSlot()
	switch id {
	case "head":
		return c.head(), nil
	case "genesis":
		return c.genesis, nil
	case "finalized":
		return d.checkpointBlock(c.state(cur).finalized), nil
	case "justified":
		return d.checkpointBlock(c.state(cur).currJustified), nil
	}
	if strings.HasPrefix(id, "0x") {
		r, err := parseRoot(id)
		if err != nil {
			return nil, fmt.Errorf("invalid block id: %w", err)
		}
		if b := c.blocks[r]; b != nil {
			return b, nil
		}
		return nil, errNotFound{"Block not found"}
	}
	s, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("invalid block id %q: must be head, genesis, finalized, justified, a slot or a 0x block root", id)
	}
	if s > cur || c.state(s).head.slot != s {
		return nil, errNotFound{"Block not found"}
	}
	return c.state(s).head, nil
}

// checkpointBlock returns the block of a checkpoint (genesis for the zero root).
func (d *Devnet) checkpointBlock(cp phase0.Checkpoint) *blockRecord {
	if b := d.c.blocks[eth.Root(cp.Root)]; b != nil {
		return b
	}
	return d.c.genesis
}

// isFinalizedLocked reports whether slot is at or before the finalized checkpoint.
func (d *Devnet) isFinalizedLocked(slot uint64) bool {
	fin := d.c.state(d.c.currentSlot()).finalized
	return fin.Epoch > 0 && slot <= d.spec.EpochStartSlot(uint64(fin.Epoch))
}

// writeLookupError answers a failed state or block lookup.
func writeLookupError(w http.ResponseWriter, err error) {
	if _, ok := err.(errNotFound); ok {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	writeError(w, http.StatusBadRequest, err.Error())
}

func (d *Devnet) handleGenesis(w http.ResponseWriter, _ *http.Request) {
	writeData(w, &apiv1.Genesis{
		GenesisTime:           d.cfg.GenesisTime,
		GenesisValidatorsRoot: phase0.Root(d.spec.GenesisValidatorsRoot),
		GenesisForkVersion:    phase0.Version(d.spec.GenesisForkVersion),
	})
}

// withState runs f on the slot named by the request's state_id.
func (d *Devnet) withState(w http.ResponseWriter, r *http.Request, f func(slot uint64, st *slotRecord, finalized bool)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	slot, err := d.resolveStateLocked(r.PathValue("state_id"))
	if err != nil {
		writeLookupError(w, err)
		return
	}
	f(slot, d.c.state(slot), d.isFinalizedLocked(slot))
}

func (d *Devnet) handleStateRoot(w http.ResponseWriter, r *http.Request) {
	d.withState(w, r, func(_ uint64, st *slotRecord, fin bool) {
		writeStateData(w, fin, map[string]string{"root": st.stateRoot.String()})
	})
}

// stateFork is the Fork of the state at slot; a chain that starts at a
// later fork has previous_version = current_version at genesis.
func (d *Devnet) stateFork(slot uint64) *phase0.Fork {
	f := d.spec.ForkAtEpoch(d.spec.EpochAtSlot(slot))
	return &phase0.Fork{PreviousVersion: phase0.Version(f.Version), CurrentVersion: phase0.Version(f.Version), Epoch: phase0.Epoch(f.Epoch)}
}

func (d *Devnet) handleStateFork(w http.ResponseWriter, r *http.Request) {
	d.withState(w, r, func(slot uint64, _ *slotRecord, fin bool) {
		writeStateData(w, fin, d.stateFork(slot))
	})
}

func (d *Devnet) handleFinality(w http.ResponseWriter, r *http.Request) {
	d.withState(w, r, func(_ uint64, st *slotRecord, fin bool) {
		pj, cj, f := st.prevJustified, st.currJustified, st.finalized
		writeStateData(w, fin, &apiv1.Finality{PreviousJustified: &pj, Justified: &cj, Finalized: &f})
	})
}

// validatorEntry is the API view of validator i.
func (d *Devnet) validatorEntry(i uint64) *apiv1.Validator {
	return &apiv1.Validator{
		Index: phase0.ValidatorIndex(i), Balance: effectiveBalance,
		Status: apiv1.ValidatorStateActiveOngoing, Validator: d.c.vals[i].entry,
	}
}

// lookupValidatorLocked resolves a validator id (index or 0x pubkey).
func (d *Devnet) lookupValidatorLocked(id string) (uint64, bool, error) {
	if strings.HasPrefix(id, "0x") {
		var pk phase0.BLSPubKey
		if err := pk.UnmarshalJSON([]byte(`"` + id + `"`)); err != nil {
			return 0, false, fmt.Errorf("invalid validator id %q: not a 48-byte public key", id)
		}
		i, ok := d.c.byPubkey[pk]
		return i, ok, nil
	}
	i, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("invalid validator id %q: must be an index or a 0x public key", id)
	}
	return i, i < uint64(len(d.c.vals)), nil
}

// validatorQuery is the POST body of the validators endpoints.
type validatorQuery struct {
	IDs      []string `json:"ids"`
	Statuses []string `json:"statuses"`
}

// readValidatorQuery reads ids and statuses from the query or the POST body.
func readValidatorQuery(r *http.Request) (validatorQuery, error) {
	var q validatorQuery
	if r.Method == http.MethodPost {
		b, err := readBody(r)
		if err != nil {
			return q, err
		}
		if len(b) > 0 {
			if b[0] == '[' { // validator_balances takes a bare array
				err = json.Unmarshal(b, &q.IDs)
			} else {
				err = json.Unmarshal(b, &q)
			}
			if err != nil {
				return q, fmt.Errorf("invalid JSON body: %w", err)
			}
		}
		return q, nil
	}
	for _, v := range r.URL.Query()["id"] {
		q.IDs = append(q.IDs, splitComma(v)...)
	}
	for _, v := range r.URL.Query()["status"] {
		q.Statuses = append(q.Statuses, splitComma(v)...)
	}
	return q, nil
}

// selectValidatorsLocked returns the validators a query names, in index order.
func (d *Devnet) selectValidatorsLocked(q validatorQuery) ([]uint64, error) {
	var out []uint64
	if len(q.IDs) == 0 {
		for i := range d.c.vals {
			out = append(out, uint64(i))
		}
	}
	for _, id := range q.IDs {
		i, ok, err := d.lookupValidatorLocked(id)
		if err != nil {
			return nil, err
		}
		if ok && !slices.Contains(out, i) {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	if len(q.Statuses) > 0 {
		want := false
		for _, s := range q.Statuses {
			if s == "active_ongoing" || s == "active" {
				want = true
			}
		}
		if !want {
			return []uint64{}, nil
		}
	}
	return out, nil
}

func (d *Devnet) handleValidators(w http.ResponseWriter, r *http.Request) {
	q, err := readValidatorQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d.withState(w, r, func(_ uint64, _ *slotRecord, fin bool) {
		idx, err := d.selectValidatorsLocked(q)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		out := make([]*apiv1.Validator, 0, len(idx))
		for _, i := range idx {
			out = append(out, d.validatorEntry(i))
		}
		writeStateData(w, fin, out)
	})
}

func (d *Devnet) handleValidator(w http.ResponseWriter, r *http.Request) {
	d.withState(w, r, func(_ uint64, _ *slotRecord, fin bool) {
		i, ok, err := d.lookupValidatorLocked(r.PathValue("validator_id"))
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if !ok {
			writeError(w, http.StatusNotFound, "Validator not found")
			return
		}
		writeStateData(w, fin, d.validatorEntry(i))
	})
}

func (d *Devnet) handleValidatorBalances(w http.ResponseWriter, r *http.Request) {
	q, err := readValidatorQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d.withState(w, r, func(_ uint64, _ *slotRecord, fin bool) {
		idx, err := d.selectValidatorsLocked(validatorQuery{IDs: q.IDs})
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		out := make([]*apiv1.ValidatorBalance, 0, len(idx))
		for _, i := range idx {
			out = append(out, &apiv1.ValidatorBalance{Index: phase0.ValidatorIndex(i), Balance: effectiveBalance})
		}
		writeStateData(w, fin, out)
	})
}

func (d *Devnet) handleCommittees(w http.ResponseWriter, r *http.Request) {
	qv := r.URL.Query()
	d.withState(w, r, func(slot uint64, _ *slotRecord, fin bool) {
		epoch := d.spec.EpochAtSlot(slot)
		var err error
		if e := qv.Get("epoch"); e != "" {
			if epoch, err = parseUint(e, "epoch"); err != nil {
				writeError(w, http.StatusBadRequest, err.Error())
				return
			}
		}
		dd, err := d.c.dutiesFor(epoch)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		filterSlot, filterIndex := int64(-1), int64(-1)
		if s := qv.Get("slot"); s != "" {
			v, err := parseUint(s, "slot")
			if err != nil || d.spec.EpochAtSlot(v) != epoch {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid slot %q: must be in epoch %d", s, epoch))
				return
			}
			filterSlot = int64(v)
		}
		if s := qv.Get("index"); s != "" {
			v, err := parseUint(s, "index")
			if err != nil {
				writeError(w, http.StatusBadRequest, err.Error())
				return
			}
			filterIndex = int64(v)
		}
		out := []*apiv1.BeaconCommittee{}
		for s := d.spec.EpochStartSlot(epoch); s < d.spec.EpochStartSlot(epoch+1); s++ {
			if filterSlot >= 0 && uint64(filterSlot) != s {
				continue
			}
			for ci := range dd.perSlot {
				if filterIndex >= 0 && uint64(filterIndex) != ci {
					continue
				}
				members := dd.committee(s%d.spec.SlotsPerEpoch, ci, d.spec.SlotsPerEpoch)
				vs := make([]phase0.ValidatorIndex, len(members))
				for i, m := range members {
					vs[i] = phase0.ValidatorIndex(m)
				}
				out = append(out, &apiv1.BeaconCommittee{Slot: phase0.Slot(s), Index: phase0.CommitteeIndex(ci), Validators: vs})
			}
		}
		writeStateData(w, fin, out)
	})
}

func (d *Devnet) handleSyncCommittees(w http.ResponseWriter, r *http.Request) {
	qv := r.URL.Query()
	d.withState(w, r, func(slot uint64, _ *slotRecord, fin bool) {
		epoch := d.spec.EpochAtSlot(slot)
		if e := qv.Get("epoch"); e != "" {
			v, err := parseUint(e, "epoch")
			if err != nil {
				writeError(w, http.StatusBadRequest, err.Error())
				return
			}
			epoch = v
		}
		members, err := d.c.syncCommittee(d.spec.SyncCommitteePeriod(epoch))
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		sc := &apiv1.SyncCommittee{}
		sub := d.spec.SyncCommitteeSize / d.spec.SyncCommitteeSubnetCount
		sc.ValidatorAggregates = make([][]phase0.ValidatorIndex, d.spec.SyncCommitteeSubnetCount)
		for pos, v := range members {
			sc.Validators = append(sc.Validators, phase0.ValidatorIndex(v))
			k := uint64(pos) / sub
			sc.ValidatorAggregates[k] = append(sc.ValidatorAggregates[k], phase0.ValidatorIndex(v))
		}
		writeStateData(w, fin, sc)
	})
}

func (d *Devnet) handleRandao(w http.ResponseWriter, r *http.Request) {
	d.withState(w, r, func(slot uint64, _ *slotRecord, fin bool) {
		mix := d.c.mix
		if e := d.spec.EpochAtSlot(slot); e < d.spec.EpochAtSlot(d.c.currentSlot()) {
			mix = d.c.endMix[e]
		}
		writeStateData(w, fin, map[string]string{"randao": eth.Root(mix).String()})
	})
}

// headerOf is the API view of a block's header.
func (d *Devnet) headerOf(b *blockRecord) *apiv1.BeaconBlockHeader {
	return &apiv1.BeaconBlockHeader{
		Root: phase0.Root(b.root), Canonical: true,
		Header: &phase0.SignedBeaconBlockHeader{Message: b.header(), Signature: b.signature},
	}
}

func (d *Devnet) handleHeaders(w http.ResponseWriter, r *http.Request) {
	qv := r.URL.Query()
	d.mu.Lock()
	defer d.mu.Unlock()
	b := d.c.head()
	if s := qv.Get("slot"); s != "" {
		slot, err := parseUint(s, "slot")
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if slot > d.c.currentSlot() || d.c.state(slot).head.slot != slot {
			writeStateData(w, false, []*apiv1.BeaconBlockHeader{})
			return
		}
		b = d.c.state(slot).head
	}
	if p := qv.Get("parent_root"); p != "" {
		root, err := parseRoot(p)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		var child *blockRecord
		for _, cand := range d.c.blocks {
			if cand.parentRoot == root && cand != d.c.genesis {
				child = cand
			}
		}
		if child == nil || (qv.Get("slot") != "" && child != b) {
			writeStateData(w, false, []*apiv1.BeaconBlockHeader{})
			return
		}
		b = child
	}
	writeStateData(w, d.isFinalizedLocked(b.slot), []*apiv1.BeaconBlockHeader{d.headerOf(b)})
}

// withBlock runs f on the block named by the request's block_id.
func (d *Devnet) withBlock(w http.ResponseWriter, r *http.Request, f func(b *blockRecord, finalized bool)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	b, err := d.resolveBlockLocked(r.PathValue("block_id"))
	if err != nil {
		writeLookupError(w, err)
		return
	}
	f(b, d.isFinalizedLocked(b.slot))
}

func (d *Devnet) handleHeader(w http.ResponseWriter, r *http.Request) {
	d.withBlock(w, r, func(b *blockRecord, fin bool) { writeStateData(w, fin, d.headerOf(b)) })
}

func (d *Devnet) handleBlockRoot(w http.ResponseWriter, r *http.Request) {
	d.withBlock(w, r, func(b *blockRecord, fin bool) {
		writeStateData(w, fin, map[string]string{"root": b.root.String()})
	})
}

func (d *Devnet) handleBlock(w http.ResponseWriter, r *http.Request) {
	d.withBlock(w, r, func(b *blockRecord, fin bool) {
		var body any
		sb := b.signed
		switch sb.Version {
		case spec.DataVersionAltair:
			body = sb.Altair
		case spec.DataVersionBellatrix:
			body = sb.Bellatrix
		case spec.DataVersionCapella:
			body = sb.Capella
		case spec.DataVersionDeneb:
			body = sb.Deneb
		case spec.DataVersionElectra:
			body = sb.Electra
		}
		writeVersioned(w, sb.Version, &fin, body)
	})
}
