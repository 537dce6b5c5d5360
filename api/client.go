package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/phalanx-eth/phalanx/cluster"
)

// Client calls a node's admin API. The CLI verbs are thin wrappers around it.
type Client struct {
	// BaseURL is the node's API address, such as http://127.0.0.1:5060.
	BaseURL string
	// Token is the admin token.
	Token string
	// HTTP is the client used; nil means a client with a one-minute timeout.
	HTTP *http.Client
}

// Error is an error answer from the API.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("HTTP %d", e.Status)
	}
	return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
}

func (cl *Client) http() *http.Client {
	if cl.HTTP != nil {
		return cl.HTTP
	}
	return &http.Client{Timeout: time.Minute}
}

func (cl *Client) do(ctx context.Context, method, path string, body io.Reader, contentType string) (*http.Response, error) {
	u := strings.TrimRight(cl.BaseURL, "/") + path
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if cl.Token != "" {
		req.Header.Set("Authorization", "Bearer "+cl.Token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := cl.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var eb errorBody
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &eb) == nil && eb.Message != "" {
			msg = eb.Message
		}
		return nil, &Error{Status: resp.StatusCode, Message: msg}
	}
	return resp, nil
}

func (cl *Client) getJSON(ctx context.Context, path string, out any) error {
	resp, err := cl.do(ctx, http.MethodGet, path, nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("GET %s: decode response: %w", path, err)
	}
	return nil
}

func (cl *Client) postJSON(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return cl.post(ctx, path, bytes.NewReader(b), "application/json", out)
}

func (cl *Client) post(ctx context.Context, path string, body io.Reader, ct string, out any) error {
	resp, err := cl.do(ctx, http.MethodPost, path, body, ct)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("POST %s: decode response: %w", path, err)
	}
	return nil
}

// Status returns the node's view of the cluster.
func (cl *Client) Status(ctx context.Context) (cluster.Status, error) {
	var st cluster.Status
	err := cl.getJSON(ctx, "/v1/cluster/status", &st)
	return st, err
}

// Peers returns the members of the raft configuration.
func (cl *Client) Peers(ctx context.Context) (PeersResponse, error) {
	var p PeersResponse
	err := cl.getJSON(ctx, "/v1/cluster/peers", &p)
	return p, err
}

// AddVoter adds a voting member.
func (cl *Client) AddVoter(ctx context.Context, id, address string) (OKResponse, error) {
	return cl.action(ctx, "/v1/cluster/add-voter", MemberRequest{ID: id, Address: address})
}

// AddNonvoter adds a non-voting member.
func (cl *Client) AddNonvoter(ctx context.Context, id, address string) (OKResponse, error) {
	return cl.action(ctx, "/v1/cluster/add-nonvoter", MemberRequest{ID: id, Address: address})
}

// Remove removes a member.
func (cl *Client) Remove(ctx context.Context, id string) (OKResponse, error) {
	return cl.action(ctx, "/v1/cluster/remove", MemberRequest{ID: id})
}

// TransferLeader hands leadership to id (the most up-to-date member when empty).
func (cl *Client) TransferLeader(ctx context.Context, id string) (OKResponse, error) {
	return cl.action(ctx, "/v1/cluster/transfer-leader", MemberRequest{ID: id})
}

func (cl *Client) action(ctx context.Context, path string, req MemberRequest) (OKResponse, error) {
	var ok OKResponse
	err := cl.postJSON(ctx, path, req, &ok)
	return ok, err
}

// SnapshotSave streams a snapshot of the node's state to w and returns its size.
func (cl *Client) SnapshotSave(ctx context.Context, w io.Writer) (int64, error) {
	resp, err := cl.do(ctx, http.MethodGet, "/v1/cluster/snapshot", nil, "")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("download snapshot: %w", err)
	}
	return n, nil
}

// SnapshotRestore uploads a snapshot file and replaces the cluster's state with it.
func (cl *Client) SnapshotRestore(ctx context.Context, r io.Reader) (OKResponse, error) {
	var ok OKResponse
	err := cl.post(ctx, "/v1/cluster/snapshot/restore", r, "application/octet-stream", &ok)
	return ok, err
}

// Why explains what the cluster decided for validator (0x public key or index) at slot.
func (cl *Client) Why(ctx context.Context, slot uint64, validator string) (WhyResponse, error) {
	var w WhyResponse
	err := cl.getJSON(ctx, fmt.Sprintf("/v1/cluster/why/%d/%s", slot, url.PathEscape(validator)), &w)
	return w, err
}

// SlashingExport writes the EIP-3076 interchange of pubkeys (all when empty) to w.
func (cl *Client) SlashingExport(ctx context.Context, w io.Writer, pubkeys []string, complete bool) error {
	q := url.Values{}
	for _, p := range pubkeys {
		q.Add("pubkey", p)
	}
	if complete {
		q.Set("complete", "true")
	}
	path := "/v1/slashing/export"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	resp, err := cl.do(ctx, http.MethodGet, path, nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("download interchange: %w", err)
	}
	return nil
}

// SlashingImport imports an EIP-3076 interchange document through the log.
func (cl *Client) SlashingImport(ctx context.Context, r io.Reader) (OKResponse, error) {
	var ok OKResponse
	err := cl.post(ctx, "/v1/slashing/import", r, "application/json", &ok)
	return ok, err
}

// IsStatus reports whether err is an API answer with the given HTTP status.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}
