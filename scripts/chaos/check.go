package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/capella"
	"github.com/attestantio/go-eth2-client/spec/deneb"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/phalanx-eth/phalanx/node/devnet"
	"github.com/phalanx-eth/phalanx/threshold"
)

// The checker is written apart from fsm/: it has its own domain computation and its own reading of the
// EIP-3076 / consensus-spec slashing conditions, so a bug in fsm/slashing cannot hide itself.

// Domain types (consensus specs, phase0).
var (
	domainBeaconProposer = [4]byte{0, 0, 0, 0}
	domainBeaconAttester = [4]byte{1, 0, 0, 0}
)

// chainInfo is what signing domains need, as the beacon node reports it.
type chainInfo struct {
	GenesisValidatorsRoot [32]byte
	PreviousVersion       [4]byte
	CurrentVersion        [4]byte
	ForkEpoch             uint64
	SlotsPerEpoch         uint64
}

// domain is compute_domain(domainType, fork_version(epoch), genesis_validators_root).
func (ci chainInfo) domain(domainType [4]byte, epoch uint64) [32]byte {
	version := ci.CurrentVersion
	if epoch < ci.ForkEpoch {
		version = ci.PreviousVersion
	}
	var buf [64]byte
	copy(buf[:4], version[:])
	copy(buf[32:], ci.GenesisValidatorsRoot[:])
	forkDataRoot := sha256.Sum256(buf[:])
	var d [32]byte
	copy(d[:4], domainType[:])
	copy(d[4:], forkDataRoot[:28])
	return d
}

// signingRoot is hash_tree_root(SigningData{object_root, domain}).
func signingRoot(object, domain [32]byte) [32]byte {
	var buf [64]byte
	copy(buf[:32], object[:])
	copy(buf[32:], domain[:])
	return sha256.Sum256(buf[:])
}

// violation is one failed check.
type violation struct {
	Check  string
	Detail string
}

func (v violation) String() string { return v.Check + ": " + v.Detail }

// message is a published slashable message reduced to what the checks compare.
type message struct {
	kind      string
	validator uint64
	slot      uint64
	source    uint64 // attestations
	target    uint64 // attestations
	object    [32]byte
	root      [32]byte // signing root
	sig       []byte
	received  time.Time
}

func (m message) String() string {
	if m.kind == devnet.PublishedBlock {
		return fmt.Sprintf("block v=%d slot=%d root=%x", m.validator, m.slot, m.object[:4])
	}
	return fmt.Sprintf("attestation v=%d slot=%d src=%d tgt=%d data=%x", m.validator, m.slot, m.source, m.target, m.object[:4])
}

// toMessage computes the object and signing roots of p.
func toMessage(p devnet.Published, ci chainInfo) (message, error) {
	m := message{kind: p.Kind, validator: p.ValidatorIndex, slot: p.Slot, received: p.Received}
	switch p.Kind {
	case devnet.PublishedAttestation:
		d := p.Attestation
		if d == nil || d.Source == nil || d.Target == nil {
			return m, fmt.Errorf("attestation of validator %d at slot %d has incomplete data", p.ValidatorIndex, p.Slot)
		}
		obj, err := d.HashTreeRoot()
		if err != nil {
			return m, fmt.Errorf("attestation data root: %w", err)
		}
		m.source, m.target, m.object = uint64(d.Source.Epoch), uint64(d.Target.Epoch), obj
		m.root = signingRoot(obj, ci.domain(domainBeaconAttester, m.target))
		m.sig = p.Signature[:]
	case devnet.PublishedBlock:
		obj, err := p.Block.Root()
		if err != nil {
			return m, fmt.Errorf("block root: %w", err)
		}
		sig, err := blockSignature(p.Block)
		if err != nil {
			return m, err
		}
		m.object = obj
		m.root = signingRoot(obj, ci.domain(domainBeaconProposer, m.slot/ci.SlotsPerEpoch))
		m.sig = sig[:]
	default:
		return m, fmt.Errorf("unknown kind %q", p.Kind)
	}
	return m, nil
}

// blockSignature returns the signature of a signed block of any fork.
func blockSignature(b *spec.VersionedSignedBeaconBlock) (phase0.BLSSignature, error) {
	switch b.Version {
	case spec.DataVersionPhase0:
		return sig[*phase0.SignedBeaconBlock](b.Phase0, func(x *phase0.SignedBeaconBlock) phase0.BLSSignature { return x.Signature })
	case spec.DataVersionAltair:
		return sig[*altair.SignedBeaconBlock](b.Altair, func(x *altair.SignedBeaconBlock) phase0.BLSSignature { return x.Signature })
	case spec.DataVersionBellatrix:
		return sig[*bellatrix.SignedBeaconBlock](b.Bellatrix, func(x *bellatrix.SignedBeaconBlock) phase0.BLSSignature { return x.Signature })
	case spec.DataVersionCapella:
		return sig[*capella.SignedBeaconBlock](b.Capella, func(x *capella.SignedBeaconBlock) phase0.BLSSignature { return x.Signature })
	case spec.DataVersionDeneb:
		return sig[*deneb.SignedBeaconBlock](b.Deneb, func(x *deneb.SignedBeaconBlock) phase0.BLSSignature { return x.Signature })
	case spec.DataVersionElectra:
		return sig[*electra.SignedBeaconBlock](b.Electra, func(x *electra.SignedBeaconBlock) phase0.BLSSignature { return x.Signature })
	}
	return phase0.BLSSignature{}, fmt.Errorf("block of unsupported version %s", b.Version)
}

func sig[T comparable](x T, get func(T) phase0.BLSSignature) (phase0.BLSSignature, error) {
	var zero T
	if x == zero {
		return phase0.BLSSignature{}, fmt.Errorf("signed block has no %T", x)
	}
	return get(x), nil
}

// checkSignatures verifies every published message against the validator's group public key and returns the
// messages (for the slashing check) and the failures.
func checkSignatures(pub []devnet.Published, pubkeys map[uint64][]byte, ci chainInfo) ([]message, []violation) {
	var msgs []message
	var bad []violation
	keys := make(map[uint64]*threshold.PublicKey)
	for _, p := range pub {
		m, err := toMessage(p, ci)
		if err != nil {
			bad = append(bad, violation{"signature", err.Error()})
			continue
		}
		pk := keys[m.validator]
		if pk == nil {
			b, ok := pubkeys[m.validator]
			if !ok {
				bad = append(bad, violation{"signature", fmt.Sprintf("%s: validator is not the cluster's", m)})
				continue
			}
			if pk, err = threshold.PublicKeyFromBytes(b); err != nil {
				bad = append(bad, violation{"signature", fmt.Sprintf("%s: group key: %v", m, err)})
				continue
			}
			keys[m.validator] = pk
		}
		s, err := threshold.SignatureFromBytes(m.sig)
		if err != nil || !threshold.VerifyHashed(pk, threshold.HashMessage(m.root[:]), s) {
			bad = append(bad, violation{"signature", fmt.Sprintf("%s: signature does not verify", m)})
			continue
		}
		msgs = append(msgs, m)
	}
	return msgs, bad
}

// checkSlashable compares every pair of messages of one validator against the slashing conditions: two
// different blocks for one slot (double proposal); two different attestations with one target epoch (double
// vote); one attestation's source and target strictly around another's (surround vote). Identical messages
// (re-publication) are no offence.
func checkSlashable(msgs []message) []violation {
	byVal := make(map[uint64][]message)
	for _, m := range msgs {
		byVal[m.validator] = append(byVal[m.validator], m)
	}
	vals := make([]uint64, 0, len(byVal))
	for v := range byVal {
		vals = append(vals, v)
	}
	sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
	var bad []violation
	for _, v := range vals {
		ms := byVal[v]
		for i := range ms {
			for j := i + 1; j < len(ms); j++ {
				a, b := ms[i], ms[j]
				if a.kind != b.kind || a.object == b.object {
					continue
				}
				switch {
				case a.kind == devnet.PublishedBlock && a.slot == b.slot:
					bad = append(bad, violation{"double proposal", fmt.Sprintf("%s and %s", a, b)})
				case a.kind == devnet.PublishedAttestation && a.target == b.target:
					bad = append(bad, violation{"double vote", fmt.Sprintf("%s and %s", a, b)})
				case a.kind == devnet.PublishedAttestation && (surrounds(a, b) || surrounds(b, a)):
					bad = append(bad, violation{"surround vote", fmt.Sprintf("%s and %s", a, b)})
				}
			}
		}
	}
	return bad
}

// surrounds reports whether attestation a surrounds b.
func surrounds(a, b message) bool { return a.source < b.source && b.target < a.target }

// interchange is the part of an EIP-3076 interchange the survival check reads.
type interchange struct {
	Data []struct {
		Pubkey       string `json:"pubkey"`
		SignedBlocks []struct {
			Slot        string `json:"slot"`
			SigningRoot string `json:"signing_root"`
		} `json:"signed_blocks"`
		SignedAttestations []struct {
			SourceEpoch string `json:"source_epoch"`
			TargetEpoch string `json:"target_epoch"`
			SigningRoot string `json:"signing_root"`
		} `json:"signed_attestations"`
	} `json:"data"`
}

// record is one slashing-protection record: a block slot or an attestation target, with its signing root.
type record struct {
	at   uint64
	root string
}

// checkSurvived checks that every published message (each rebuilt from a committed entry) is still in a
// node's replicated slashing-protection history: the same slot or target with the same signing root, or
// pruned below the oldest record kept for that validator (history is pruned at finality). finalizedEpoch
// lets a validator with no history left count as pruned when its messages are all older than finality.
func checkSurvived(node string, ic []byte, msgs []message, pubkeys map[uint64][]byte, finalizedEpoch, slotsPerEpoch uint64) []violation {
	var doc interchange
	if err := json.Unmarshal(ic, &doc); err != nil {
		return []violation{{"survival", fmt.Sprintf("%s: interchange: %v", node, err)}}
	}
	blocks := make(map[string][]record)
	atts := make(map[string][]record)
	for _, d := range doc.Data {
		pk := strings.ToLower(strings.TrimPrefix(d.Pubkey, "0x"))
		for _, b := range d.SignedBlocks {
			s, _ := strconv.ParseUint(b.Slot, 10, 64)
			blocks[pk] = append(blocks[pk], record{s, strings.ToLower(strings.TrimPrefix(b.SigningRoot, "0x"))})
		}
		for _, a := range d.SignedAttestations {
			t, _ := strconv.ParseUint(a.TargetEpoch, 10, 64)
			atts[pk] = append(atts[pk], record{t, strings.ToLower(strings.TrimPrefix(a.SigningRoot, "0x"))})
		}
	}
	var bad []violation
	for _, m := range msgs {
		pk := hex.EncodeToString(pubkeys[m.validator])
		recs, at, epoch := atts[pk], m.target, m.target
		if m.kind == devnet.PublishedBlock {
			recs, at, epoch = blocks[pk], m.slot, m.slot/slotsPerEpoch
		}
		if !kept(recs, at, hex.EncodeToString(m.root[:])) && !(len(recs) == 0 && epoch < finalizedEpoch) {
			bad = append(bad, violation{"survival", fmt.Sprintf("%s: %s is not in the replicated history", node, m)})
		}
	}
	return bad
}

// kept reports whether recs hold (at, root), or start after at (pruned).
func kept(recs []record, at uint64, root string) bool {
	if len(recs) == 0 {
		return false
	}
	lowest := recs[0].at
	for _, r := range recs {
		if r.at == at && (r.root == "" || r.root == root) {
			return true
		}
		lowest = min(lowest, r.at)
	}
	return at < lowest
}
