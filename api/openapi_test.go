package api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// testdata returns ../shared/testdata relative to the repository root, or skips.
func testdata(t *testing.T, sub string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("repository root (go.mod) not found")
		}
		dir = parent
	}
	p := filepath.Join(dir, "..", "shared", "testdata", sub)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("third-party vectors not found at %s: %v", p, err)
	}
	return p
}

// spec loads an OpenAPI document with its relative $refs. The servers block (a templated URL) is dropped so
// that routes match on path alone.
func loadSpec(t *testing.T, path string) routers.Router {
	t.Helper()
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = true
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	doc.Servers = nil
	r, err := legacy.NewRouter(doc, openapi3.DisableSchemaPatternValidation(), openapi3.DisableExamplesValidation())
	if err != nil {
		t.Fatalf("router for %s: %v", path, err)
	}
	return r
}

// validate checks one response against the document: status, content type and body schema.
func validate(t *testing.T, router routers.Router, method, rawURL string, hdr map[string]string, res result) {
	t.Helper()
	if err := validateErr(t, router, method, rawURL, hdr, res); err != nil {
		t.Errorf("%s %s (%d) does not match the spec: %v\nbody: %s", method, rawURL, res.status, err, res.body)
	}
}

func validateErr(t *testing.T, router routers.Router, method, rawURL string, hdr map[string]string, res result) error {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(method, u.Path+"?"+u.RawQuery, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s: not in the spec: %v", method, u.Path, err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status:  res.status,
		Header:  res.header,
		Body:    io.NopCloser(bytes.NewReader(res.body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	return openapi3filter.ValidateResponse(context.Background(), in)
}
