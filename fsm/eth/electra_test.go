package eth

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"gopkg.in/yaml.v3"
)

// yamlToJSON turns a spec-test value.yaml document into the Beacon API JSON
// form go-eth2-client decodes: mappings and sequences keep their shape and
// every scalar (integers included) becomes a JSON string.
func yamlToJSON(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, fmt.Errorf("document with %d nodes", len(n.Content))
		}
		return yamlToJSON(n.Content[0])
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := yamlToJSON(n.Content[i+1])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", n.Content[i].Value, err)
			}
			m[n.Content[i].Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			v, err := yamlToJSON(c)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			l = append(l, v)
		}
		return l, nil
	case yaml.ScalarNode:
		return n.Value, nil
	default:
		return nil, fmt.Errorf("unsupported YAML node kind %d", n.Kind)
	}
}

func TestElectraSampleRoots(t *testing.T) {
	base := vectorDir(t, "consensus-spec-tests-electra-sample", "tests", "mainnet", "electra", "ssz_static")
	types := map[string]func() sszObject{
		"Attestation":               func() sszObject { return &electra.Attestation{} },
		"IndexedAttestation":        func() sszObject { return &electra.IndexedAttestation{} },
		"SingleAttestation":         func() sszObject { return &electra.SingleAttestation{} },
		"AggregateAndProof":         func() sszObject { return &electra.AggregateAndProof{} },
		"SyncCommitteeMessage":      func() sszObject { return &altair.SyncCommitteeMessage{} },
		"SyncCommitteeContribution": func() sszObject { return &altair.SyncCommitteeContribution{} },
	}
	entries, err := os.ReadDir(base)
	if err != nil {
		t.Fatalf("read %s: %v", base, err)
	}
	total := 0
	for _, e := range entries {
		newObj, ok := types[e.Name()]
		if !ok {
			t.Errorf("no go-eth2-client type mapped for %s", e.Name())
			continue
		}
		for _, c := range sszCases(t, filepath.Join(base, e.Name())) {
			total++
			t.Run(e.Name()+"/"+c.name, func(t *testing.T) {
				raw, err := os.ReadFile(filepath.Join(c.dir, "value.yaml"))
				if err != nil {
					t.Fatalf("read value.yaml: %v", err)
				}
				var doc yaml.Node
				if err := yaml.Unmarshal(raw, &doc); err != nil {
					t.Fatalf("parse value.yaml: %v", err)
				}
				v, err := yamlToJSON(&doc)
				if err != nil {
					t.Fatalf("convert value.yaml: %v", err)
				}
				js, err := json.Marshal(v)
				if err != nil {
					t.Fatalf("encode JSON: %v", err)
				}
				obj := newObj()
				if err := json.Unmarshal(js, obj); err != nil {
					t.Fatalf("decode %T from %s: %v", obj, js, err)
				}
				got, err := obj.HashTreeRoot()
				if err != nil {
					t.Fatalf("HashTreeRoot: %v", err)
				}
				if want := readRoot(t, c.dir); Root(got) != want {
					t.Fatalf("HashTreeRoot = %x, want %x", got, want)
				}
				// The SSZ encoding of the decoded value round-trips.
				enc, err := obj.MarshalSSZ()
				if err != nil {
					t.Fatalf("MarshalSSZ: %v", err)
				}
				back := newObj()
				if err := back.UnmarshalSSZ(enc); err != nil {
					t.Fatalf("UnmarshalSSZ: %v", err)
				}
				if r, err := back.HashTreeRoot(); err != nil || Root(r) != Root(got) {
					t.Fatalf("root after SSZ round trip = %x, %v; want %x", r, err, got)
				}
			})
		}
	}
	if total == 0 {
		t.Fatal("no electra sample cases found")
	}
	t.Logf("%d electra-era cases", total)
}
