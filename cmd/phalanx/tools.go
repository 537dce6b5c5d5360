//go:build tools

// Package main pins the modules phalanx depends on until each is imported by real code.
package main

import (
	_ "github.com/attestantio/go-eth2-client/http"
	_ "github.com/attestantio/go-eth2-client/spec/electra"
	_ "github.com/ferranbt/fastssz"
	_ "github.com/getkin/kin-openapi/openapi3filter"
	_ "github.com/gin-gonic/gin"
	_ "github.com/golang/snappy"
	_ "github.com/hashicorp/raft"
	_ "github.com/hashicorp/raft-boltdb/v2"
	_ "github.com/libp2p/go-libp2p"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/spf13/cobra"
	_ "github.com/supranational/blst/bindings/go"
	_ "go.etcd.io/bbolt"
	_ "golang.org/x/crypto/scrypt"
	_ "golang.org/x/text/unicode/norm"
	_ "gopkg.in/yaml.v3"
)

