// Package keys derives, stores and loads the BLS12-381 secret keys that phalanx
// splits into threshold shares and keeps at rest.
//
// It implements these public standards and one devnet convention:
//
//   - EIP-2333 hierarchical key derivation (DeriveMasterSK, DeriveChildSK) and
//     EIP-2334 paths (DerivePath), with the BIP-39 mnemonic-to-seed step
//     (MnemonicToSeed) that wallets put in front of it;
//   - EIP-2335 password-encrypted keystores (ParseKeystore, Encrypt,
//     Keystore.Decrypt), version 4, scrypt or PBKDF2-HMAC-SHA256 with
//     AES-128-CTR and a SHA-256 checksum;
//   - the interop ("mocked start") validator keys used by devnets and test
//     suites (InteropSecretKey).
//
// All BLS arithmetic is delegated to the parent package threshold; this
// package only works on bytes and scalars modulo the group order r.
//
// Secret material (seeds, derived scalars, decryption keys, plaintext) is
// zeroed after use where the code owns the buffer, and never appears in
// errors or logs. Keystore parsing is strict and refuses key-derivation
// parameters that would make a single decryption cost more than real
// keystores ever ask for, so an untrusted keystore file cannot be used to
// exhaust memory or CPU.
package keys
