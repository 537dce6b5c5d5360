package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/phalanx-eth/phalanx/fsm"
	"github.com/phalanx-eth/phalanx/threshold"
)

// BadShare identifies a share that failed verification, and the member that sent it.
type BadShare struct {
	Index      uint64
	Item       int
	ShareIndex uint32
	From       string
}

// Outcome is what a committed duty entry produced on the leader: the state machine's result and, per item,
// the verified group signature (nil where the item was denied or its shares did not arrive in time).
type Outcome struct {
	Index      uint64
	Result     *fsm.Result
	Signatures []*threshold.Signature
	// Refusals lists what members reported when they declined to sign an item.
	Refusals []Refusal
}

// Complete reports whether every approved item has a signature.
func (o *Outcome) Complete() bool {
	for i, it := range o.Result.Items {
		if it.Verdict.Approved && o.Signatures[i] == nil {
			return false
		}
	}
	return true
}

// ErrIncomplete is returned by Wait when the context ends before every approved item has a group signature;
// the Outcome returned with it holds whatever was rebuilt.
var ErrIncomplete = errors.New("not every approved item has a group signature")

// Combiner runs on the leader. It collects signature shares per (log index, item) as they arrive on the
// AppendEntries responses, and once an entry is committed and t verified-able shares of an approved item are
// in, it rebuilds the validator's group signature by Lagrange interpolation and verifies it against the
// group public key. Signatures are verified per signing root in one batch with random scalars; single shares
// are checked only when that fails, to find and report the bad share.
type Combiner struct {
	machine *fsm.Machine
	log     *slog.Logger

	mu      sync.Mutex
	entries map[uint64]*pendingEntry
	// inbox carries shares from the transport to Run, so that no transport goroutine (and with it raft's
	// replication and heartbeats) ever waits for recombination and verification work.
	inbox chan inboxItem
	// asked records when each member was last asked for the shares of an index, and how often: a member
	// re-signs the whole entry on each request, so requests back off exponentially.
	asked map[askKey]askState

	// pubkeys caches decompressed, subgroup-checked public keys (group and share keys): decoding one costs
	// more than a verification share of the hot path.
	pubkeys map[[48]byte]*threshold.PublicKey

	onBadShare func(BadShare)
	// onShare observes how long after commit each member's share arrived.
	onShare    func(peer string, sinceCommit time.Duration)
	now        func() time.Time
	retryAfter time.Duration
	ttl        time.Duration
}

type inboxItem struct {
	from string
	msg  *SharesMessage
}

type askState struct {
	last  time.Time
	times int
}

type askKey struct {
	index  uint64
	member string
}

type pendingEntry struct {
	index       uint64
	created     time.Time
	committedAt time.Time
	result      *fsm.Result
	items       []*pendingItem
	early       []receivedShare
	// senders records, per member, the items it sent a share for: a member is asked again only for entries
	// where it still owes a share of an unsigned item.
	senders  map[string]map[uint16]bool
	refusals []Refusal
	done     chan struct{}
	closed   bool
}

type receivedShare struct {
	from  string
	share Share
}

type pendingItem struct {
	parts   map[uint32]threshold.PartialSignature
	senders map[uint32]string
	bad     map[uint32]bool
	sig     *threshold.Signature
}

// NewCombiner builds a combiner reading validator registrations from machine.
func NewCombiner(machine *fsm.Machine, log *slog.Logger) *Combiner {
	if log == nil {
		log = slog.Default()
	}
	return &Combiner{
		machine:    machine,
		log:        log,
		entries:    make(map[uint64]*pendingEntry),
		asked:      make(map[askKey]askState),
		pubkeys:    make(map[[48]byte]*threshold.PublicKey),
		inbox:      make(chan inboxItem, 4096),
		now:        time.Now,
		retryAfter: 150 * time.Millisecond,
		ttl:        2 * time.Minute,
	}
}

// OnBadShare sets a callback for shares that fail verification.
func (c *Combiner) OnBadShare(f func(BadShare)) {
	c.mu.Lock()
	c.onBadShare = f
	c.mu.Unlock()
}

func (c *Combiner) entry(index uint64) *pendingEntry {
	e, ok := c.entries[index]
	if !ok {
		e = &pendingEntry{index: index, created: c.now(), senders: make(map[string]map[uint16]bool), done: make(chan struct{})}
		c.entries[index] = e
	}
	return e
}

// Enqueue hands shares received from member from to Run without waiting. When Run is far behind the shares
// are dropped (and logged); the leader asks for them again.
func (c *Combiner) Enqueue(from string, msg *SharesMessage) {
	select {
	case c.inbox <- inboxItem{from: from, msg: msg}:
	default:
		c.log.Warn("combiner busy: dropping shares, they will be requested again", "peer", from, "shares", len(msg.Shares))
	}
}

// Run adds enqueued shares until ctx ends.
func (c *Combiner) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case it := <-c.inbox:
			c.AddShares(it.from, it.msg)
		}
	}
}

// AddShares records shares and refusals sent by member from.
func (c *Combiner) AddShares(from string, msg *SharesMessage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	touched := make(map[uint64]*pendingEntry)
	for _, s := range msg.Shares {
		if s.Index == 0 {
			continue
		}
		e := c.entry(s.Index)
		if c.onShare != nil && len(e.senders[from]) == 0 {
			if e.result == nil {
				c.onShare(from, 0)
			} else {
				c.onShare(from, c.now().Sub(e.committedAt))
			}
		}
		e.markSender(from, s.Item)
		if e.result == nil {
			if len(e.early) < 1<<16 {
				e.early = append(e.early, receivedShare{from: from, share: s})
			}
			continue
		}
		c.addShareLocked(e, from, s)
		touched[s.Index] = e
	}
	for _, r := range msg.Refusals {
		if r.Index == 0 {
			continue
		}
		// A refusal does not count as an answer: it may be transient (the member's state machine had not yet
		// applied the validator's registration), so the member is asked again later.
		e := c.entry(r.Index)
		if len(e.refusals) < 1<<12 {
			e.refusals = append(e.refusals, r)
		}
	}
	for _, e := range touched {
		c.combineLocked(e)
	}
}

func (e *pendingEntry) markSender(from string, item uint16) {
	m := e.senders[from]
	if m == nil {
		m = make(map[uint16]bool)
		e.senders[from] = m
	}
	m[item] = true
}

// owes reports whether member has not yet sent a share for some approved item that still lacks a signature.
func (e *pendingEntry) owes(member string) bool {
	sent := e.senders[member]
	for i, it := range e.items {
		if it != nil && it.sig == nil && !sent[uint16(i)] {
			return true
		}
	}
	return false
}

func (c *Combiner) addShareLocked(e *pendingEntry, from string, s Share) {
	if int(s.Item) >= len(e.items) {
		c.log.Warn("share for an item the entry does not have", "log_index", s.Index, "item", s.Item, "peer", from)
		return
	}
	it := e.items[s.Item]
	if it == nil || it.sig != nil {
		return
	}
	if _, dup := it.parts[s.ShareIndex]; dup || it.bad[s.ShareIndex] {
		return
	}
	// Shares are decoded without the G2 subgroup check: each one is only used inside a recombination whose
	// result is subgroup-checked and verified (FindBadShares checks single shares fully).
	sig := s.sig
	var err error
	if sig == nil {
		sig, err = threshold.DecodePartialSignature(s.Signature[:])
	}
	if err != nil {
		c.reportBadLocked(BadShare{Index: s.Index, Item: int(s.Item), ShareIndex: s.ShareIndex, From: from})
		it.bad[s.ShareIndex] = true
		return
	}
	it.parts[s.ShareIndex] = threshold.PartialSignature{Index: s.ShareIndex, Signature: sig}
	it.senders[s.ShareIndex] = from
}

// Committed hands the combiner a committed entry's result, with the leader's own shares (any Index field is
// ignored). Shares that arrived before are applied now.
func (c *Combiner) Committed(index uint64, res *fsm.Result, own []Share, self string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(index)
	if e.result != nil {
		return
	}
	e.result = res
	e.committedAt = c.now()
	e.items = make([]*pendingItem, len(res.Items))
	for i, it := range res.Items {
		if !it.Verdict.Approved {
			continue
		}
		e.items[i] = &pendingItem{
			parts:   make(map[uint32]threshold.PartialSignature),
			senders: make(map[uint32]string),
			bad:     make(map[uint32]bool),
		}
	}
	for _, s := range own {
		s.Index = index
		e.markSender(self, s.Item)
		c.addShareLocked(e, self, s)
	}
	for _, rs := range e.early {
		c.addShareLocked(e, rs.from, rs.share)
	}
	e.early = nil
	c.combineLocked(e)
}

// combineLocked rebuilds and verifies whatever items have enough shares, and closes done when every
// approved item is signed.
func (c *Combiner) combineLocked(e *pendingEntry) {
	if e.result == nil || e.closed {
		return
	}
	type built struct {
		item int
		sig  *threshold.Signature
		pk   *threshold.PublicKey
		t    int
	}
	byRoot := make(map[[32]byte][]built)
	for i, it := range e.items {
		if it == nil || it.sig != nil {
			continue
		}
		ir := e.result.Items[i]
		info, ok := c.machine.Validator(ir.Pubkey)
		if !ok {
			continue
		}
		t := int(info.Threshold)
		good := goodParts(it)
		if len(good) < t {
			continue
		}
		sig, err := threshold.Recombine(good[:t], t)
		if err != nil {
			c.log.Warn("recombination failed", "log_index", e.index, "item", i, "err", err)
			continue
		}
		pk, err := c.pubkeyLocked(ir.Pubkey)
		if err != nil {
			continue
		}
		byRoot[ir.SigningRoot] = append(byRoot[ir.SigningRoot], built{item: i, sig: sig, pk: pk, t: t})
	}
	for root, bs := range byRoot {
		h := hashes.get(root)
		pks := make([]*threshold.PublicKey, len(bs))
		sigs := make([]*threshold.Signature, len(bs))
		for k, b := range bs {
			pks[k], sigs[k] = b.pk, b.sig
		}
		inGroup := true
		for _, sg := range sigs {
			if !sg.InSubgroup() {
				inGroup = false
				break
			}
		}
		if inGroup && threshold.VerifySameMessage(h, pks, sigs) {
			for _, b := range bs {
				e.items[b.item].sig = b.sig
			}
			continue
		}
		for _, b := range bs {
			if b.sig.InSubgroup() && threshold.VerifyHashed(b.pk, h, b.sig) {
				e.items[b.item].sig = b.sig
				continue
			}
			c.findBadLocked(e, b.item, h)
		}
	}
	// Items that lost bad shares may now be rebuildable from the remaining ones.
	again := false
	for i, it := range e.items {
		if it != nil && it.sig == nil && len(it.bad) > 0 {
			if info, ok := c.machine.Validator(e.result.Items[i].Pubkey); ok && len(goodParts(it)) >= int(info.Threshold) && len(it.parts) > len(goodParts(it)) {
				again = true
			}
		}
	}
	if again {
		c.combineLocked(e)
		return
	}
	for _, it := range e.items {
		if it != nil && it.sig == nil {
			return
		}
	}
	e.closed = true
	close(e.done)
}

func (c *Combiner) findBadLocked(e *pendingEntry, item int, h *threshold.HashedMessage) {
	ir := e.result.Items[item]
	info, ok := c.machine.Validator(ir.Pubkey)
	if !ok {
		return
	}
	it := e.items[item]
	sharePKs := make(map[uint32]*threshold.PublicKey, len(info.SharePubkeys))
	for k, b := range info.SharePubkeys {
		pk, err := c.pubkeyLocked(b)
		if err == nil {
			sharePKs[uint32(k+1)] = pk
		}
	}
	parts := goodParts(it)
	bad := threshold.FindBadShares(h, parts, sharePKs)
	for _, idx := range bad {
		it.bad[idx] = true
		from := it.senders[idx]
		delete(it.parts, idx)
		c.reportBadLocked(BadShare{Index: e.index, Item: item, ShareIndex: idx, From: from})
	}
}

func (c *Combiner) pubkeyLocked(b [48]byte) (*threshold.PublicKey, error) {
	if pk, ok := c.pubkeys[b]; ok {
		return pk, nil
	}
	pk, err := threshold.PublicKeyFromBytes(b[:])
	if err != nil {
		return nil, err
	}
	if len(c.pubkeys) > 1<<20 {
		clear(c.pubkeys)
	}
	c.pubkeys[b] = pk
	return pk, nil
}

func (c *Combiner) reportBadLocked(b BadShare) {
	c.log.Error("bad signature share", "log_index", b.Index, "item", b.Item, "share_index", b.ShareIndex, "peer", b.From)
	if c.onBadShare != nil {
		c.onBadShare(b)
	}
}

func goodParts(it *pendingItem) []threshold.PartialSignature {
	parts := make([]threshold.PartialSignature, 0, len(it.parts))
	for idx, p := range it.parts {
		if !it.bad[idx] {
			parts = append(parts, p)
		}
	}
	// A stable order keeps the Lagrange-coefficient cache hot (the same share set recurs).
	sort.Slice(parts, func(a, b int) bool { return parts[a].Index < parts[b].Index })
	return parts
}

// Wait blocks until every approved item of the committed entry at index has a group signature, or ctx ends
// (then it returns what it has with ErrIncomplete). The entry is forgotten once Wait returns.
func (c *Combiner) Wait(ctx context.Context, index uint64) (*Outcome, error) {
	c.mu.Lock()
	e := c.entry(index)
	done := e.done
	c.mu.Unlock()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("log index %d: %w (%v)", index, ErrIncomplete, ctx.Err())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := &Outcome{Index: index, Result: e.result, Refusals: append([]Refusal(nil), e.refusals...)}
	if e.result != nil {
		out.Signatures = make([]*threshold.Signature, len(e.result.Items))
		for i, it := range e.items {
			if it != nil {
				out.Signatures[i] = it.sig
			}
		}
	}
	c.forgetLocked(index)
	return out, err
}

func (c *Combiner) forgetLocked(index uint64) {
	delete(c.entries, index)
	for k := range c.asked {
		if k.index == index {
			delete(c.asked, k)
		}
	}
}

// Requests returns the indices member should be asked to (re)send shares for: committed entries still
// missing signatures for which member owes a share, older than the retry delay; the delay doubles with each
// request to the same member for the same entry (up to 32 times the base), since answering costs the member
// a signature per item.
func (c *Combiner) Requests(member string) []uint64 {
	// This runs on raft's replication and heartbeat path: while the combiner is busy rebuilding signatures,
	// ask nothing this time rather than hold a heartbeat back.
	if !c.mu.TryLock() {
		return nil
	}
	defer c.mu.Unlock()
	now := c.now()
	var out []uint64
	for idx, e := range c.entries {
		if e.result == nil || e.closed || !e.owes(member) {
			continue
		}
		if now.Sub(e.created) < c.retryAfter {
			continue
		}
		k := askKey{index: idx, member: member}
		st, ok := c.asked[k]
		if ok && now.Sub(st.last) < c.retryAfter<<min(st.times, 5) {
			continue
		}
		c.asked[k] = askState{last: now, times: st.times + 1}
		out = append(out, idx)
		if len(out) == maxRequestedIndices {
			break
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a] < out[b] })
	return out
}

// Expire drops entries older than the combiner's time to live (duties nobody waits for any more).
func (c *Combiner) Expire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for idx, e := range c.entries {
		if now.Sub(e.created) > c.ttl {
			c.forgetLocked(idx)
		}
	}
}

// Reset forgets everything (on losing leadership).
func (c *Combiner) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = make(map[uint64]*pendingEntry)
	c.asked = make(map[askKey]askState)
}
