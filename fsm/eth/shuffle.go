package eth

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"
)

// maxShuffleRounds is the largest round count the swap-or-not shuffle
// supports: the round number is hashed as one byte.
const maxShuffleRounds = 256

// shuffleSeedLen is the length of seed || round, the pivot hash input.
const shuffleSeedLen = 33

// checkRounds rejects round counts the spec cannot express.
func checkRounds(rounds uint64) error {
	if rounds == 0 || rounds > maxShuffleRounds {
		return fmt.Errorf("%w: %d, want 1..%d", ErrInvalidRounds, rounds, maxShuffleRounds)
	}
	return nil
}

// pivot returns the swap-or-not pivot of round for a list of count entries.
func pivot(seed Root, round uint64, count uint64) uint64 {
	var buf [shuffleSeedLen]byte
	copy(buf[:32], seed[:])
	buf[32] = byte(round)
	h := sha256.Sum256(buf[:])
	return binary.LittleEndian.Uint64(h[:8]) % count
}

// sourceHasher computes the per-round source hashes that decide each swap,
// keeping the last one since callers walk positions block by block.
type sourceHasher struct {
	buf   [shuffleSeedLen + 4]byte
	block uint64
	have  bool
	src   [32]byte
}

func newSourceHasher(seed Root, round uint64) *sourceHasher {
	h := &sourceHasher{}
	copy(h.buf[:32], seed[:])
	h.buf[32] = byte(round)
	return h
}

// bit returns the swap bit of position: bit position%8 of byte
// (position%256)/8 of hash(seed || round || uint32(position/256)).
func (h *sourceHasher) bit(position uint64) bool {
	block := position >> 8
	if !h.have || block != h.block {
		binary.LittleEndian.PutUint32(h.buf[shuffleSeedLen:], uint32(block))
		h.src = sha256.Sum256(h.buf[:])
		h.block, h.have = block, true
	}
	return (h.src[(position&0xff)>>3]>>(position&7))&1 == 1
}

// ComputeShuffledIndex returns the position that index moves to when a list
// of count entries is shuffled with seed over rounds swap-or-not rounds
// (compute_shuffled_index). Use 90 rounds for mainnet and 10 for minimal
// (Spec.ShuffleRoundCount).
func ComputeShuffledIndex(index, count uint64, seed Root, rounds uint64) (uint64, error) {
	if err := checkRounds(rounds); err != nil {
		return 0, fmt.Errorf("compute shuffled index: %w", err)
	}
	if index >= count {
		return 0, fmt.Errorf("compute shuffled index: %w: index %d, count %d", ErrIndexOutOfRange, index, count)
	}
	for r := range rounds {
		p := pivot(seed, r, count)
		flip := (p + count - index) % count
		position := max(index, flip)
		if newSourceHasher(seed, r).bit(position) {
			index = flip
		}
	}
	return index, nil
}

// ShuffleList returns a new list out with out[i] = indices[
// ComputeShuffledIndex(i, len(indices), seed, rounds)]: the whole list
// shuffled at once, in O(len·rounds) bit tests and O(len/256·rounds)
// hashes. It applies the rounds in reverse order, swapping in place each
// mirrored pair whose upper position has its bit set. rounds must be in
// 1..256 (Spec.Validate guarantees it for Spec.ShuffleRoundCount); ShuffleList
// panics otherwise, as that is a programming error.
func ShuffleList(indices []uint64, seed Root, rounds uint64) []uint64 {
	if err := checkRounds(rounds); err != nil {
		panic(fmt.Sprintf("eth.ShuffleList: %v", err))
	}
	out := make([]uint64, len(indices))
	copy(out, indices)
	n := uint64(len(out))
	if n <= 1 {
		return out
	}
	for r := rounds; r > 0; r-- {
		round := r - 1
		p := pivot(seed, round, n)
		h := newSourceHasher(seed, round)
		// One round pairs i with (p - i) mod n. The pairs form two mirrored
		// runs, [0, p] and [p+1, n-1]; within each, a pair swaps when the bit
		// of its larger member is set. Walk the larger members downwards so
		// the source hash changes at most once per 256 positions.
		for j := p; j > p/2; j-- {
			if h.bit(j) {
				i := p - j
				out[i], out[j] = out[j], out[i]
			}
		}
		for j := n - 1; j > (p+n)/2; j-- {
			if h.bit(j) {
				i := p + n - j
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// ComputeCommittee returns committee index out of count committees drawn
// from the shuffled indices (compute_committee): positions
// CommitteeBounds(len(indices), index, count) of ShuffleList(indices, ...).
// It costs O(committee size·rounds) hashes; to compute every committee of
// an epoch, shuffle once with ShuffleList and cut it with CommitteeBounds.
func ComputeCommittee(indices []uint64, seed Root, index, count, rounds uint64) ([]uint64, error) {
	if err := checkRounds(rounds); err != nil {
		return nil, fmt.Errorf("compute committee: %w", err)
	}
	if index >= count {
		return nil, fmt.Errorf("compute committee: %w: committee %d of %d", ErrIndexOutOfRange, index, count)
	}
	n := uint64(len(indices))
	start, end := CommitteeBounds(n, index, count)
	committee := make([]uint64, 0, end-start)
	for i := start; i < end; i++ {
		j, err := ComputeShuffledIndex(i, n, seed, rounds)
		if err != nil {
			return nil, fmt.Errorf("compute committee: %w", err)
		}
		committee = append(committee, indices[j])
	}
	return committee, nil
}

// CommitteeBounds returns the positions [start, end) of committee index out
// of count committees in a shuffled list of n entries:
// start = n·index/count, end = n·(index+1)/count. count must be positive and
// index below it.
func CommitteeBounds(n, index, count uint64) (start, end uint64) {
	return mulDiv(n, index, count), mulDiv(n, index+1, count)
}

// mulDiv returns a·b/c without overflowing in the product (c > 0 and the
// quotient fits in 64 bits for the sizes used here: b ≤ c).
func mulDiv(a, b, c uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	q, _ := bits.Div64(hi, lo, c)
	return q
}

// CommitteeCountPerSlot returns the number of attestation committees per
// slot for activeValidators active validators
// (get_committee_count_per_slot).
func (s *Spec) CommitteeCountPerSlot(activeValidators uint64) uint64 {
	return max(1, min(s.MaxCommitteesPerSlot, activeValidators/s.SlotsPerEpoch/s.TargetCommitteeSize))
}

// ComputeSeed returns the seed of epoch for domain type dt given the RANDAO
// mix the spec reads for it (get_seed): hash(dt || uint64(epoch) || mix),
// where mix is the mix of epoch + EpochsPerHistoricalVector -
// MinSeedLookahead - 1 in the state's ring.
func ComputeSeed(dt DomainType, epoch uint64, mix Root) Root {
	var buf [4 + 8 + 32]byte
	copy(buf[:4], dt[:])
	binary.LittleEndian.PutUint64(buf[4:12], epoch)
	copy(buf[12:], mix[:])
	return sha256.Sum256(buf[:])
}

// ProposerSeed returns the seed proposer selection uses at slot given the
// epoch's DomainBeaconProposer seed: hash(epochSeed || uint64(slot)).
func ProposerSeed(epochSeed Root, slot uint64) Root {
	var buf [40]byte
	copy(buf[:32], epochSeed[:])
	binary.LittleEndian.PutUint64(buf[32:], slot)
	return sha256.Sum256(buf[:])
}

// maxProposerDraws bounds the proposer search. The spec loops until a
// candidate passes the balance filter; with any realistic balances that
// takes a handful of draws, so this bound is only reached when every
// candidate has a zero effective balance and the random values are never
// zero, which is astronomically unlikely.
const maxProposerDraws = 1 << 24

// ComputeProposerIndex returns the proposer drawn from the active validator
// indices active with seed (the slot's ProposerSeed), weighting candidates
// by effectiveBalance (compute_proposer_index). The rule of the fork in
// effect at epoch applies: before Electra one random byte per draw against
// MaxEffectiveBalance, from Electra on (Fulu included) a 16-bit random value
// against MaxEffectiveBalanceElectra.
func ComputeProposerIndex(s *Spec, epoch uint64, active []uint64, effectiveBalance func(uint64) uint64, seed Root) (uint64, error) {
	if len(active) == 0 {
		return 0, fmt.Errorf("compute proposer index: %w", ErrEmptyIndices)
	}
	if err := checkRounds(s.ShuffleRoundCount); err != nil {
		return 0, fmt.Errorf("compute proposer index: %w", err)
	}
	electraRule := s.IsForkActive(ForkElectra, epoch)
	total := uint64(len(active))
	var buf [40]byte
	copy(buf[:32], seed[:])
	var random [32]byte
	lastBlock := ^uint64(0)
	for i := uint64(0); i < maxProposerDraws; i++ {
		shuffled, err := ComputeShuffledIndex(i%total, total, seed, s.ShuffleRoundCount)
		if err != nil {
			return 0, fmt.Errorf("compute proposer index: %w", err)
		}
		candidate := active[shuffled]
		var randomValue, maxRandom, maxBalance uint64
		if electraRule {
			if block := i / 16; block != lastBlock {
				binary.LittleEndian.PutUint64(buf[32:], block)
				random, lastBlock = sha256.Sum256(buf[:]), block
			}
			off := (i % 16) * 2
			randomValue = uint64(binary.LittleEndian.Uint16(random[off : off+2]))
			maxRandom, maxBalance = 1<<16-1, s.MaxEffectiveBalanceElectra
		} else {
			if block := i / 32; block != lastBlock {
				binary.LittleEndian.PutUint64(buf[32:], block)
				random, lastBlock = sha256.Sum256(buf[:]), block
			}
			randomValue = uint64(random[i%32])
			maxRandom, maxBalance = 1<<8-1, s.MaxEffectiveBalance
		}
		// effective_balance * MAX_RANDOM >= MAX_BALANCE * random, in 128 bits.
		lh, ll := bits.Mul64(effectiveBalance(candidate), maxRandom)
		rh, rl := bits.Mul64(maxBalance, randomValue)
		if lh > rh || (lh == rh && ll >= rl) {
			return candidate, nil
		}
	}
	return 0, fmt.Errorf("compute proposer index: %w after %d draws", ErrNoProposer, uint64(maxProposerDraws))
}
