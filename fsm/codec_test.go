package fsm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func fill48(b byte) [48]byte {
	var k [48]byte
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

func fill32(b byte) [32]byte {
	var r [32]byte
	for i := range r {
		r[i] = b ^ byte(i)
	}
	return r
}

// exampleEntries holds one example of every entry type, the ones pinned by the golden files.
func exampleEntries() map[string]Entry {
	return map[string]Entry{
		"chain_config": &ChainConfig{
			GenesisTime: 1606824023, GenesisValidatorsRoot: fill32(0x4b), GenesisForkVersion: [4]byte{0, 0, 0, 0},
			Forks:          []ForkSchedule{{Version: [4]byte{0, 0, 0, 0}, Epoch: 0}, {Version: [4]byte{1, 0, 0, 0}, Epoch: 74240}},
			SecondsPerSlot: 12, SlotsPerEpoch: 32,
		},
		"validator_add": &ValidatorAdd{
			Pubkey: fill48(0xa0), Threshold: 2,
			SharePubkeys:   [][48]byte{fill48(0x10), fill48(0x20), fill48(0x30)},
			ValidatorIndex: 12345,
		},
		"validator_remove": &ValidatorRemove{Pubkey: fill48(0xa0)},
		"validator_indices": &ValidatorIndices{Items: []ValidatorIndex{
			{Pubkey: fill48(0xa0), ValidatorIndex: 7}, {Pubkey: fill48(0xb0), ValidatorIndex: 8},
		}},
		"chain_view": &ChainView{
			HeadSlot: 1000, HeadRoot: fill32(1), JustifiedEpoch: 30, JustifiedRoot: fill32(2),
			FinalizedEpoch: 29, FinalizedRoot: fill32(3), ObservedSlot: 1001, ObservedUnixMilli: 1_700_000_000_123,
		},
		"duty": &Duty{
			Kind: DutyAggregateAndProof, Slot: 1000, Epoch: 31,
			Items: []DutyItem{
				{Pubkey: fill48(0xa0), ValidatorIndex: 7, Root: fill32(9), Aux: 0},
				{Pubkey: fill48(0xb0), ValidatorIndex: 8, Root: fill32(10), Aux: 3},
			},
		},
		"duty_attestation": &Duty{Kind: DutyAttestation, Slot: 64, Epoch: 2, Data: bytes.Repeat([]byte{0x5a}, attestationDataSize),
			Items: []DutyItem{{Pubkey: fill48(0xa0), ValidatorIndex: 7}}},
		"slashing_import": &SlashingImport{Interchange: []byte(`{"metadata":{},"data":[]}`)},
		"halt":            &Halt{Reason: []byte("beacon node reorg storm")},
		"resume":          &Resume{},
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for name, e := range exampleEntries() {
		t.Run(name, func(t *testing.T) {
			b := mustEncode(t, e)
			if b[0] != EntryVersion || EntryType(b[1]) != e.Type() {
				t.Fatalf("envelope % x, want version %d type %d", b[:2], EntryVersion, e.Type())
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, e) {
				t.Fatalf("round trip changed the entry:\n got %+v\nwant %+v", got, e)
			}
			b2 := mustEncode(t, got)
			if !bytes.Equal(b, b2) {
				t.Fatalf("re-encoding differs")
			}
		})
	}
}

// TestGolden pins the encoding of one example of every entry type. Run with -update to rewrite, only when a
// change of the wire format is intended (which needs a new EntryVersion or a new type).
func TestGolden(t *testing.T) {
	seen := map[EntryType]bool{}
	for name, e := range exampleEntries() {
		seen[e.Type()] = true
		path := filepath.Join("testdata", "golden", name+".hex")
		got := hex.EncodeToString(mustEncode(t, e)) + "\n"
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("golden file: %v (run with -update to create it)", err)
		}
		if got != string(want) {
			t.Errorf("%s: encoding changed\n got %s\nwant %s", name, got, want)
		}
	}
	for typ := TypeChainConfig; typ <= TypeResume; typ++ {
		if !seen[typ] {
			t.Errorf("no golden example of %s", typ)
		}
	}
}

func TestDecodeMalformed(t *testing.T) {
	valid := func(name string) []byte { return mustEncode(t, exampleEntries()[name]) }
	withByte := func(b []byte, i int, v byte) []byte { b = bytes.Clone(b); b[i] = v; return b }
	duty := valid("duty")
	tooManyShares := &ValidatorAdd{Pubkey: fill48(1), Threshold: 9}
	for i := 0; i < MaxShares+1; i++ {
		tooManyShares.SharePubkeys = append(tooManyShares.SharePubkeys, fill48(byte(i)))
	}
	oversize := append([]byte{EntryVersion, byte(TypeValidatorAdd)}, mustMarshalUnchecked(t, tooManyShares)...)

	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrShortEntry},
		{"one byte", []byte{1}, ErrShortEntry},
		{"version 0", withByte(duty, 0, 0), ErrUnknownVersion},
		{"version 2", withByte(duty, 0, 2), ErrUnknownVersion},
		{"type 0", withByte(duty, 1, 0), ErrUnknownType},
		{"type 10", withByte(duty, 1, 10), ErrUnknownType},
		{"type 255", withByte(duty, 1, 255), ErrUnknownType},
		{"duty kind 0", withByte(duty, 2, 0), ErrUnknownDutyKind},
		{"duty kind 12", withByte(duty, 2, 12), ErrUnknownDutyKind},
		{"trailing byte fixed body", append(valid("validator_remove"), 0), ErrMalformedBody},
		{"trailing byte resume", append(valid("resume"), 0), ErrMalformedBody},
		{"trailing byte item list", append(bytes.Clone(duty), 0), ErrMalformedBody},
		{"truncated", duty[:len(duty)-1], ErrMalformedBody},
		{"truncated fixed part", duty[:10], ErrMalformedBody},
		{"bad first offset", withByte(duty, 2+17, 0x20), ErrMalformedBody},
		{"offset past end", withByte(duty, 2+22, 0xff), ErrMalformedBody},
		{"too many shares", oversize, ErrMalformedBody},
		{"chain view short", valid("chain_view")[:100], ErrMalformedBody},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := Decode(c.in)
			if !errors.Is(err, c.want) {
				t.Fatalf("Decode = %v, %v; want error %v", e, err, c.want)
			}
		})
	}
}

// mustMarshalUnchecked writes an SSZ body bypassing the list limits, to build oversize inputs.
func mustMarshalUnchecked(t *testing.T, a *ValidatorAdd) []byte {
	t.Helper()
	out := append([]byte{}, a.Pubkey[:]...)
	out = append(out, a.Threshold)
	out = append(out, 4+48+1+8, 0, 0, 0) // offset of the share list
	var idx [8]byte
	out = append(out, idx[:]...)
	for _, s := range a.SharePubkeys {
		out = append(out, s[:]...)
	}
	return out
}

func TestEncodeRejects(t *testing.T) {
	if _, err := Encode(nil); !errors.Is(err, ErrUnknownType) {
		t.Errorf("Encode(nil) = %v", err)
	}
	if _, err := Encode((*Duty)(nil)); !errors.Is(err, ErrUnknownType) {
		t.Errorf("Encode(nil *Duty) = %v", err)
	}
	if _, err := Encode(&Duty{Kind: 99}); !errors.Is(err, ErrUnknownDutyKind) {
		t.Errorf("Encode(kind 99) = %v", err)
	}
	big := &Duty{Kind: DutyRandao, Items: make([]DutyItem, MaxDutyItems+1)}
	if _, err := Encode(big); err == nil {
		t.Errorf("Encode of %d items succeeded", MaxDutyItems+1)
	}
	if _, err := Encode(&Halt{Reason: make([]byte, MaxHaltReason+1)}); err == nil {
		t.Errorf("Encode of an oversize halt reason succeeded")
	}
}

// TestLimitsMatchTags keeps the exported limits and the ssz-max tags the decoder enforces in step.
func TestLimitsMatchTags(t *testing.T) {
	check := func(v any, field string, want int) {
		t.Helper()
		f, ok := reflect.TypeOf(v).FieldByName(field)
		if !ok {
			t.Fatalf("%T has no field %s", v, field)
		}
		tag := strings.Split(f.Tag.Get("ssz-max"), ",")[0]
		if got, _ := strconv.Atoi(tag); got != want {
			t.Errorf("%T.%s ssz-max %q, constant %d", v, field, tag, want)
		}
	}
	check(ChainConfig{}, "Forks", MaxForks)
	check(ValidatorAdd{}, "SharePubkeys", MaxShares)
	check(ValidatorIndices{}, "Items", MaxValidatorIndices)
	check(Duty{}, "Data", MaxDutyData)
	check(Duty{}, "Items", MaxDutyItems)
	check(SlashingImport{}, "Interchange", MaxInterchangeBytes)
	check(Halt{}, "Reason", MaxHaltReason)
	check(snapBatch{}, "Items", MaxDutyItems)
	check(snapshotBody{}, "HaltReason", MaxHaltReason)
	check(snapItem{}, "Detail", maxDetail)
	if MaxDutyItems < 2048 {
		t.Errorf("MaxDutyItems %d is below a full committee (2048)", MaxDutyItems)
	}
}

func TestEnumStrings(t *testing.T) {
	for k := DutyAttestation; k <= DutyValidatorRegistration; k++ {
		got, ok := ParseDutyKind(k.String())
		if !ok || got != k || strings.HasPrefix(k.String(), "duty_kind(") {
			t.Errorf("duty kind %d: String %q does not round trip", k, k)
		}
	}
	if DutyKind(0).Known() || DutyKind(12).Known() || DutyKind(12).String() != "duty_kind(12)" {
		t.Errorf("unknown duty kinds misreported")
	}
	for typ := TypeChainConfig; typ <= TypeResume; typ++ {
		if newEntry(typ) == nil || newEntry(typ).Type() != typ || strings.HasPrefix(typ.String(), "entry_type(") {
			t.Errorf("entry type %d has no entry or name", typ)
		}
	}
	if EntryType(10).Known() || EntryType(10).String() != "entry_type(10)" {
		t.Errorf("unknown entry types misreported")
	}
	if StatusApplied.String() != "applied" || StatusRejected.String() != "rejected" {
		t.Errorf("status names")
	}
}

// FuzzDecode: Decode never panics, and whatever it accepts re-encodes to bytes that decode to the same entry.
func FuzzDecode(f *testing.F) {
	for _, e := range exampleEntries() {
		b, err := Encode(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{1, 6})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b)
		if err != nil {
			return
		}
		b2, err := Encode(e)
		if err != nil {
			t.Fatalf("decoded entry does not encode: %v", err)
		}
		e2, err := Decode(b2)
		if err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		if !reflect.DeepEqual(e, e2) {
			t.Fatalf("decode→encode→decode changed the entry")
		}
		b3, _ := Encode(e2)
		if !bytes.Equal(b2, b3) {
			t.Fatalf("encoding not stable")
		}
	})
}
