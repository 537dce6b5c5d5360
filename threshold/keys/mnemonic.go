package keys

import (
	"crypto/sha512"

	"golang.org/x/crypto/pbkdf2"
	"golang.org/x/text/unicode/norm"
)

// MnemonicToSeed returns the 64-byte BIP-39 seed of a mnemonic sentence and
// optional passphrase: PBKDF2-HMAC-SHA512 over the NFKD forms, with salt
// "mnemonic" + passphrase and 2048 iterations. It does not check the
// mnemonic against a word list or its checksum; callers that accept a
// mnemonic from a user should validate it first. The result feeds
// DeriveMasterSK or DerivePath; the caller should clear it after use.
func MnemonicToSeed(mnemonic, passphrase string) []byte {
	password := []byte(norm.NFKD.String(mnemonic))
	defer clear(password)
	salt := []byte("mnemonic" + norm.NFKD.String(passphrase))
	defer clear(salt)
	return pbkdf2.Key(password, salt, 2048, 64, sha512.New)
}
