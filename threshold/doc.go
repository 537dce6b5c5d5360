// Package threshold implements BLS12-381 signatures for Ethereum and the
// threshold layer phalanx builds on them.
//
// The signature scheme is the Ethereum ciphersuite
// BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_ in its minimal-public-key-size
// variant: public keys are compressed G1 points (48 bytes), signatures are
// compressed G2 points (96 bytes). All curve arithmetic is done by blst; no
// other package of phalanx imports blst.
//
// On top of that the package provides Shamir secret sharing of a secret key
// over the scalar field Fr with Feldman commitments (Split), partial
// signatures made with a share (SecretShare.SignHashed), and their Lagrange
// recombination in G2 into the signature of the unsplit key (Recombine,
// RecombineVerified). Shares are numbered from 1: share i is f(i) for the
// sharing polynomial f with f(0) equal to the secret key.
//
// Secret material never reaches fmt, encoding/json or log/slog output: the
// SecretKey type redacts itself, and buffers holding secret scalars are zeroed
// where Go allows.
package threshold
