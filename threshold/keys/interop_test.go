package keys

import (
	"bytes"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestInteropKeys(t *testing.T) {
	for _, file := range []string{"keygen_10_validators.yaml", "keygen_10000_validators.first64.yaml"} {
		t.Run(file, func(t *testing.T) {
			var entries []struct {
				Privkey string `yaml:"privkey"`
				Pubkey  string `yaml:"pubkey"`
			}
			if err := yaml.Unmarshal(readVector(t, mockedDir+"/"+file), &entries); err != nil {
				t.Fatalf("decode %s: %v", file, err)
			}
			if len(entries) < 10 {
				t.Fatalf("%s: %d entries, want at least 10", file, len(entries))
			}
			for i, e := range entries {
				priv := mustHex(t, e.Privkey)
				if len(priv) > 32 {
					t.Fatalf("index %d: privkey has %d bytes", i, len(priv))
				}
				want := make([]byte, 32) // some privkeys are written without leading zeros
				copy(want[32-len(priv):], priv)

				sk, err := InteropSecretKey(uint64(i))
				if err != nil {
					t.Fatalf("InteropSecretKey(%d): %v", i, err)
				}
				if got := sk.Bytes(); !bytes.Equal(got, want) {
					t.Fatalf("index %d: privkey = %x, want %x", i, got, want)
				}
				if got := sk.PublicKey().Bytes(); !bytes.Equal(got, mustHex(t, e.Pubkey)) {
					t.Fatalf("index %d: pubkey = %x, want %s", i, got, e.Pubkey)
				}
			}
		})
	}
}
