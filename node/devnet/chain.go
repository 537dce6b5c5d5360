package devnet

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/OffchainLabs/go-bitfield"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/phalanx-eth/phalanx/fsm/eth"
	"github.com/phalanx-eth/phalanx/threshold"
)

// blockRecord is one block of the chain.
type blockRecord struct {
	slot       uint64
	proposer   uint64
	root       eth.Root
	parentRoot eth.Root
	stateRoot  eth.Root
	bodyRoot   eth.Root
	signature  phase0.BLSSignature
	byCluster  bool
	signed     *spec.VersionedSignedBeaconBlock // the genesis block carries a zero signature
	atts       []*onchainAtt
	syncBits   int // participating sync committee positions
	execHash   [32]byte
	execNumber uint64
}

// header returns the block's BeaconBlockHeader.
func (b *blockRecord) header() *phase0.BeaconBlockHeader {
	return &phase0.BeaconBlockHeader{
		Slot:          phase0.Slot(b.slot),
		ProposerIndex: phase0.ValidatorIndex(b.proposer),
		ParentRoot:    phase0.Root(b.parentRoot),
		StateRoot:     phase0.Root(b.stateRoot),
		BodyRoot:      phase0.Root(b.bodyRoot),
	}
}

// slotRecord is the chain's state after processing a slot (and its block,
// if any).
type slotRecord struct {
	head          *blockRecord
	stateRoot     eth.Root
	prevJustified phase0.Checkpoint
	currJustified phase0.Checkpoint
	finalized     phase0.Checkpoint
}

// onchainAtt is an attestation as a block carries it, in a fork-neutral
// form: per committee of the slot, the aggregation bits over that
// committee, and one aggregate signature over all of them.
type onchainAtt struct {
	data       *phase0.AttestationData // Index is the committee before Electra, 0 from Electra on
	committees []uint64                // committee indices, ascending
	bits       []bitfield.Bitlist      // one per committee
	sig        phase0.BLSSignature
}

// epochDuties are the committees and proposers of one epoch.
type epochDuties struct {
	perSlot   uint64   // committees per slot
	shuffled  []uint64 // the active indices shuffled with the attester seed
	proposers []uint64 // proposer of each slot of the epoch
}

// committee returns committee index of slot.
func (d *epochDuties) committee(slotInEpoch, index, slotsPerEpoch uint64) []uint64 {
	count := d.perSlot * slotsPerEpoch
	start, end := eth.CommitteeBounds(uint64(len(d.shuffled)), slotInEpoch*d.perSlot+index, count)
	return d.shuffled[start:end]
}

// poolEntry gathers the attestations received for one AttestationData.
type poolEntry struct {
	data        *phase0.AttestationData
	singles     map[uint64]phase0.BLSSignature // by attester index
	committeeOf map[uint64]uint64              // attester -> committee index
	aggregates  []*poolAggregate
}

// poolAggregate is an aggregate received from an aggregator.
type poolAggregate struct {
	committee uint64
	bits      bitfield.Bitlist
	sig       phase0.BLSSignature
}

// syncMessage is one validator's sync committee message.
type syncMessage struct {
	root eth.Root
	sig  phase0.BLSSignature
}

// chain is the devnet's chain state. Every method expects the Devnet's lock.
type chain struct {
	spec     *eth.Spec
	version  spec.DataVersion
	vals     []*validatorKey
	byPubkey map[phase0.BLSPubKey]uint64
	active   []uint64

	genesis  *blockRecord
	blocks   map[eth.Root]*blockRecord
	slots    []slotRecord // index: slot; the last entry is the current state
	justBits [4]bool
	endMix   map[uint64][32]byte // RANDAO mix at the end of each finished epoch
	mix      [32]byte            // the running RANDAO mix
	execHash [32]byte
	execNum  uint64
	duties   map[uint64]*epochDuties
	syncComm map[uint64][]uint64               // by period: SYNC_COMMITTEE_SIZE positions
	votes    map[uint64]map[uint64]bool        // target epoch -> validators with a correct target vote on chain
	included map[uint64]map[uint64]bool        // target epoch -> validators whose attestation is on chain
	pool     map[eth.Root]*poolEntry           // by attestation data root
	syncMsgs map[uint64]map[uint64]syncMessage // slot -> validator -> message
	live     map[uint64]map[uint64]bool        // epoch -> live validators
}

// newChain builds the genesis state.
func newChain(s *eth.Spec, version spec.DataVersion, vals []*validatorKey) (*chain, error) {
	c := &chain{
		spec:     s,
		version:  version,
		vals:     vals,
		byPubkey: make(map[phase0.BLSPubKey]uint64, len(vals)),
		blocks:   make(map[eth.Root]*blockRecord),
		endMix:   make(map[uint64][32]byte),
		mix:      genesisEth1BlockHash,
		duties:   make(map[uint64]*epochDuties),
		syncComm: make(map[uint64][]uint64),
		votes:    make(map[uint64]map[uint64]bool),
		included: make(map[uint64]map[uint64]bool),
		pool:     make(map[eth.Root]*poolEntry),
		syncMsgs: make(map[uint64]map[uint64]syncMessage),
		live:     make(map[uint64]map[uint64]bool),
	}
	for _, v := range vals {
		c.byPubkey[v.pubkey] = v.index
		c.active = append(c.active, v.index)
	}
	genesisState := eth.Root(digest("phalanx-devnet/genesis-state", s.GenesisValidatorsRoot[:], s.GenesisForkVersion[:]))
	gb, err := buildBlock(version, &blockParts{
		syncBits: bitfield.NewBitvector512(), syncSig: phase0.BLSSignature{0xc0},
		timestamp: s.GenesisTime, genesisState: &genesisState,
	})
	if err != nil {
		return nil, fmt.Errorf("genesis block: %w", err)
	}
	signed, err := signProposal(gb.proposal, phase0.BLSSignature{})
	if err != nil {
		return nil, fmt.Errorf("genesis block: %w", err)
	}
	g := &blockRecord{root: gb.root, stateRoot: genesisState, bodyRoot: gb.bodyRoot, signed: signed, execHash: gb.execHash}
	c.genesis = g
	c.blocks[g.root] = g
	c.execHash = gb.execHash
	c.slots = []slotRecord{{head: g, stateRoot: genesisState}}
	return c, nil
}

// digest returns sha256 over the parts, each prefixed by its length.
func digest(label string, parts ...[]byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(label))
	var l [8]byte
	for _, p := range parts {
		binary.LittleEndian.PutUint64(l[:], uint64(len(p)))
		h.Write(l[:])
		h.Write(p)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// u64 returns v as 8 little-endian bytes.
func u64(v uint64) []byte {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	return b[:]
}

// currentSlot returns the slot the chain state is at.
func (c *chain) currentSlot() uint64 { return uint64(len(c.slots) - 1) }

// state returns the state after slot (the current state for later slots).
func (c *chain) state(slot uint64) *slotRecord {
	if slot >= uint64(len(c.slots)) {
		slot = c.currentSlot()
	}
	return &c.slots[slot]
}

// head returns the current head block.
func (c *chain) head() *blockRecord { return c.slots[len(c.slots)-1].head }

// blockRootAtEpoch returns the root of the latest block at or before the
// first slot of epoch, as seen from the current state (get_block_root).
func (c *chain) blockRootAtEpoch(epoch uint64) eth.Root {
	return c.state(c.spec.EpochStartSlot(epoch)).head.root
}

// seedMix returns the RANDAO mix get_seed reads for epoch.
func (c *chain) seedMix(epoch uint64) [32]byte {
	lookahead := c.spec.MinSeedLookahead + 1
	if epoch < lookahead {
		return genesisEth1BlockHash
	}
	if m, ok := c.endMix[epoch-lookahead]; ok {
		return m
	}
	return c.mix
}

// dutiesFor returns the committees and proposers of epoch, which must be at
// most one epoch after the current one.
func (c *chain) dutiesFor(epoch uint64) (*epochDuties, error) {
	if d, ok := c.duties[epoch]; ok {
		return d, nil
	}
	cur := c.spec.EpochAtSlot(c.currentSlot())
	if epoch > cur+1 {
		return nil, fmt.Errorf("epoch %d is more than one epoch after the current epoch %d", epoch, cur)
	}
	mix := c.seedMix(epoch)
	attSeed := eth.ComputeSeed(eth.DomainBeaconAttester, epoch, mix)
	d := &epochDuties{
		perSlot:  c.spec.CommitteeCountPerSlot(uint64(len(c.active))),
		shuffled: eth.ShuffleList(c.active, attSeed, c.spec.ShuffleRoundCount),
	}
	propSeed := eth.ComputeSeed(eth.DomainBeaconProposer, epoch, mix)
	eb := func(uint64) uint64 { return effectiveBalance }
	for s := c.spec.EpochStartSlot(epoch); s < c.spec.EpochStartSlot(epoch+1); s++ {
		p, err := eth.ComputeProposerIndex(c.spec, epoch, c.active, eb, eth.ProposerSeed(propSeed, s))
		if err != nil {
			return nil, fmt.Errorf("proposer of slot %d: %w", s, err)
		}
		d.proposers = append(d.proposers, p)
	}
	// Only cache epochs whose seed can no longer change.
	if epoch <= cur+c.spec.MinSeedLookahead {
		c.duties[epoch] = d
	}
	return d, nil
}

// committee returns committee index of slot, or an error if the index is
// out of range.
func (c *chain) committee(slot, index uint64) ([]uint64, error) {
	d, err := c.dutiesFor(c.spec.EpochAtSlot(slot))
	if err != nil {
		return nil, err
	}
	if index >= d.perSlot {
		return nil, fmt.Errorf("committee index %d is out of range: slot %d has %d committees", index, slot, d.perSlot)
	}
	return d.committee(slot%c.spec.SlotsPerEpoch, index, c.spec.SlotsPerEpoch), nil
}

// proposer returns the proposer of slot.
func (c *chain) proposer(slot uint64) (uint64, error) {
	d, err := c.dutiesFor(c.spec.EpochAtSlot(slot))
	if err != nil {
		return 0, err
	}
	return d.proposers[slot%c.spec.SlotsPerEpoch], nil
}

// syncCommittee returns the SYNC_COMMITTEE_SIZE members (by position) of
// the sync committee of period (get_next_sync_committee_indices, computed
// as the state at the end of the previous period would).
func (c *chain) syncCommittee(period uint64) ([]uint64, error) {
	if sc, ok := c.syncComm[period]; ok {
		return sc, nil
	}
	epoch := period * c.spec.EpochsPerSyncCommitteePeriod
	if period <= 1 {
		epoch = 1 // genesis sets both the current and the next committee
	}
	if cur := c.spec.EpochAtSlot(c.currentSlot()); epoch > cur+1 && period > 1 &&
		c.spec.SyncCommitteePeriod(cur)+1 < period {
		return nil, fmt.Errorf("sync committee period %d is not known yet", period)
	}
	seed := eth.ComputeSeed(eth.DomainSyncCommittee, epoch, c.seedMix(epoch))
	shuffled := eth.ShuffleList(c.active, seed, c.spec.ShuffleRoundCount)
	electra := c.spec.IsForkActive(eth.ForkElectra, epoch)
	n := uint64(len(shuffled))
	out := make([]uint64, 0, c.spec.SyncCommitteeSize)
	var buf [40]byte
	copy(buf[:32], seed[:])
	for i := uint64(0); uint64(len(out)) < c.spec.SyncCommitteeSize; i++ {
		candidate := shuffled[i%n]
		var random, maxRandom, maxBalance uint64
		if electra {
			binary.LittleEndian.PutUint64(buf[32:], i/16)
			h := sha256.Sum256(buf[:])
			off := (i % 16) * 2
			random, maxRandom, maxBalance = uint64(binary.LittleEndian.Uint16(h[off:off+2])), 1<<16-1, c.spec.MaxEffectiveBalanceElectra
		} else {
			binary.LittleEndian.PutUint64(buf[32:], i/32)
			h := sha256.Sum256(buf[:])
			random, maxRandom, maxBalance = uint64(h[i%32]), 1<<8-1, c.spec.MaxEffectiveBalance
		}
		if effectiveBalance*maxRandom >= maxBalance*random {
			out = append(out, candidate)
		}
	}
	if period <= c.spec.SyncCommitteePeriod(c.spec.EpochAtSlot(c.currentSlot())) {
		c.syncComm[period] = out
	}
	return out, nil
}

// syncCommitteeForMessage returns the committee that signs sync committee
// messages at slot: the committee of the period of slot+1, so that the last
// slot of a period is signed by the incoming committee.
func (c *chain) syncCommitteeForMessage(slot uint64) ([]uint64, error) {
	return c.syncCommittee(c.spec.SyncCommitteePeriod(c.spec.EpochAtSlot(slot + 1)))
}

// advance processes empty slots up to slot, running the epoch transitions
// on the way. It returns the epochs whose processing finalized a new
// checkpoint, for events.
func (c *chain) advance(slot uint64) {
	for c.currentSlot() < slot {
		prev := c.slots[len(c.slots)-1]
		next := c.currentSlot() + 1
		if next%c.spec.SlotsPerEpoch == 0 {
			ended := next/c.spec.SlotsPerEpoch - 1
			c.endMix[ended] = c.mix
			c.processJustification(&prev, ended)
			c.prune(ended)
		}
		prev.stateRoot = digest("phalanx-devnet/slot", prev.stateRoot[:], u64(next))
		c.slots = append(c.slots, prev)
	}
}

// processJustification is process_justification_and_finalization at the end
// of epoch current, updating the checkpoints in st.
func (c *chain) processJustification(st *slotRecord, current uint64) {
	if current <= 1 {
		return
	}
	previous := current - 1
	total := uint64(len(c.active)) * effectiveBalance
	prevTarget := uint64(len(c.votes[previous])) * effectiveBalance
	currTarget := uint64(len(c.votes[current])) * effectiveBalance
	oldPrev, oldCurr := st.prevJustified, st.currJustified
	st.prevJustified = st.currJustified
	copy(c.justBits[1:], c.justBits[:3])
	c.justBits[0] = false
	if prevTarget*3 >= total*2 {
		st.currJustified = phase0.Checkpoint{Epoch: phase0.Epoch(previous), Root: phase0.Root(c.blockRootAtEpoch(previous))}
		c.justBits[1] = true
	}
	if currTarget*3 >= total*2 {
		st.currJustified = phase0.Checkpoint{Epoch: phase0.Epoch(current), Root: phase0.Root(c.blockRootAtEpoch(current))}
		c.justBits[0] = true
	}
	b := c.justBits
	switch {
	case b[1] && b[2] && b[3] && uint64(oldPrev.Epoch)+3 == current:
		st.finalized = oldPrev
	case b[1] && b[2] && uint64(oldPrev.Epoch)+2 == current:
		st.finalized = oldPrev
	}
	switch {
	case b[0] && b[1] && b[2] && uint64(oldCurr.Epoch)+2 == current:
		st.finalized = oldCurr
	case b[0] && b[1] && uint64(oldCurr.Epoch)+1 == current:
		st.finalized = oldCurr
	}
}

// prune drops bookkeeping that no rule can read any more once epoch ended.
func (c *chain) prune(ended uint64) {
	keep := func(e uint64) bool { return e+4 > ended }
	for e := range c.votes {
		if !keep(e) {
			delete(c.votes, e)
			delete(c.included, e)
		}
	}
	for e := range c.duties {
		if !keep(e) {
			delete(c.duties, e)
		}
	}
	for e := range c.live {
		if e+16 < ended {
			delete(c.live, e)
		}
	}
	for r, p := range c.pool {
		if uint64(p.data.Target.Epoch)+2 <= ended {
			delete(c.pool, r)
		}
	}
	for s := range c.syncMsgs {
		if c.spec.EpochAtSlot(s)+2 <= ended {
			delete(c.syncMsgs, s)
		}
	}
}

// attestationData returns the data an attester of committee index at slot
// signs, as the current chain sees it.
func (c *chain) attestationData(slot, index uint64) *phase0.AttestationData {
	st := c.state(slot)
	epoch := c.spec.EpochAtSlot(slot)
	target := st.head.root
	if start := c.spec.EpochStartSlot(epoch); start <= c.currentSlot() {
		target = c.state(start).head.root
	}
	if c.version >= spec.DataVersionElectra {
		index = 0
	}
	src := st.currJustified
	return &phase0.AttestationData{
		Slot:            phase0.Slot(slot),
		Index:           phase0.CommitteeIndex(index),
		BeaconBlockRoot: phase0.Root(st.head.root),
		Source:          &phase0.Checkpoint{Epoch: src.Epoch, Root: src.Root},
		Target:          &phase0.Checkpoint{Epoch: phase0.Epoch(epoch), Root: phase0.Root(target)},
	}
}

// markLive records that validator was seen active in epoch.
func (c *chain) markLive(epoch, validator uint64) {
	m := c.live[epoch]
	if m == nil {
		m = make(map[uint64]bool)
		c.live[epoch] = m
	}
	m[validator] = true
}

// addSingle puts one verified unaggregated attestation of validator (a
// member of committee) into the pool. It reports false if the pool already
// had one for the same data.
func (c *chain) addSingle(data *phase0.AttestationData, dataRoot eth.Root, committee, validator uint64, sig phase0.BLSSignature) bool {
	e := c.poolEntry(data, dataRoot)
	if _, dup := e.singles[validator]; dup {
		return false
	}
	e.singles[validator] = sig
	e.committeeOf[validator] = committee
	c.markLive(uint64(data.Target.Epoch), validator)
	return true
}

// poolEntry returns the pool entry for data, creating it.
func (c *chain) poolEntry(data *phase0.AttestationData, dataRoot eth.Root) *poolEntry {
	e := c.pool[dataRoot]
	if e == nil {
		e = &poolEntry{data: data, singles: make(map[uint64]phase0.BLSSignature), committeeOf: make(map[uint64]uint64)}
		c.pool[dataRoot] = e
	}
	return e
}

// aggregateFor builds the aggregate of the pool entry's attestations for
// one committee: bits over the committee members and the aggregate
// signature. ok is false when the pool holds nothing for that committee.
func (c *chain) aggregateFor(e *poolEntry, committeeIndex uint64, skip map[uint64]bool) (bits bitfield.Bitlist, sig phase0.BLSSignature, ok bool, err error) {
	members, err := c.committee(uint64(e.data.Slot), committeeIndex)
	if err != nil {
		return nil, sig, false, err
	}
	bits = bitfield.NewBitlist(uint64(len(members)))
	var sigs []*threshold.Signature
	for pos, v := range members {
		s, has := e.singles[v]
		if !has || skip[v] || e.committeeOf[v] != committeeIndex {
			continue
		}
		ts, perr := threshold.SignatureFromBytes(s[:])
		if perr != nil {
			continue
		}
		bits.SetBitAt(uint64(pos), true)
		sigs = append(sigs, ts)
	}
	for _, a := range e.aggregates {
		if a.committee != committeeIndex || a.bits.Len() != bits.Len() {
			continue
		}
		if overlap, _ := bits.Overlaps(a.bits); overlap {
			continue
		}
		ts, perr := threshold.SignatureFromBytes(a.sig[:])
		if perr != nil {
			continue
		}
		merged, _ := bits.Or(a.bits)
		bits = merged
		sigs = append(sigs, ts)
	}
	if len(sigs) == 0 {
		return nil, sig, false, nil
	}
	agg, err := threshold.AggregateSignatures(sigs)
	if err != nil {
		return nil, sig, false, fmt.Errorf("aggregate pool signatures: %w", err)
	}
	copy(sig[:], agg.Bytes())
	return bits, sig, true, nil
}

// attestationsForBlock picks the pool's attestations that a block at slot
// may include and that bring attesters not yet on chain.
func (c *chain) attestationsForBlock(slot uint64, st *slotRecord) []*onchainAtt {
	epoch := c.spec.EpochAtSlot(slot)
	limit := 128
	if c.version >= spec.DataVersionElectra {
		limit = 8
	}
	roots := make([]eth.Root, 0, len(c.pool))
	for r := range c.pool {
		roots = append(roots, r)
	}
	// Newest data first, then by root for a deterministic block.
	slices.SortFunc(roots, func(a, b eth.Root) int {
		sa, sb := c.pool[a].data.Slot, c.pool[b].data.Slot
		if sa != sb {
			if sa > sb {
				return -1
			}
			return 1
		}
		return slices.Compare(a[:], b[:])
	})
	var out []*onchainAtt
	for _, r := range roots {
		e := c.pool[r]
		d := e.data
		target := uint64(d.Target.Epoch)
		if uint64(d.Slot)+1 > slot || (target != epoch && target+1 != epoch) {
			continue
		}
		want := st.currJustified
		if target != epoch {
			want = st.prevJustified
		}
		if *d.Source != want {
			continue
		}
		committees := []uint64{uint64(d.Index)}
		if c.version >= spec.DataVersionElectra {
			dd, err := c.dutiesFor(target)
			if err != nil {
				continue
			}
			committees = committees[:0]
			for i := range dd.perSlot {
				committees = append(committees, i)
			}
		}
		att := &onchainAtt{data: d}
		var sigs []*threshold.Signature
		for _, ci := range committees {
			bits, sig, ok, err := c.aggregateFor(e, ci, c.included[target])
			if err != nil || !ok {
				continue
			}
			ts, err := threshold.SignatureFromBytes(sig[:])
			if err != nil {
				continue
			}
			att.committees = append(att.committees, ci)
			att.bits = append(att.bits, bits)
			sigs = append(sigs, ts)
		}
		if len(sigs) == 0 {
			continue
		}
		agg, err := threshold.AggregateSignatures(sigs)
		if err != nil {
			continue
		}
		copy(att.sig[:], agg.Bytes())
		out = append(out, att)
		if len(out) == limit {
			break
		}
	}
	return out
}

// attesters returns the validator indices an on-chain attestation covers.
func (c *chain) attesters(a *onchainAtt) ([]uint64, error) {
	var out []uint64
	for i, ci := range a.committees {
		members, err := c.committee(uint64(a.data.Slot), ci)
		if err != nil {
			return nil, err
		}
		if a.bits[i].Len() != uint64(len(members)) {
			return nil, fmt.Errorf("aggregation bits of committee %d have length %d; the committee has %d members",
				ci, a.bits[i].Len(), len(members))
		}
		for pos, v := range members {
			if a.bits[i].BitAt(uint64(pos)) {
				out = append(out, v)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("attestation has no attesters")
	}
	return out, nil
}

// syncAggregateFor collects the sync committee messages for slot-1 that
// vote for parent, by committee position.
func (c *chain) syncAggregateFor(slot uint64, parent eth.Root) (bitfield.Bitvector512, phase0.BLSSignature, int) {
	bits := bitfield.NewBitvector512()
	var sig phase0.BLSSignature
	sig[0] = 0xc0 // the point at infinity, for an empty aggregate
	if slot == 0 {
		return bits, sig, 0
	}
	members, err := c.syncCommitteeForMessage(slot - 1)
	if err != nil {
		return bits, sig, 0
	}
	msgs := c.syncMsgs[slot-1]
	var sigs []*threshold.Signature
	for pos, v := range members {
		m, ok := msgs[v]
		if !ok || m.root != parent {
			continue
		}
		ts, err := threshold.SignatureFromBytes(m.sig[:])
		if err != nil {
			continue
		}
		bits.SetBitAt(uint64(pos), true)
		sigs = append(sigs, ts)
	}
	if len(sigs) == 0 {
		return bits, sig, 0
	}
	agg, err := threshold.AggregateSignatures(sigs)
	if err != nil {
		return bitfield.NewBitvector512(), sig, 0
	}
	copy(sig[:], agg.Bytes())
	return bits, sig, len(sigs)
}
