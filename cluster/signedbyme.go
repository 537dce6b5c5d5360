package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/phalanx-eth/phalanx/fsm/slashing"
)

// SignedByMe is a node's own durable record of every slashable message it has released a share for. It is
// the third line of the safety contract: whatever the log says, a node never signs a share that conflicts with
// one it signed before, in any term, and the record is fsynced before the share leaves the node.
//
// Layout (bbolt, one file): bucket "meta" holds the format version; bucket "base" holds a compacted
// slashing.DB (rewritten when finality prunes history); bucket "log" holds the records appended since, in order.
// Loading replays the log over the base. The EIP-3076 rules themselves are fsm/slashing's.
type SignedByMe struct {
	mu    sync.Mutex
	db    *bolt.DB
	rules *slashing.DB
	seq   uint64
	// failed is set after a write error: the node then refuses to sign until restarted, because it cannot
	// prove to itself what is on disk.
	failed error
}

const signedByMeVersion = 1

var (
	bucketMeta = []byte("meta")
	bucketBase = []byte("base")
	bucketLog  = []byte("log")
	keyVersion = []byte("version")
	keyBase    = []byte("db")
)

// ErrRecordFailed is returned once the signed-by-me record could not be written: the node must not release
// shares and should step down.
var ErrRecordFailed = errors.New("signed-by-me record could not be written")

// SignKind is what a SignRequest asks to sign.
type SignKind uint8

const (
	// SignProposal is a block proposal: one slot.
	SignProposal SignKind = 1
	// SignAttestation is an attestation: a source and a target epoch.
	SignAttestation SignKind = 2
)

// SignRequest is one slashable message, as the signed-by-me record sees it.
type SignRequest struct {
	Kind        SignKind
	Pubkey      slashing.Pubkey
	Slot        uint64 // proposals
	Source      uint64 // attestations
	Target      uint64 // attestations
	SigningRoot slashing.Root
}

// OpenSignedByMe opens (or creates) the record at path.
func OpenSignedByMe(path string) (*SignedByMe, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open signed-by-me record %s: %w", path, err)
	}
	s := &SignedByMe{db: db, rules: slashing.New()}
	if err := s.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("load signed-by-me record %s: %w", path, err)
	}
	return s, nil
}

func (s *SignedByMe) load() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if v := meta.Get(keyVersion); v == nil {
			if err := meta.Put(keyVersion, []byte{signedByMeVersion}); err != nil {
				return err
			}
		} else if len(v) != 1 || v[0] != signedByMeVersion {
			return fmt.Errorf("unsupported format version %v", v)
		}
		base, err := tx.CreateBucketIfNotExists(bucketBase)
		if err != nil {
			return err
		}
		if b := base.Get(keyBase); b != nil {
			if err := s.rules.UnmarshalBinary(b); err != nil {
				return fmt.Errorf("base: %w", err)
			}
		}
		lb, err := tx.CreateBucketIfNotExists(bucketLog)
		if err != nil {
			return err
		}
		return lb.ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("log key of %d bytes", len(k))
			}
			req, err := decodeSignRequest(v)
			if err != nil {
				return fmt.Errorf("log record %d: %w", binary.BigEndian.Uint64(k), err)
			}
			s.apply(req)
			s.seq = binary.BigEndian.Uint64(k)
			return nil
		})
	})
}

func (s *SignedByMe) apply(r SignRequest) {
	switch r.Kind {
	case SignProposal:
		s.rules.RecordProposal(r.Pubkey, r.Slot, r.SigningRoot)
	case SignAttestation:
		s.rules.RecordAttestation(r.Pubkey, r.Source, r.Target, r.SigningRoot)
	}
}

func (s *SignedByMe) check(r SignRequest) slashing.Verdict {
	switch r.Kind {
	case SignProposal:
		return s.rules.CheckProposal(r.Pubkey, r.Slot, r.SigningRoot)
	case SignAttestation:
		return s.rules.CheckAttestation(r.Pubkey, r.Source, r.Target, r.SigningRoot)
	}
	return slashing.Deny(slashing.ReasonNone, fmt.Sprintf("unknown sign kind %d", r.Kind))
}

// Authorize checks each request, in order, against everything this node signed before (including earlier
// requests of the same call), durably records the approved ones in one fsynced transaction, and returns one
// verdict per request. If the record cannot be written it returns ErrRecordFailed and the caller must release
// no share at all; every later call fails the same way.
func (s *SignedByMe) Authorize(reqs []SignRequest) ([]slashing.Verdict, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed != nil {
		return nil, s.failed
	}
	verdicts := make([]slashing.Verdict, len(reqs))
	var approved []SignRequest
	for i, r := range reqs {
		v := s.check(r)
		verdicts[i] = v
		if v.Approved {
			// Recording in memory first makes later requests of this batch see it; if the disk write below
			// fails, memory is stricter than disk, which is safe, and nothing is released.
			s.apply(r)
			approved = append(approved, r)
		}
	}
	if len(approved) == 0 {
		return verdicts, nil
	}
	seq := s.seq
	err := s.db.Update(func(tx *bolt.Tx) error {
		lb := tx.Bucket(bucketLog)
		var key [8]byte
		for _, r := range approved {
			seq++
			binary.BigEndian.PutUint64(key[:], seq)
			if err := lb.Put(key[:], encodeSignRequest(r)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.failed = fmt.Errorf("%w: %v", ErrRecordFailed, err)
		return nil, s.failed
	}
	s.seq = seq
	return verdicts, nil
}

// Check reports what Authorize would decide for one request, without recording anything.
func (s *SignedByMe) Check(r SignRequest) slashing.Verdict {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.check(r)
}

// Prune folds history below the finalized epoch into watermarks and compacts the file, so the record grows
// with the number of validators rather than with time.
func (s *SignedByMe) Prune(finalizedEpoch, slotsPerEpoch uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed != nil {
		return s.failed
	}
	s.rules.Prune(finalizedEpoch, slotsPerEpoch)
	base, err := s.rules.MarshalBinary()
	if err != nil {
		return fmt.Errorf("prune signed-by-me record: %w", err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketBase).Put(keyBase, base); err != nil {
			return err
		}
		if err := tx.DeleteBucket(bucketLog); err != nil {
			return err
		}
		_, err := tx.CreateBucket(bucketLog)
		return err
	})
	if err != nil {
		s.failed = fmt.Errorf("%w: %v", ErrRecordFailed, err)
		return s.failed
	}
	s.seq = 0
	return nil
}

// Failed reports the write error that stopped this record, if any.
func (s *SignedByMe) Failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// Close closes the file.
func (s *SignedByMe) Close() error { return s.db.Close() }

const signRequestLen = 1 + 48 + 8 + 8 + 32

func encodeSignRequest(r SignRequest) []byte {
	b := make([]byte, 0, signRequestLen)
	b = append(b, byte(r.Kind))
	b = append(b, r.Pubkey[:]...)
	switch r.Kind {
	case SignProposal:
		b = binary.BigEndian.AppendUint64(b, r.Slot)
		b = binary.BigEndian.AppendUint64(b, 0)
	default:
		b = binary.BigEndian.AppendUint64(b, r.Source)
		b = binary.BigEndian.AppendUint64(b, r.Target)
	}
	return append(b, r.SigningRoot[:]...)
}

func decodeSignRequest(b []byte) (SignRequest, error) {
	if len(b) != signRequestLen {
		return SignRequest{}, fmt.Errorf("record of %d bytes, want %d", len(b), signRequestLen)
	}
	r := SignRequest{Kind: SignKind(b[0])}
	copy(r.Pubkey[:], b[1:49])
	a := binary.BigEndian.Uint64(b[49:57])
	c := binary.BigEndian.Uint64(b[57:65])
	copy(r.SigningRoot[:], b[65:])
	switch r.Kind {
	case SignProposal:
		r.Slot = a
	case SignAttestation:
		r.Source, r.Target = a, c
	default:
		return SignRequest{}, fmt.Errorf("unknown kind %d", b[0])
	}
	return r, nil
}
