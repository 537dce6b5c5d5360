package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// loadNodeFile reads a node config file and returns it with the directory relative paths resolve against.
func loadNodeFile(path string) (*nodeFile, string, error) {
	if path == "" {
		return nil, "", errors.New("--config is required")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("node config: %w", err)
	}
	var nf nodeFile
	dec := json.NewDecoder(bytesReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&nf); err != nil {
		return nil, "", fmt.Errorf("node config %s: %w", path, err)
	}
	if nf.ID == "" {
		return nil, "", fmt.Errorf("node config %s: id is empty", path)
	}
	return &nf, filepath.Dir(path), nil
}

func resolve(base, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(base, p)
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
