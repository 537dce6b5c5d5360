package api

import (
	"errors"
	"testing"
)

// FuzzDecodeSignRequest: the decoder never panics, and every error it returns wraps ErrBadSignRequest.
func FuzzDecodeSignRequest(f *testing.F) {
	fork := `"fork_info":{"fork":{"previous_version":"0x10000000","current_version":"0x10000000","epoch":"0"},"genesis_validators_root":"0x4b363db901000000000000000000000000000000000000000000000000000000"}`
	for _, s := range []string{
		`{"type":"ATTESTATION",` + fork + `,"attestation":{"slot":"16","index":"0","beacon_block_root":"0x0000000000000000000000000000000000000000000000000000000000000000","source":{"epoch":"1","root":"0x0000000000000000000000000000000000000000000000000000000000000000"},"target":{"epoch":"2","root":"0x0000000000000000000000000000000000000000000000000000000000000000"}}}`,
		`{"type":"RANDAO_REVEAL",` + fork + `,"randao_reveal":{"epoch":"3"}}`,
		`{"type":"BLOCK_V2",` + fork + `,"beacon_block":{"version":"BELLATRIX","block_header":{"slot":"1","proposer_index":"1","parent_root":"0x00","state_root":"0x00","body_root":"0x00"}}}`,
		`{"type":"AGGREGATE_AND_PROOF_V2",` + fork + `,"aggregate_and_proof":{"version":"ELECTRA","data":{}}}`,
		`{"type":"VALIDATOR_REGISTRATION","validator_registration":{"fee_recipient":"0x00","gas_limit":"1","timestamp":"1","pubkey":"0x00"}}`,
		`{"type":"DEPOSIT"}`, `{}`, `[]`, `{"type":"ATTESTATION"`, `{"type":"SYNC_COMMITTEE_MESSAGE",` + fork + `,"sync_committee_message":{"beacon_block_root":"0x","slot":"x"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeSignRequest(b)
		if err != nil {
			if !errors.Is(err, ErrBadSignRequest) {
				t.Fatalf("error does not wrap ErrBadSignRequest: %v", err)
			}
			return
		}
		if r.Type == "" {
			t.Fatal("accepted a request without a type")
		}
	})
}
