package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/phalanx-eth/phalanx/api"
	"github.com/phalanx-eth/phalanx/api/apitest"
	"github.com/phalanx-eth/phalanx/fsm/eth"
)

func TestSignAttestationIdenticalAndSlashable(t *testing.T) {
	c := cluster(t)
	spec := testSpec(t, c)
	v := c.Validators[0]
	url := leaderURL(c) + "/api/v1/eth2/sign/" + v.Hex()

	body := signBody(t, api.TypeAttestation, "attestation", attData(16, 1, 2, 0xa1))
	r1 := do(t, http.MethodPost, url, body, nil)
	if r1.status != http.StatusOK {
		t.Fatalf("sign: %v", r1)
	}
	if ct := r1.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("default content type %q; want text/plain", ct)
	}
	checkSig(t, v, attRoot(t, spec, 16, 1, 2, 0xa1), string(r1.body))

	// The identical request gets the identical signature, as JSON when asked.
	r2 := do(t, http.MethodPost, url, body, map[string]string{"Accept": "application/json"})
	if r2.status != http.StatusOK {
		t.Fatalf("identical sign: %v", r2)
	}
	var js struct{ Signature string }
	if err := json.Unmarshal(r2.body, &js); err != nil {
		t.Fatalf("JSON answer %s: %v", r2.body, err)
	}
	if js.Signature != string(r1.body) {
		t.Fatalf("identical request got a different signature")
	}

	// A different attestation with the same target is a double vote: 412 with the reason, nothing changes.
	before := c.Snapshots()
	r3 := do(t, http.MethodPost, url, signBody(t, api.TypeAttestation, "attestation", attData(17, 1, 2, 0xa2)), nil)
	if r3.status != http.StatusPreconditionFailed || !strings.Contains(string(r3.body), "double_vote") {
		t.Fatalf("double vote: got %v; want 412 naming double_vote", r3)
	}
	// A surrounding vote too.
	r4 := do(t, http.MethodPost, url, signBody(t, api.TypeAttestation, "attestation", attData(40, 1, 5, 0xa3)), nil)
	if r4.status != http.StatusOK {
		t.Fatalf("next attestation: %v", r4)
	}
	before = c.Snapshots()
	r5 := do(t, http.MethodPost, url, signBody(t, api.TypeAttestation, "attestation", attData(32, 2, 4, 0xa4)), nil)
	if r5.status != http.StatusPreconditionFailed || !strings.Contains(string(r5.body), "surrounded_vote") {
		t.Fatalf("surrounding vote: got %v; want 412", r5)
	}
	after := c.Snapshots()
	if !bytes.Equal(before[0], after[0]) {
		t.Fatal("a refused request changed the replicated state")
	}
}

func TestSignBadRequests(t *testing.T) {
	c := cluster(t)
	v := c.Validators[1]
	base := leaderURL(c) + "/api/v1/eth2/sign/"
	var otherGVR [32]byte
	otherGVR[0] = 0x99
	wrongChain, _ := json.Marshal(map[string]any{"type": api.TypeAttestation, "fork_info": forkInfo(otherGVR), "attestation": attData(16, 1, 2, 0xb1)})
	unknown := "0x" + strings.Repeat("ab", 48)
	badRoot, _ := json.Marshal(map[string]any{"type": api.TypeRandaoReveal, "fork_info": forkInfo(apitest.GVR),
		"signingRoot": "0x" + strings.Repeat("00", 32), "randao_reveal": map[string]string{"epoch": "3"}})
	cases := []struct {
		name   string
		key    string
		body   []byte
		status int
		want   string
	}{
		{"malformed JSON", v.Hex(), []byte(`{"type":`), 400, "malformed JSON"},
		{"not a key", "0x1234", signBody(t, api.TypeRandaoReveal, "randao_reveal", map[string]string{"epoch": "1"}), 400, "48"},
		{"unknown key", unknown, signBody(t, api.TypeRandaoReveal, "randao_reveal", map[string]string{"epoch": "1"}), 404, "not a validator"},
		{"another chain", v.Hex(), wrongChain, 400, "genesis_validators_root"},
		{"missing message", v.Hex(), signBody(t, api.TypeAttestation, "", nil), 400, "attestation"},
		{"missing fork info", v.Hex(), []byte(`{"type":"RANDAO_REVEAL","randao_reveal":{"epoch":"1"}}`), 400, "fork_info"},
		{"deposit", v.Hex(), signBody(t, api.TypeDeposit, "deposit", map[string]string{}), 400, "DEPOSIT"},
		{"unknown type", v.Hex(), signBody(t, "FOO", "", nil), 400, "unsupported"},
		{"signing root mismatch", v.Hex(), badRoot, 400, "signingRoot"},
		{"wrong aggregator index", v.Hex(), signBody(t, api.TypeVoluntaryExit, "voluntary_exit", map[string]string{"epoch": "1", "validator_index": "7"}), 400, "index"},
	}
	before := c.Snapshots()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, http.MethodPost, base+tc.key, tc.body, nil)
			if r.status != tc.status || !strings.Contains(string(r.body), tc.want) {
				t.Fatalf("got %v; want %d mentioning %q", r, tc.status, tc.want)
			}
		})
	}
	after := c.Snapshots()
	if !bytes.Equal(before[0], after[0]) {
		t.Fatal("a refused request changed the replicated state")
	}
}

// TestSignEveryType signs one artifact of every type a validator signs and checks each group signature
// against the whole key and the signing root computed here from the message.
func TestSignEveryType(t *testing.T) {
	c := cluster(t)
	spec := testSpec(t, c)
	v := c.Validators[2]
	url := leaderURL(c) + "/api/v1/eth2/sign/" + v.Hex()
	root := func(b byte) phase0.Root {
		var r phase0.Root
		for i := range r {
			r[i] = b
		}
		return r
	}
	mustJSON := func(x any) json.RawMessage {
		b, err := json.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	header := &phase0.BeaconBlockHeader{Slot: 33, ProposerIndex: phase0.ValidatorIndex(v.Index), ParentRoot: root(1), StateRoot: root(2), BodyRoot: root(3)}
	hr, _ := header.HashTreeRoot()
	p0block := &phase0.BeaconBlock{Slot: 41, ProposerIndex: phase0.ValidatorIndex(v.Index), ParentRoot: root(4), StateRoot: root(5),
		Body: &phase0.BeaconBlockBody{RANDAOReveal: phase0.BLSSignature{0xc0}, ETH1Data: &phase0.ETH1Data{BlockHash: make([]byte, 32)},
			ProposerSlashings: []*phase0.ProposerSlashing{}, AttesterSlashings: []*phase0.AttesterSlashing{}, Attestations: []*phase0.Attestation{},
			Deposits: []*phase0.Deposit{}, VoluntaryExits: []*phase0.SignedVoluntaryExit{}}}
	p0root, err := p0block.HashTreeRoot()
	if err != nil {
		t.Fatal(err)
	}
	att := &phase0.Attestation{AggregationBits: []byte{0x03}, Data: &phase0.AttestationData{Slot: 50, BeaconBlockRoot: root(6),
		Source: &phase0.Checkpoint{Epoch: 5, Root: root(7)}, Target: &phase0.Checkpoint{Epoch: 6, Root: root(8)}}, Signature: phase0.BLSSignature{0xc0}}
	agg := &phase0.AggregateAndProof{AggregatorIndex: phase0.ValidatorIndex(v.Index), Aggregate: att, SelectionProof: phase0.BLSSignature{0xc0}}
	aggRoot, _ := agg.HashTreeRoot()
	contrib := &altair.ContributionAndProof{AggregatorIndex: phase0.ValidatorIndex(v.Index), SelectionProof: phase0.BLSSignature{0xc0},
		Contribution: &altair.SyncCommitteeContribution{Slot: 60, BeaconBlockRoot: root(9), SubcommitteeIndex: 1, AggregationBits: make([]byte, 16), Signature: phase0.BLSSignature{0xc0}}}
	contribRoot, _ := contrib.HashTreeRoot()
	reg := &apiv1.ValidatorRegistration{FeeRecipient: bellatrix.ExecutionAddress{1}, GasLimit: 30_000_000, Timestamp: time.Unix(apitest.GenesisTime+200, 0), Pubkey: phase0.BLSPubKey(v.Pubkey)}
	regRoot, err := spec.ValidatorRegistrationSigningRoot(reg)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		typ, field string
		msg        any
		root       [32]byte
	}{
		{api.TypeBlockV2, "beacon_block", map[string]any{"version": "BELLATRIX", "block_header": header}, spec.BlockSigningRoot(33, hr)},
		{api.TypeBlock, "block", p0block, spec.BlockSigningRoot(41, p0root)},
		{api.TypeRandaoReveal, "randao_reveal", map[string]string{"epoch": "5"}, spec.RandaoSigningRoot(5)},
		{api.TypeAggregationSlot, "aggregation_slot", map[string]string{"slot": "50"}, spec.SelectionProofSigningRoot(50)},
		{api.TypeAggregateAndProof, "aggregate_and_proof", agg, spec.AggregateAndProofSigningRoot(50, aggRoot)},
		{api.TypeAggregateAndProofV2, "aggregate_and_proof", map[string]any{"version": "DENEB", "data": agg}, spec.AggregateAndProofSigningRoot(50, aggRoot)},
		{api.TypeSyncCommitteeMessage, "sync_committee_message", map[string]any{"beacon_block_root": root(9), "slot": "60"}, spec.SyncCommitteeMessageSigningRoot(60, eth.Root(root(9)))},
		{api.TypeSyncCommitteeSelectionProof, "sync_aggregator_selection_data", map[string]string{"slot": "60", "subcommittee_index": "1"}, spec.SyncSelectionProofSigningRoot(60, 1)},
		{api.TypeSyncCommitteeContributionAndProof, "contribution_and_proof", contrib, spec.ContributionAndProofSigningRoot(60, contribRoot)},
		{api.TypeVoluntaryExit, "voluntary_exit", &phase0.VoluntaryExit{Epoch: 7, ValidatorIndex: phase0.ValidatorIndex(v.Index)}, spec.VoluntaryExitSigningRoot(&phase0.VoluntaryExit{Epoch: 7, ValidatorIndex: phase0.ValidatorIndex(v.Index)})},
		{api.TypeValidatorRegistration, "validator_registration", reg, regRoot},
	}
	for _, tc := range cases {
		t.Run(tc.typ, func(t *testing.T) {
			body := signBody(t, tc.typ, tc.field, mustJSON(tc.msg))
			r := do(t, http.MethodPost, url, body, nil)
			if r.status != http.StatusOK {
				t.Fatalf("sign %s: %v", tc.typ, r)
			}
			checkSig(t, v, tc.root, string(r.body))
		})
	}
	// A second, different block at slot 33 is a double proposal.
	other := *header
	other.StateRoot = root(0xee)
	r := do(t, http.MethodPost, url, signBody(t, api.TypeBlockV2, "beacon_block", map[string]any{"version": "BELLATRIX", "block_header": &other}), nil)
	if r.status != http.StatusPreconditionFailed || !strings.Contains(string(r.body), "double_proposal") {
		t.Fatalf("double proposal: %v", r)
	}
}

func TestFollowerForwardsToLeader(t *testing.T) {
	c := cluster(t)
	spec := testSpec(t, c)
	v := c.Validators[0]
	l := c.WaitLeader()
	f := c.Follower()
	if f < 0 {
		t.Fatal("no follower")
	}
	r := do(t, http.MethodPost, c.URLs[f]+"/api/v1/eth2/sign/"+v.Hex(), signBody(t, api.TypeRandaoReveal, "randao_reveal", map[string]string{"epoch": "9"}), nil)
	if r.status != http.StatusOK {
		t.Fatalf("sign through follower: %v", r)
	}
	if got := r.header.Get(api.HeaderLeader); got != apitest.Name(l) && c.Leader() == l {
		t.Errorf("%s header %q; want %q", api.HeaderLeader, got, apitest.Name(l))
	}
	checkSig(t, v, spec.RandaoSigningRoot(9), string(r.body))
	g := do(t, http.MethodGet, c.URLs[f]+"/eth/v1/beacon/genesis", nil, nil)
	if g.status != http.StatusOK || g.header.Get(api.HeaderLeader) == "" {
		t.Fatalf("genesis through follower: %v (leader header %q)", g, g.header.Get(api.HeaderLeader))
	}
	// publicKeys and upcheck answer locally on every node.
	pk := do(t, http.MethodGet, c.URLs[f]+"/api/v1/eth2/publicKeys", nil, nil)
	var keys []string
	if err := json.Unmarshal(pk.body, &keys); err != nil || len(keys) != len(c.Validators) {
		t.Fatalf("publicKeys: %v (%v)", pk, err)
	}
	if u := do(t, http.MethodGet, c.URLs[f]+"/upcheck", nil, nil); u.status != http.StatusOK {
		t.Fatalf("upcheck: %v", u)
	}
}
