// Package fsm is phalanx's replicated state machine: the entry codec, the validator registry, the chain view,
// duty decisions with EIP-3076 slashing protection (fsm/slashing), the duty history and deterministic snapshots.
//
// # Contract
//
// Apply is a pure function of (state, log index, entry bytes). It reads no clock, does no I/O, draws no
// randomness, depends on no global configuration and produces nothing in map order; anything time-like an entry
// needs (the slot and unix time at which the leader observed the chain) is stamped into the entry by the
// proposer. Therefore the same log gives the same state on every node, and Machine.Snapshot returns
// byte-identical snapshots on every node. Check answers what Apply would decide without changing anything.
//
// A Result is typed, never a bare error: an entry is StatusApplied or StatusRejected with a Reason, and a Duty
// entry carries one approved or denied slashing.Verdict per validator, together with the signing root the state
// machine derived itself (via fsm/eth) from the entry and the bound chain config, so that a follower never signs
// a root it did not compute.
//
// # Wire format
//
// An entry is [EntryVersion][EntryType][SSZ body]; bodies are fastssz-generated (entries_encoding.go). Entry
// types and duty kinds only ever grow; unknown versions, types or kinds, wrong sizes, trailing bytes and oversize
// lists are decode errors, which Apply turns into rejected results. A snapshot is [SnapshotVersion] followed by
// snappy(SSZ body) with every map written in sorted order. Golden files in testdata/golden pin the encodings.
//
// # Rules in brief
//
//   - ChainConfig: the first binds the cluster to a chain; later ones must describe the same chain and may only
//     add forks (or schedule ones left at FAR_FUTURE_EPOCH).
//   - ValidatorAdd: keys must decode (threshold.PublicKeyFromBytes: on curve, in G1, not infinity), 1..16 distinct
//     shares, a majority threshold, no duplicate group key or beacon index. ValidatorRemove keeps the validator's
//     slashing history. ValidatorIndices sets unknown beacon indices once.
//   - ChainView: finality never moves backwards; when it advances, slashing history and duty history below the
//     finalized epoch are pruned into watermarks, so state grows with validators, not time.
//   - Duty: items are denied when no chain config is bound, while halted, below the finalized slot, for unknown
//     validators or a mismatched beacon index; attestations and proposals then go through the slashing database
//     (approved ⇒ recorded); other kinds are approved.
//   - SlashingImport: atomic EIP-3076 import; another chain's document is rejected and changes nothing.
//   - Halt / Resume: while halted every duty item is denied.
//
// The package does not import hashicorp/raft; cluster/ adapts Machine to raft.FSM (see Machine).
package fsm
