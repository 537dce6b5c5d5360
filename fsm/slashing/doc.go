// Package slashing implements EIP-3076 slashing protection as pure rules over an
// in-memory database, together with import and export of the EIP-3076 interchange
// format (version 5).
//
// # Contract
//
// Everything in this package is a deterministic function of its inputs and of the
// DB it is called on: no I/O, no clock, no randomness, and no map iteration order
// reaches any output. Three nodes that apply the same sequence of calls hold
// byte-identical databases (see DB.MarshalBinary). The replicated state machine
// embeds a DB in its state and calls it from Apply; each node's share signer uses
// the same rules against its own signed-by-me record.
//
// # Strategy
//
// The DB follows the EIP's "complete" strategy: it keeps every signed block and
// attestation of every validator, and it enforces all five conditions of the EIP
// at all times (not only after an import). Identical re-signing (same slot, or
// same source and target, and the same explicit signing root) is approved, so the
// cluster can re-issue a signature it already produced. A signing root is either
// explicit (every message signed through the DB, and every imported message with
// a signing_root, whatever its value, the all-zero root included) or unknown (an
// imported message without signing_root). A record whose signing root is unknown
// never matches anything: no block at its slot, and no attestation with its
// target epoch, is signed again.
//
// Prune folds history strictly below the finalized epoch into per-validator low
// watermarks. A watermark behaves exactly like one extra signed message with an
// unknown signing root: a block at the block watermark slot, and an attestation
// with (source, target) = (source watermark, target watermark). Pruning therefore
// never approves anything that was denied before; it can only deny more, and only
// below finality. State grows with the number of validators, not with time.
//
// The rules themselves live in rules.go, next to the EIP text they implement.
package slashing
