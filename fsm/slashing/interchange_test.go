package slashing

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// eipExample is the "Example JSON Instance" of EIP-3076.
const eipExample = `{
  "metadata": {
    "interchange_format_version": "5",
    "genesis_validators_root": "0x04700007fabc8282644aed6d1c7c9e21d38a03a0c4ba193f3afe428824b3a673"
  },
  "data": [
    {
      "pubkey": "0xb845089a1457f811bfc000588fbb4e713669be8ce060ea6be3c6ece09afc3794106c91ca73acda5e5457122d58723bed",
      "signed_blocks": [
        {
          "slot": "81952",
          "signing_root": "0x4ff6f743a43f3b4f95350831aeaf0a122a1a392922c45d804280284a69eb850b"
        },
        {
          "slot": "81951"
        }
      ],
      "signed_attestations": [
        {
          "source_epoch": "2290",
          "target_epoch": "3007",
          "signing_root": "0x587d6a4f59a58fe24f406e0502413e77fe1babddee641fda30034ed37ecc884d"
        },
        {
          "source_epoch": "2290",
          "target_epoch": "3008"
        }
      ]
    }
  ]
}`

func TestParseInterchangeEIPExample(t *testing.T) {
	ic, err := ParseInterchange([]byte(eipExample))
	if err != nil {
		t.Fatal(err)
	}
	if ic.Metadata.GenesisValidatorsRoot.String() != "0x04700007fabc8282644aed6d1c7c9e21d38a03a0c4ba193f3afe428824b3a673" {
		t.Fatalf("gvr %s", ic.Metadata.GenesisValidatorsRoot)
	}
	v := ic.Data[0]
	if v.Pubkey.String()[:10] != "0xb845089a" || len(v.SignedBlocks) != 2 || len(v.SignedAttestations) != 2 {
		t.Fatalf("parsed %+v", v)
	}
	if v.SignedBlocks[0].Slot != 81952 || v.SignedBlocks[0].SigningRoot.String()[:10] != "0x4ff6f743" ||
		v.SignedBlocks[1].Slot != 81951 || !v.SignedBlocks[1].SigningRoot.IsZero() {
		t.Fatalf("blocks %+v", v.SignedBlocks)
	}
	if a := v.SignedAttestations[1]; a.SourceEpoch != 2290 || a.TargetEpoch != 3008 || !a.SigningRoot.IsZero() {
		t.Fatalf("attestations %+v", v.SignedAttestations)
	}

	// encoding/json goes through the same strict parser, and the encoding is the
	// EIP's shape: re-parsing it gives the same document.
	var viaJSON Interchange
	if err := json.Unmarshal([]byte(eipExample), &viaJSON); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(viaJSON)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseInterchange(out)
	if err != nil {
		t.Fatalf("re-parse own encoding: %v\n%s", err, out)
	}
	out2, _ := json.Marshal(again)
	if !bytes.Equal(out, out2) {
		t.Fatalf("JSON round trip differs:\n%s\n%s", out, out2)
	}
	if !strings.Contains(string(out), `"slot":"81951"}`) {
		t.Fatalf("absent signing root should be omitted, slots quoted: %s", out)
	}
	if err := json.Unmarshal([]byte(`{"metadata":{}}`), &viaJSON); !errors.Is(err, ErrInvalidInterchange) {
		t.Fatalf("json.Unmarshal bypassed validation: %v", err)
	}
}

func TestParseInterchangeErrors(t *testing.T) {
	const gvr = `"0x0000000000000000000000000000000000000000000000000000000000000000"`
	const pk = `"0xa99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c"`
	doc := func(version, root, data string) string {
		return `{"metadata":{"interchange_format_version":` + version + `,"genesis_validators_root":` + root + `},"data":` + data + `}`
	}
	val := func(blocks, atts string) string {
		return doc(`"5"`, gvr, `[{"pubkey":`+pk+`,"signed_blocks":`+blocks+`,"signed_attestations":`+atts+`}]`)
	}
	tests := []struct {
		name, in, wantPath string
		version            bool
	}{
		{"not json", `{"metadata":`, "document", false},
		{"array document", `[]`, "document", false},
		{"trailing garbage", doc(`"5"`, gvr, `[]`) + `x`, "document", false},
		{"missing metadata", `{"data":[]}`, "metadata", false},
		{"missing data", `{"metadata":{"interchange_format_version":"5","genesis_validators_root":` + gvr + `}}`, "data: required", false},
		{"null data", doc(`"5"`, gvr, `null`), "data: must be an array", false},
		{"missing version", `{"metadata":{"genesis_validators_root":` + gvr + `},"data":[]}`, "interchange_format_version: required", false},
		{"numeric version", doc(`5`, gvr, `[]`), "interchange_format_version: must be a string", false},
		{"version 4", doc(`"4"`, gvr, `[]`), "interchange_format_version", true},
		{"missing gvr", `{"metadata":{"interchange_format_version":"5"},"data":[]}`, "genesis_validators_root: required", false},
		{"gvr without 0x", doc(`"5"`, `"`+strings.Repeat("00", 32)+`"`, `[]`), "genesis_validators_root", false},
		{"short gvr", doc(`"5"`, `"0x00"`, `[]`), "genesis_validators_root", false},
		{"bad hex gvr", doc(`"5"`, `"0x`+strings.Repeat("zz", 32)+`"`, `[]`), "genesis_validators_root", false},
		{"missing pubkey", doc(`"5"`, gvr, `[{"signed_blocks":[],"signed_attestations":[]}]`), "data[0].pubkey: required", false},
		{"short pubkey", doc(`"5"`, gvr, `[{"pubkey":"0xa99a","signed_blocks":[],"signed_attestations":[]}]`), "data[0].pubkey", false},
		{"missing signed_blocks", doc(`"5"`, gvr, `[{"pubkey":`+pk+`,"signed_attestations":[]}]`), "data[0].signed_blocks: required", false},
		{"missing signed_attestations", doc(`"5"`, gvr, `[{"pubkey":`+pk+`,"signed_blocks":[]}]`), "data[0].signed_attestations: required", false},
		{"missing slot", val(`[{}]`, `[]`), "data[0].signed_blocks[0].slot: required", false},
		{"numeric slot", val(`[{"slot":5}]`, `[]`), "data[0].signed_blocks[0].slot: must be a string", false},
		{"negative slot", val(`[{"slot":"-5"}]`, `[]`), "data[0].signed_blocks[0].slot", false},
		{"hex slot", val(`[{"slot":"0x5"}]`, `[]`), "data[0].signed_blocks[0].slot", false},
		{"empty slot", val(`[{"slot":""}]`, `[]`), "data[0].signed_blocks[0].slot", false},
		{"slot overflow", val(`[{"slot":"18446744073709551616"}]`, `[]`), "data[0].signed_blocks[0].slot", false},
		{"bad block root", val(`[{"slot":"1"},{"slot":"2","signing_root":"0x12"}]`, `[]`), "data[0].signed_blocks[1].signing_root", false},
		{"missing source", val(`[]`, `[{"target_epoch":"2"}]`), "data[0].signed_attestations[0].source_epoch: required", false},
		{"missing target", val(`[]`, `[{"source_epoch":"2"}]`), "data[0].signed_attestations[0].target_epoch: required", false},
		{"bad attestation root", val(`[]`, `[{"source_epoch":"1","target_epoch":"2","signing_root":7}]`), "data[0].signed_attestations[0].signing_root: must be a string", false},
		{"block not an object", val(`["5"]`, `[]`), "data[0].signed_blocks[0]: must be an object", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseInterchange([]byte(tt.in))
			if !errors.Is(err, ErrInvalidInterchange) {
				t.Fatalf("error %v, want ErrInvalidInterchange", err)
			}
			if errors.Is(err, ErrUnsupportedVersion) != tt.version {
				t.Fatalf("error %v: ErrUnsupportedVersion = %v, want %v", err, !tt.version, tt.version)
			}
			if !strings.Contains(err.Error(), tt.wantPath) {
				t.Fatalf("error %q does not name %q", err, tt.wantPath)
			}
		})
	}
}

func TestImportRejectsAndLeavesDBUnchanged(t *testing.T) {
	gvr := Root{0x42}
	db := goldenDB()
	before := mustMarshal(t, db)
	ic, err := db.Export(gvr, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	ic.Data = append(ic.Data, InterchangeValidator{Pubkey: Pubkey{0xd}, SignedBlocks: []SignedBlock{{Slot: 1}}})

	if _, err := db.Import(ic, Root{0x43}); !errors.Is(err, ErrGenesisMismatch) {
		t.Fatalf("error %v, want ErrGenesisMismatch", err)
	}
	if !bytes.Equal(mustMarshal(t, db), before) {
		t.Fatal("genesis mismatch changed the DB")
	}
	ic.Metadata.InterchangeFormatVersion = "4"
	if _, err := db.Import(ic, gvr); !errors.Is(err, ErrUnsupportedVersion) {
		t.Fatalf("error %v, want ErrUnsupportedVersion", err)
	}
	if _, err := db.Import(nil, gvr); !errors.Is(err, ErrInvalidInterchange) {
		t.Fatalf("error %v, want ErrInvalidInterchange", err)
	}
	if !bytes.Equal(mustMarshal(t, db), before) {
		t.Fatal("rejected import changed the DB")
	}
}

func TestExportImportExportRoundTrip(t *testing.T) {
	gvr := Root{0x42}
	for _, complete := range []bool{true, false} {
		db := goldenDB()
		first, err := db.Export(gvr, nil, complete)
		if err != nil {
			t.Fatal(err)
		}
		j1, err := json.Marshal(first)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := ParseInterchange(j1)
		if err != nil {
			t.Fatalf("parse own export: %v\n%s", err, j1)
		}
		fresh := New()
		rep, err := fresh.Import(parsed, gvr)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Validators != 3 || rep.NewValidators != 3 {
			t.Fatalf("report %+v", rep)
		}
		second, err := fresh.Export(gvr, nil, complete)
		if err != nil {
			t.Fatal(err)
		}
		j2, _ := json.Marshal(second)
		if !bytes.Equal(j1, j2) {
			t.Fatalf("complete=%v: export → import → export differs:\n%s\n%s", complete, j1, j2)
		}
	}
}

func TestExportShapes(t *testing.T) {
	gvr := Root{0x42}
	db := goldenDB()

	// pkA after goldenDB: block watermark 10, blocks 70 (unknown), 70 (r0),
	// 70 (r2), 300 (r1); attestation watermarks (0, 1), attestations (1, 2,
	// unknown), (1, 2, r0), (2, 9, r1), (3, 9, r2). Unknown roots and watermarks
	// are exported without signing_root, explicit roots (r0 included) with one.
	ic, err := db.Export(gvr, []Pubkey{pkA, {0xee}, pkA}, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(ic.Data) != 2 || ic.Data[0].Pubkey != pkA || ic.Data[1].Pubkey != (Pubkey{0xee}) {
		t.Fatalf("want pkA then the unknown key once, got %d entries", len(ic.Data))
	}
	if v := ic.Data[1]; v.SignedBlocks == nil || v.SignedAttestations == nil || len(v.SignedBlocks)+len(v.SignedAttestations) != 0 {
		t.Fatal("unknown validator must be exported with empty lists")
	}
	wantBlocks := []SignedBlock{{Slot: 10}, {Slot: 70}, {Slot: 70, SigningRoot: KnownRoot(r0)}, {Slot: 70, SigningRoot: KnownRoot(r2)}, {Slot: 300, SigningRoot: KnownRoot(r1)}}
	if got := ic.Data[0].SignedBlocks; !equalSlices(got, wantBlocks) {
		t.Fatalf("complete blocks %+v, want %+v", got, wantBlocks)
	}
	wantAtts := []SignedAttestation{{SourceEpoch: 0, TargetEpoch: 1}, {SourceEpoch: 1, TargetEpoch: 2}, {SourceEpoch: 1, TargetEpoch: 2, SigningRoot: KnownRoot(r0)}, {SourceEpoch: 2, TargetEpoch: 9, SigningRoot: KnownRoot(r1)}, {SourceEpoch: 3, TargetEpoch: 9, SigningRoot: KnownRoot(r2)}}
	if got := ic.Data[0].SignedAttestations; !equalSlices(got, wantAtts) {
		t.Fatalf("complete attestations %+v, want %+v", got, wantAtts)
	}

	minimal, err := db.Export(gvr, []Pubkey{pkA, pkB}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := minimal.Data[0].SignedBlocks; !equalSlices(got, []SignedBlock{{Slot: 300, SigningRoot: KnownRoot(r1)}}) {
		t.Fatalf("minimal blocks %+v", got)
	}
	// Two records at target 9: the minimal attestation carries no signing root.
	if got := minimal.Data[0].SignedAttestations; !equalSlices(got, []SignedAttestation{{SourceEpoch: 3, TargetEpoch: 9}}) {
		t.Fatalf("minimal attestations %+v", got)
	}
	if got := minimal.Data[1].SignedAttestations; !equalSlices(got, []SignedAttestation{{SourceEpoch: 200, TargetEpoch: 201, SigningRoot: KnownRoot(r2)}}) {
		t.Fatalf("minimal attestations of pkB %+v", got)
	}
}

func equalSlices[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestImportReportAndMerge(t *testing.T) {
	gvr := Root{}
	db := New()
	db.RecordProposal(pkA, 50, r1)
	ic := &Interchange{
		Metadata: InterchangeMetadata{InterchangeFormatVersion: "5", GenesisValidatorsRoot: gvr},
		Data: []InterchangeValidator{
			{Pubkey: pkA, SignedBlocks: []SignedBlock{{Slot: 60, SigningRoot: KnownRoot(r1)}, {Slot: 50, SigningRoot: KnownRoot(r1)}}},
			{Pubkey: pkB, SignedAttestations: []SignedAttestation{{SourceEpoch: 1, TargetEpoch: 2}}},
			{Pubkey: pkA, SignedBlocks: []SignedBlock{{Slot: 40}}, SignedAttestations: []SignedAttestation{{SourceEpoch: 3, TargetEpoch: 2}}},
		},
	}
	rep, err := db.Import(ic, gvr)
	if err != nil {
		t.Fatal(err)
	}
	want := ImportReport{
		Validators: 2, NewValidators: 1,
		Blocks: 3, Attestations: 2,
		AddedBlocks: 2, AddedAttestations: 2, // 50/r1 was already there
		ConflictingBlocks: 1, ConflictingAttestations: 1, // slot 40 below 50; source after target
	}
	if rep != want {
		t.Fatalf("report %+v\nwant   %+v", rep, want)
	}
	// Both entries for pkA were merged: the lowest block is now 40.
	if v := db.CheckProposal(pkA, 39, r1); v.Reason != ProposalBelowWatermark {
		t.Fatalf("slot 39: %v, want proposal_below_watermark", v)
	}
	if v := db.CheckProposal(pkA, 45, r1); !v.Approved {
		t.Fatalf("slot 45 lies between signed blocks and was never signed: %v", v)
	}
	if got := db.Validators(); !equalSlices(got, []Pubkey{pkA, pkB}) {
		t.Fatalf("validators %v", got)
	}
}

// TestInterchangeExplicitZeroRoot checks that an all-zero signing_root is an
// explicit root (a repeat signing matches it) while an absent or null one is
// unknown (nothing matches it), and that export writes each back the way it came.
func TestInterchangeExplicitZeroRoot(t *testing.T) {
	const zero = `"0x0000000000000000000000000000000000000000000000000000000000000000"`
	const pk = `"0xa99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c"`
	in := `{"metadata":{"interchange_format_version":"5","genesis_validators_root":` + zero + `},"data":[{"pubkey":` + pk + `,` +
		`"signed_blocks":[{"slot":"1"},{"slot":"2","signing_root":null},{"slot":"3","signing_root":` + zero + `}],` +
		`"signed_attestations":[{"source_epoch":"0","target_epoch":"1"},{"source_epoch":"1","target_epoch":"2","signing_root":` + zero + `}]}]}`
	ic, err := ParseInterchange([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	wantBlocks := []SignedBlock{{Slot: 1}, {Slot: 2}, {Slot: 3, SigningRoot: KnownRoot(Root{})}}
	if got := ic.Data[0].SignedBlocks; !equalSlices(got, wantBlocks) {
		t.Fatalf("parsed blocks %+v, want %+v", got, wantBlocks)
	}
	db := New()
	if _, err := db.Import(ic, Root{}); err != nil {
		t.Fatal(err)
	}
	key := ic.Data[0].Pubkey
	for _, tc := range []struct {
		slot uint64
		want bool
	}{{1, false}, {2, false}, {3, true}} {
		if v := db.CheckProposal(key, tc.slot, Root{}); v.Approved != tc.want {
			t.Errorf("slot %d with the zero root: %v, want approved=%v", tc.slot, v, tc.want)
		}
	}
	if v := db.CheckAttestation(key, 0, 1, Root{}); v.Approved {
		t.Errorf("repeat of an attestation with unknown root: %v, want denied", v)
	}
	if v := db.CheckAttestation(key, 1, 2, Root{}); !v.Approved {
		t.Errorf("repeat of an attestation with explicit zero root: %v, want approved", v)
	}

	out, err := db.Export(Root{}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`{"slot":"1"}`, `{"slot":"2"}`, `{"slot":"3","signing_root":` + zero + `}`,
		`{"source_epoch":"0","target_epoch":"1"}`, `{"source_epoch":"1","target_epoch":"2","signing_root":` + zero + `}`,
	} {
		if !strings.Contains(string(enc), want) {
			t.Errorf("export lacks %s:\n%s", want, enc)
		}
	}
}

func TestOptionalRootJSON(t *testing.T) {
	for _, tc := range []struct {
		root OptionalRoot
		json string
	}{
		{OptionalRoot{}, `null`},
		{KnownRoot(Root{}), `"0x0000000000000000000000000000000000000000000000000000000000000000"`},
		{KnownRoot(r1), `"` + r1.String() + `"`},
	} {
		enc, err := json.Marshal(tc.root)
		if err != nil || string(enc) != tc.json {
			t.Fatalf("marshal %v: %s, %v; want %s", tc.root, enc, err, tc.json)
		}
		var back OptionalRoot
		if err := json.Unmarshal(enc, &back); err != nil || back != tc.root {
			t.Fatalf("unmarshal %s: %v, %v; want %v", enc, back, err, tc.root)
		}
	}
	var r OptionalRoot
	for _, bad := range []string{`"0x00"`, `7`, `"00"`} {
		if err := json.Unmarshal([]byte(bad), &r); err == nil {
			t.Errorf("unmarshal %s: no error", bad)
		}
	}
	if (OptionalRoot{}).Matches(OptionalRoot{}) || !KnownRoot(Root{}).Matches(KnownRoot(Root{})) || KnownRoot(r1).Matches(KnownRoot(r2)) {
		t.Fatal("Matches: unknown matches nothing, explicit roots match themselves only")
	}
}
