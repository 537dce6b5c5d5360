package keys

import (
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// NormalizePassword converts a keystore password to the bytes the EIP-2335
// key derivation consumes: the NFKD normal form, with the C0 (U+0000 to
// U+001F), Delete (U+007F) and C1 (U+0080 to U+009F) control codes removed,
// encoded as UTF-8. Bytes of password that are not valid UTF-8 become
// U+FFFD. The caller should clear the result after use.
func NormalizePassword(password string) []byte {
	nfkd := []byte(norm.NFKD.String(password))
	defer clear(nfkd)
	out := make([]byte, 0, len(nfkd))
	for i := 0; i < len(nfkd); {
		r, size := utf8.DecodeRune(nfkd[i:])
		i += size
		if isControl(r) {
			continue
		}
		out = utf8.AppendRune(out, r)
	}
	return out
}

// isControl reports whether r is one of the control codes EIP-2335 strips.
func isControl(r rune) bool {
	return r <= 0x1f || (r >= 0x7f && r <= 0x9f)
}
