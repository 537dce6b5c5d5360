package keys

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// node returns the JSON object at a dotted path inside m.
func node(m map[string]any, path string) map[string]any {
	for _, k := range strings.Split(path, ".") {
		if k == "" {
			continue
		}
		m = m[k].(map[string]any)
	}
	return m
}

func TestParseKeystoreMalformed(t *testing.T) {
	base := readVector(t, ercDir+"/eip2335_keystore_pbkdf2.json")
	scryptBase := readVector(t, ercDir+"/eip2335_keystore_scrypt.json")
	if _, err := ParseKeystore(base); err != nil {
		t.Fatalf("base keystore does not parse: %v", err)
	}

	// mutate returns the base keystore (or the scrypt one) changed by f.
	mutate := func(src []byte, f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(src, &m); err != nil {
			t.Fatalf("decode base: %v", err)
		}
		f(m)
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("encode mutated keystore: %v", err)
		}
		return out
	}
	set := func(path, key string, v any) []byte {
		return mutate(base, func(m map[string]any) { node(m, path)[key] = v })
	}
	setScrypt := func(path, key string, v any) []byte {
		return mutate(scryptBase, func(m map[string]any) { node(m, path)[key] = v })
	}
	del := func(path, key string) []byte {
		return mutate(base, func(m map[string]any) { delete(node(m, path), key) })
	}
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }

	for _, tc := range []struct {
		name  string
		data  []byte
		field string // expected FormatError.Field
	}{
		{"empty input", nil, ""},
		{"whitespace", []byte("  \n"), ""},
		{"truncated JSON", base[:len(base)/2], ""},
		{"trailing garbage", append(append([]byte{}, base...), '}'), ""},
		{"top-level array", []byte("[]"), ""},
		{"top-level null", []byte("null"), ""},
		{"version 3", set("", "version", 3), "version"},
		{"version as string", set("", "version", "4"), "version"},
		{"version fraction", set("", "version", raw("4.0")), "version"},
		{"version negative", set("", "version", -4), "version"},
		{"version missing", del("", "version"), "version"},
		{"uuid missing", del("", "uuid"), "uuid"},
		{"uuid malformed", set("", "uuid", "not-a-uuid"), "uuid"},
		{"uuid not hex", set("", "uuid", "1d85ae20-35c5-4611-98e8-aa14a633906g"), "uuid"},
		{"uuid number", set("", "uuid", 7), "uuid"},
		{"path invalid", set("", "path", "x/1"), "path"},
		{"path not string", set("", "path", 1), "path"},
		{"description not string", set("", "description", false), "description"},
		{"pubkey short", set("", "pubkey", "9612d7a7"), "pubkey"},
		{"pubkey not hex", set("", "pubkey", strings.Repeat("zz", 48)), "pubkey"},
		{"crypto missing", del("", "crypto"), "crypto"},
		{"crypto not object", set("", "crypto", "x"), "crypto"},
		{"crypto unknown module", set("crypto", "mac", map[string]any{}), "crypto.mac"},
		{"kdf missing", del("crypto", "kdf"), "crypto.kdf"},
		{"kdf null", set("crypto", "kdf", nil), "crypto.kdf"},
		{"kdf unknown function", set("crypto.kdf", "function", "argon2id"), "crypto.kdf.function"},
		{"kdf function missing", del("crypto.kdf", "function"), "crypto.kdf.function"},
		{"kdf message not empty", set("crypto.kdf", "message", "00"), "crypto.kdf.message"},
		{"kdf message missing", del("crypto.kdf", "message"), "crypto.kdf.message"},
		{"kdf params missing", del("crypto.kdf", "params"), "crypto.kdf.params"},
		{"kdf params array", set("crypto.kdf", "params", []any{}), "crypto.kdf.params"},
		{"kdf unknown param", set("crypto.kdf.params", "foo", 1), "crypto.kdf.params.foo"},
		{"pbkdf2 with scrypt param", set("crypto.kdf.params", "n", 2), "crypto.kdf.params.n"},
		{"dklen 64", set("crypto.kdf.params", "dklen", 64), "crypto.kdf.params.dklen"},
		{"dklen missing", del("crypto.kdf.params", "dklen"), "crypto.kdf.params.dklen"},
		{"salt bad hex", set("crypto.kdf.params", "salt", "zz"), "crypto.kdf.params.salt"},
		{"salt odd length", set("crypto.kdf.params", "salt", "abc"), "crypto.kdf.params.salt"},
		{"salt 0x prefix", set("crypto.kdf.params", "salt", "0xd4e5"), "crypto.kdf.params.salt"},
		{"salt empty", set("crypto.kdf.params", "salt", ""), "crypto.kdf.params.salt"},
		{"salt huge", set("crypto.kdf.params", "salt", strings.Repeat("ab", MaxSaltLen+1)), "crypto.kdf.params.salt"},
		{"pbkdf2 c huge", set("crypto.kdf.params", "c", 1<<30), "crypto.kdf.params.c"},
		{"pbkdf2 c zero", set("crypto.kdf.params", "c", 0), "crypto.kdf.params.c"},
		{"pbkdf2 c beyond int32", set("crypto.kdf.params", "c", raw("99999999999999999999999")), "crypto.kdf.params.c"},
		{"pbkdf2 c exponent", set("crypto.kdf.params", "c", raw("2.62144e5")), "crypto.kdf.params.c"},
		{"pbkdf2 prf sha512", set("crypto.kdf.params", "prf", "hmac-sha512"), "crypto.kdf.params.prf"},
		{"scrypt n huge", setScrypt("crypto.kdf.params", "n", 1<<30), "crypto.kdf.params.n"},
		{"scrypt n not power of two", setScrypt("crypto.kdf.params", "n", 262143), "crypto.kdf.params.n"},
		{"scrypt n one", setScrypt("crypto.kdf.params", "n", 1), "crypto.kdf.params.n"},
		{"scrypt n float", setScrypt("crypto.kdf.params", "n", raw("262144.0")), "crypto.kdf.params.n"},
		{"scrypt r huge", setScrypt("crypto.kdf.params", "r", 1<<20), "crypto.kdf.params.r"},
		{"scrypt r zero", setScrypt("crypto.kdf.params", "r", 0), "crypto.kdf.params.r"},
		{"scrypt p huge", setScrypt("crypto.kdf.params", "p", 1<<20), "crypto.kdf.params.p"},
		{"scrypt p missing", mutate(scryptBase, func(m map[string]any) { delete(node(m, "crypto.kdf.params"), "p") }), "crypto.kdf.params.p"},
		{"scrypt with prf", setScrypt("crypto.kdf.params", "prf", "hmac-sha256"), "crypto.kdf.params.prf"},
		{"checksum unknown function", set("crypto.checksum", "function", "sha3"), "crypto.checksum.function"},
		{"checksum params not empty", set("crypto.checksum.params", "x", 1), "crypto.checksum.params.x"},
		{"checksum message short", set("crypto.checksum", "message", "8a9f"), "crypto.checksum.message"},
		{"checksum message missing", del("crypto.checksum", "message"), "crypto.checksum.message"},
		{"cipher unknown function", set("crypto.cipher", "function", "aes-256-gcm"), "crypto.cipher.function"},
		{"cipher missing", del("crypto", "cipher"), "crypto.cipher"},
		{"iv missing", del("crypto.cipher.params", "iv"), "crypto.cipher.params.iv"},
		{"iv 15 bytes", set("crypto.cipher.params", "iv", strings.Repeat("ab", 15)), "crypto.cipher.params.iv"},
		{"iv 17 bytes", set("crypto.cipher.params", "iv", strings.Repeat("ab", 17)), "crypto.cipher.params.iv"},
		{"iv bad hex", set("crypto.cipher.params", "iv", strings.Repeat("g", 32)), "crypto.cipher.params.iv"},
		{"iv number", set("crypto.cipher.params", "iv", 5), "crypto.cipher.params.iv"},
		{"cipher message 48 bytes", set("crypto.cipher", "message", strings.Repeat("ab", 48)), "crypto.cipher.message"},
		{"cipher message empty", set("crypto.cipher", "message", ""), "crypto.cipher.message"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := ParseKeystore(tc.data)
			if ks != nil {
				t.Fatalf("ParseKeystore returned a keystore with error %v", err)
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error = %v (%T), want *FormatError", err, err)
			}
			if fe.Field != tc.field {
				t.Fatalf("error = %q names field %q, want %q", err, fe.Field, tc.field)
			}
			prefix := "keystore: "
			if tc.field != "" {
				prefix += tc.field + ": "
			}
			if msg := err.Error(); !strings.HasPrefix(msg, prefix) || fe.Problem == "" {
				t.Fatalf("error %q does not start with %q and say what is wrong", msg, prefix)
			}
			t.Log(err)
		})
	}
}

func TestParseKeystoreLenient(t *testing.T) {
	base := readVector(t, ercDir+"/eip2335_keystore_scrypt.json")
	var m map[string]any
	if err := json.Unmarshal(base, &m); err != nil {
		t.Fatalf("decode: %v", err)
	}
	// Fields some wallets add, and the optional fields left out.
	m["name"] = "validator 1"
	delete(m, "description")
	delete(m, "pubkey")
	m["path"] = ""
	m["uuid"] = strings.ToUpper(m["uuid"].(string))
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	ks, err := ParseKeystore(data)
	if err != nil {
		t.Fatalf("ParseKeystore: %v", err)
	}
	if ks.Pubkey != "" || ks.Description != "" || ks.Path != "" {
		t.Fatalf("unexpected optional fields: %+v", ks)
	}
	if ks.Crypto.KDF.Params.N != 262144 || ks.Crypto.KDF.Params.R != 8 || ks.Crypto.KDF.Params.P != 1 {
		t.Fatalf("scrypt params = %+v", ks.Crypto.KDF.Params)
	}
}

func TestParseKeystoreTooLarge(t *testing.T) {
	data := []byte(`{"x":"` + strings.Repeat("a", maxKeystoreSz) + `"}`)
	var fe *FormatError
	if _, err := ParseKeystore(data); !errors.As(err, &fe) || fe.Field != "" {
		t.Fatalf("error = %v, want a FormatError about the document", err)
	}
}
