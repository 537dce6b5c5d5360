// Package eth computes exactly what an Ethereum validator signs: chain
// parameters (Spec) and the fork schedule, signature domains, signing roots
// for every artifact a validator signs, aggregator selection and the
// phase0 swap-or-not shuffling with the committee and proposer selection
// built on it.
//
// The package is pure: it does no I/O, reads no clock and draws no
// randomness. Every result is a function of its arguments only, so the
// replicated state machine, the leader's scheduler, the follower share
// signer and the embedded devnet beacon chain all compute the same bytes.
//
// Containers are the fastssz-generated types of
// github.com/attestantio/go-eth2-client; this package never defines its own
// copies of them. The few roots computed here by hand are of basic SSZ
// values (a uint64 epoch or slot, a 32-byte root) or of the two-field
// containers SigningData, ForkData, VoluntaryExit and
// SyncAggregatorSelectionData, whose merkleization is a single hash of two
// 32-byte chunks; the tests check each of them against the library type.
//
// Spec methods assume the Spec passed Validate; on an invalid Spec they may
// return meaningless results or panic (for example on a zero SlotsPerEpoch).
package eth
