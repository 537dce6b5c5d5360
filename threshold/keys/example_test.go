package keys_test

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/phalanx-eth/phalanx/threshold/keys"
)

// Derive the first EIP-2334 signing key of a mnemonic, seal it in a
// keystore and open it again.
func Example() {
	seed := keys.MnemonicToSeed("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", "")
	defer clear(seed)
	sk, err := keys.DerivePath(seed, "m/12381/3600/0/0/0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sk.Zeroize()

	// Cheap PBKDF2 parameters keep the example fast; omit the option to get
	// the EIP-2335 default (scrypt n=262144).
	ks, err := keys.Encrypt(sk, "correct horse", keys.WithPBKDF2(1024), keys.WithPath("m/12381/3600/0/0/0"))
	if err != nil {
		fmt.Println(err)
		return
	}
	data, err := ks.Marshal()
	if err != nil {
		fmt.Println(err)
		return
	}

	parsed, err := keys.ParseKeystore(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := parsed.Decrypt("wrong"); errors.Is(err, keys.ErrWrongPassword) {
		fmt.Println("wrong password refused")
	}
	got, err := parsed.Decrypt("correct horse")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("same key:", bytes.Equal(got.Bytes(), sk.Bytes()))
	// Output:
	// wrong password refused
	// same key: true
}

func ExampleInteropSecretKey() {
	sk, err := keys.InteropSecretKey(0)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%x\n", sk.PublicKey().Bytes())
	// Output: a99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c
}
