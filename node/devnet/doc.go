// Package devnet is an in-process beacon chain that serves the standard
// Beacon API on loopback, so that a phalanx cluster (or any validator client
// built on go-eth2-client) performs real validator duties without an
// external beacon node.
//
// # What it simulates
//
// The chain starts from an interop genesis: validator i holds the interop
// key threshold/keys.InteropSecretKey(i), is active from epoch 0 with a
// 32 ETH effective balance, and has BLS withdrawal credentials
// 0x00 || sha256(pubkey)[1:]. genesis_validators_root is the hash tree root
// of that registry (List[Validator, 2^40]). Fork versions are the devnet's
// own (0xNN706878 for fork number NN, phase0 = 0), every fork up to
// Config.Fork is active from epoch 0 and later forks are unscheduled.
//
// Each slot has one proposer, chosen with compute_proposer_index from the
// RANDAO mixes that the chain's own blocks update; committees come from the
// real shuffling. The devnet's built-in signer holds the keys of every
// validator that is not listed in Config.ClusterValidators and performs
// their duties: it proposes their blocks at the start of the slot, attests
// at one third of the slot and sends sync committee messages. For a slot
// whose proposer belongs to the cluster the devnet waits for the cluster's
// block until two thirds of the slot; otherwise the slot stays empty.
//
// Justification and finalization follow the spec's
// process_justification_and_finalization: target votes, weighted by
// effective balance, from attestations included in blocks; an epoch is
// justified with two thirds of the active balance, and the 2nd/3rd/4th-epoch
// finalization rules apply. So a cluster that stops attesting stalls
// finality when its validators hold more than a third of the stake.
//
// # What is simplified
//
// There is no execution layer (payloads are well formed but empty, their
// block hashes chain deterministically) and no full BeaconState: state
// roots are deterministic digests of the chain's progress, not hash tree
// roots of a BeaconState, and the debug state endpoints are not served.
// There is one chain and no fork choice; balances do not change. Voluntary
// exits are verified and pooled but not applied. SSZ containers use the
// mainnet preset sizes that go-eth2-client's types are built for, so the
// sync committee has 512 members (validators repeat, as the spec allows when
// there are fewer validators); the other parameters follow the minimal
// preset (SLOTS_PER_EPOCH from Config, committees of 4, sync periods of 8
// epochs).
//
// Slots may be shorter than a second: SLOT_DURATION_MS in /eth/v1/config/spec
// carries the exact slot length, SECONDS_PER_SLOT the whole seconds (at
// least 1).
//
// Every signature submitted through the API is verified with the real
// domain of its fork and the genesis validators root; bad submissions are
// refused with the Beacon API error shape and listed in the status report
// (GET /phalanx/devnet/v1/status, and Stats).
package devnet
