// Package api is the operator-facing HTTP server of a phalanx node.
//
// One gin engine serves, from a single route table (routes.go):
//
//   - the Beacon API, answered from the replicated state where the cluster owns the answer (genesis, fork,
//     finality, spec, the cluster's validators, node identity and peers) and passed through to the upstream
//     beacon node(s) otherwise;
//   - a Web3Signer-compatible signing API (POST /api/v1/eth2/sign/{pubkey}): every request becomes one duty
//     entry of the Raft log, goes through the slashing rules and threshold signing, and answers with the
//     recombined group signature;
//   - a Keymanager API subset (list keys, EIP-3076 slashing-protection import) behind its bearer token;
//   - the admin API behind the admin token, one endpoint per `phalanx cluster` / `phalanx slashing` verb;
//   - Prometheus /metrics, /healthz and /readyz.
//
// Only the leader signs and serves the Beacon API. A follower forwards those requests to the leader's API
// (reverse proxy) and every such response names the leader in the Phalanx-Leader header, so clients may point
// at any node. Handlers are small functions over the narrow interfaces in deps.go; *cluster.Node and
// *fsm.Machine satisfy them.
package api
