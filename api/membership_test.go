package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/phalanx-eth/phalanx/api"
	"github.com/phalanx-eth/phalanx/api/apitest"
)

// TestMembershipRequestsRefused sends bad membership requests to the admin API, through a follower (which
// forwards them) and to the leader, and checks that each gets a 4xx naming the problem and that the raft
// configuration, seen by every member, does not change. Among them: re-adding a member under another
// address, or another member's peer under a new name, which would silently re-point or duplicate a member.
func TestMembershipRequestsRefused(t *testing.T) {
	c := apitest.New(t, apitest.Options{Validators: 1, Spare: 1, SparesWithoutShares: true})
	l := c.WaitLeader()
	f := c.Follower()
	other := (l + 1) % 3
	if other == f {
		other = (l + 2) % 3
	}
	// A well-formed address whose peer is node-1's, on another port.
	n1Peer := c.PeerAddress(0)[strings.Index(c.PeerAddress(0), "/p2p/"):]
	spareAddr := c.PeerAddress(3)
	peersOf := func(i int) api.PeersResponse {
		t.Helper()
		cl := &api.Client{BaseURL: c.URLs[i], Token: apitest.AdminToken}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p, err := cl.Peers(ctx)
		if err != nil {
			t.Fatalf("peers of %s: %v", apitest.Name(i), err)
		}
		return p
	}
	before := peersOf(l)
	if len(before.Members) != 3 {
		t.Fatalf("peers before: %+v", before)
	}
	body := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name   string
		path   string
		body   []byte
		hdr    map[string]string
		status int
		want   string
	}{
		{"no token", "/v1/cluster/add-voter", body(api.MemberRequest{ID: "node-4", Address: spareAddr}), map[string]string{}, http.StatusUnauthorized, ""},
		{"wrong token", "/v1/cluster/remove", body(api.MemberRequest{ID: apitest.Name(other)}), map[string]string{"Authorization": "Bearer wrong-token-wrong-token"}, http.StatusForbidden, ""},
		{"malformed JSON", "/v1/cluster/add-voter", []byte(`{"id":`), nil, 400, "malformed JSON"},
		{"unknown field", "/v1/cluster/add-voter", []byte(`{"id":"node-4","addr":"x"}`), nil, 400, "addr"},
		{"no id", "/v1/cluster/add-voter", body(api.MemberRequest{Address: spareAddr}), nil, 400, "id is required"},
		{"no address", "/v1/cluster/add-nonvoter", body(api.MemberRequest{ID: "node-4"}), nil, 400, "address is required"},
		{"address without peer ID", "/v1/cluster/add-voter", body(api.MemberRequest{ID: "node-4", Address: "/ip4/127.0.0.1/tcp/1"}), nil, 400, "/ip4/127.0.0.1/tcp/1"},
		{"not a multiaddr", "/v1/cluster/add-voter", body(api.MemberRequest{ID: "node-4", Address: "127.0.0.1:9000"}), nil, 400, "127.0.0.1:9000"},
		{"existing member under another address", "/v1/cluster/add-voter", body(api.MemberRequest{ID: apitest.Name(other), Address: spareAddr}), nil, 400, apitest.Name(other)},
		{"existing voter again", "/v1/cluster/add-voter", body(api.MemberRequest{ID: apitest.Name(other), Address: c.PeerAddress(other)}), nil, 400, "already"},
		{"demote a voter by adding it as a non-voter", "/v1/cluster/add-nonvoter", body(api.MemberRequest{ID: apitest.Name(other), Address: c.PeerAddress(other)}), nil, 400, "already"},
		{"a member's peer under a new name", "/v1/cluster/add-voter", body(api.MemberRequest{ID: "node-9", Address: "/ip4/127.0.0.1/tcp/1" + n1Peer}), nil, 400, "node-1"},
		{"remove without id", "/v1/cluster/remove", body(api.MemberRequest{}), nil, 400, "id is required"},
		{"remove an unknown member", "/v1/cluster/remove", body(api.MemberRequest{ID: "node-9"}), nil, 400, "no such member"},
		{"transfer to an unknown member", "/v1/cluster/transfer-leader", body(api.MemberRequest{ID: "node-9"}), nil, 400, "node-9"},
	}
	for _, via := range []int{f, l} {
		for _, tc := range cases {
			t.Run(apitest.Name(via)+"/"+tc.name, func(t *testing.T) {
				hdr := tc.hdr
				if hdr == nil {
					hdr = admin()
				}
				r := do(t, http.MethodPost, c.URLs[via]+tc.path, tc.body, hdr)
				if r.status != tc.status || !strings.Contains(string(r.body), tc.want) {
					t.Fatalf("got %v; want %d mentioning %q", r, tc.status, tc.want)
				}
			})
		}
	}
	// Nothing changed, as every member sees it, and the leader is the same.
	for i := 0; i < 3; i++ {
		if after := peersOf(i); !reflect.DeepEqual(before, after) {
			t.Errorf("peers of %s after refused requests: %+v; want %+v", apitest.Name(i), after, before)
		}
	}
	snaps := c.Snapshots()
	for i := 1; i < len(snaps); i++ {
		if !bytes.Equal(snaps[0], snaps[i]) {
			t.Fatal("FSM snapshots differ after refused membership requests")
		}
	}

	// A non-voter is promoted by add-voter at its own address (the one accepted re-add).
	c.Start(3)
	if r := do(t, http.MethodPost, c.URLs[f]+"/v1/cluster/add-nonvoter", body(api.MemberRequest{ID: "node-4", Address: spareAddr}), admin()); r.status != http.StatusOK {
		t.Fatalf("add-nonvoter node-4: %v", r)
	}
	if r := do(t, http.MethodPost, c.URLs[f]+"/v1/cluster/add-voter", body(api.MemberRequest{ID: "node-4", Address: spareAddr}), admin()); r.status != http.StatusOK {
		t.Fatalf("promote node-4: %v", r)
	}
	c.WaitFor("node-4 to be a voter on the leader", 20*time.Second, func() bool {
		for _, m := range peersOf(c.WaitLeader()).Members {
			if m.ID == "node-4" {
				return m.Voter
			}
		}
		return false
	})
}
