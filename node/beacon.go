package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/phalanx-eth/phalanx/fsm"
)

// Errors that describe the state of a beacon node. The scheduler signs nothing while its beacon source
// returns one of them from Check. Compare with errors.Is.
var (
	// ErrBeaconUnreachable: no beacon node answered.
	ErrBeaconUnreachable = errors.New("beacon node unreachable")
	// ErrBeaconSyncing: the beacon node is still syncing (or optimistic) and its view cannot be signed.
	ErrBeaconSyncing = errors.New("beacon node is syncing")
	// ErrWrongChain: the beacon node follows another chain than the one the cluster is bound to.
	ErrWrongChain = errors.New("beacon node is on another chain than the cluster")
	// ErrNotSupported: the beacon node does not serve this endpoint.
	ErrNotSupported = errors.New("beacon node does not support this endpoint")
)

// ChainHead is a beacon node's view of the chain: its head block and its checkpoints.
type ChainHead struct {
	HeadSlot       uint64
	HeadRoot       [32]byte
	JustifiedEpoch uint64
	JustifiedRoot  [32]byte
	FinalizedEpoch uint64
	FinalizedRoot  [32]byte
}

// Event is one beacon-node event the scheduler reacts to.
type Event struct {
	// Topic is "head", "block" or "finalized_checkpoint".
	Topic string
	Slot  uint64
	Root  [32]byte
	// Epoch is set for finalized_checkpoint.
	Epoch uint64
}

// Beacon is everything a phalanx node asks of the beacon chain: the chain it follows, duties, the data to
// sign, and the submission of signed messages. The implementation for real beacon nodes and the devnet is
// HTTPBeacon (the standard Beacon API through go-eth2-client); Fallback spreads calls over several. Tests
// inject faults through their own implementations.
type Beacon interface {
	// Name identifies the beacon node in logs and status (its address).
	Name() string
	// Check reports whether the node is usable: reachable, synced and, when want is non-nil, on the chain
	// want describes. The error wraps ErrBeaconUnreachable, ErrBeaconSyncing or ErrWrongChain.
	Check(ctx context.Context, want *fsm.ChainConfig) error
	// ChainConfig returns the chain the node follows: genesis, slot timing and fork schedule.
	ChainConfig(ctx context.Context) (*fsm.ChainConfig, error)
	// ChainHead returns the head block and the justified and finalized checkpoints.
	ChainHead(ctx context.Context) (ChainHead, error)
	// ValidatorIndices returns the beacon-chain index of each given public key the node knows.
	ValidatorIndices(ctx context.Context, pubkeys [][48]byte) (map[[48]byte]uint64, error)

	AttesterDuties(ctx context.Context, epoch uint64, indices []uint64) ([]*apiv1.AttesterDuty, error)
	ProposerDuties(ctx context.Context, epoch uint64, indices []uint64) ([]*apiv1.ProposerDuty, error)
	SyncCommitteeDuties(ctx context.Context, epoch uint64, indices []uint64) ([]*apiv1.SyncCommitteeDuty, error)
	SubmitBeaconCommitteeSubscriptions(ctx context.Context, subs []*apiv1.BeaconCommitteeSubscription) error
	SubmitSyncCommitteeSubscriptions(ctx context.Context, subs []*apiv1.SyncCommitteeSubscription) error
	// Liveness reports, for the given validators, whether the node saw them active in epoch.
	Liveness(ctx context.Context, epoch uint64, indices []uint64) ([]*apiv1.ValidatorLiveness, error)

	AttestationData(ctx context.Context, slot, committeeIndex uint64) (*phase0.AttestationData, error)
	AggregateAttestation(ctx context.Context, slot uint64, dataRoot [32]byte, committeeIndex uint64) (*spec.VersionedAttestation, error)
	// Proposal asks for a block to sign (produce block v3: full or blinded, the node decides).
	Proposal(ctx context.Context, slot uint64, randao [96]byte, graffiti [32]byte) (*api.VersionedProposal, error)
	// BlockRoot returns the root of a block ("head", a slot or a root).
	BlockRoot(ctx context.Context, blockID string) ([32]byte, error)
	SyncCommitteeContribution(ctx context.Context, slot, subcommittee uint64, blockRoot [32]byte) (*altair.SyncCommitteeContribution, error)

	SubmitAttestations(ctx context.Context, atts []*spec.VersionedAttestation) error
	SubmitAggregateAttestations(ctx context.Context, aggs []*spec.VersionedSignedAggregateAndProof) error
	SubmitProposal(ctx context.Context, p *api.VersionedSignedProposal) error
	SubmitBlindedProposal(ctx context.Context, p *api.VersionedSignedBlindedProposal) error
	SubmitSyncCommitteeMessages(ctx context.Context, msgs []*altair.SyncCommitteeMessage) error
	SubmitSyncCommitteeContributions(ctx context.Context, cs []*altair.SignedContributionAndProof) error
	SubmitValidatorRegistrations(ctx context.Context, regs []*api.VersionedSignedValidatorRegistration) error
	SubmitVoluntaryExit(ctx context.Context, exit *phase0.SignedVoluntaryExit) error

	// Events streams head, block and finalized_checkpoint events to handler until ctx ends or the stream
	// fails.
	Events(ctx context.Context, handler func(Event)) error
}

// CheckChain compares the chain a beacon node follows with the one the cluster is bound to and names the
// difference, wrapping ErrWrongChain.
func CheckChain(got, want *fsm.ChainConfig) error {
	switch {
	case got.GenesisValidatorsRoot != want.GenesisValidatorsRoot:
		return fmt.Errorf("%w: genesis validators root 0x%x, the cluster is bound to 0x%x", ErrWrongChain, got.GenesisValidatorsRoot, want.GenesisValidatorsRoot)
	case got.GenesisTime != want.GenesisTime:
		return fmt.Errorf("%w: genesis time %d, the cluster is bound to %d", ErrWrongChain, got.GenesisTime, want.GenesisTime)
	case got.GenesisForkVersion != want.GenesisForkVersion:
		return fmt.Errorf("%w: genesis fork version 0x%x, the cluster is bound to 0x%x", ErrWrongChain, got.GenesisForkVersion, want.GenesisForkVersion)
	case got.SecondsPerSlot != want.SecondsPerSlot || got.SlotsPerEpoch != want.SlotsPerEpoch:
		return fmt.Errorf("%w: %d s slots and %d slots per epoch, the cluster is bound to %d s and %d", ErrWrongChain,
			got.SecondsPerSlot, got.SlotsPerEpoch, want.SecondsPerSlot, want.SlotsPerEpoch)
	}
	return nil
}

// BeaconHealth is the last known state of one beacon node.
type BeaconHealth struct {
	Name        string    `json:"name"`
	Healthy     bool      `json:"healthy"`
	Error       string    `json:"error,omitempty"`
	LastChecked time.Time `json:"last_checked"`
}

// Fallback spreads calls over several beacon nodes: each call goes to the first node, in configured order,
// that passed its last Check, and moves on to the next on failure. Submissions go to the first node that
// accepts them. Check checks every node and returns an error only when none is usable.
type Fallback struct {
	nodes   []Beacon
	metrics *Metrics

	mu     sync.Mutex
	health []BeaconHealth
}

// NewFallback returns a Fallback over nodes (at least one). Until the first Check every node counts as
// usable.
func NewFallback(nodes ...Beacon) *Fallback {
	f := &Fallback{nodes: nodes, health: make([]BeaconHealth, len(nodes))}
	for i, n := range nodes {
		f.health[i] = BeaconHealth{Name: n.Name(), Healthy: true}
	}
	return f
}

// Name lists the nodes.
func (f *Fallback) Name() string {
	names := make([]string, len(f.nodes))
	for i, n := range f.nodes {
		names[i] = n.Name()
	}
	return strings.Join(names, ",")
}

// Health returns the state of every node as of its last Check or call.
func (f *Fallback) Health() []BeaconHealth {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]BeaconHealth(nil), f.health...)
}

// Check checks every node; it succeeds when at least one is usable, and otherwise joins every node's error.
func (f *Fallback) Check(ctx context.Context, want *fsm.ChainConfig) error {
	errs := make([]error, len(f.nodes))
	var wg sync.WaitGroup
	for i, n := range f.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = n.Check(ctx, want)
		}()
	}
	wg.Wait()
	f.mu.Lock()
	now := time.Now()
	ok := false
	for i, err := range errs {
		f.health[i].LastChecked = now
		f.health[i].Healthy = err == nil
		f.health[i].Error = ""
		if err != nil {
			f.health[i].Error = err.Error()
		} else {
			ok = true
		}
	}
	f.mu.Unlock()
	if ok {
		return nil
	}
	if len(errs) == 1 {
		return errs[0]
	}
	var joined []error
	for i, err := range errs {
		joined = append(joined, fmt.Errorf("%s: %w", f.nodes[i].Name(), err))
	}
	return errors.Join(joined...)
}

// order returns the nodes to try: healthy ones first, in configured order, then the others.
func (f *Fallback) order() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var good, bad []int
	for i := range f.nodes {
		if f.health[i].Healthy {
			good = append(good, i)
		} else {
			bad = append(bad, i)
		}
	}
	return append(good, bad...)
}

func (f *Fallback) mark(i int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		return
	}
	if errors.Is(err, ErrBeaconUnreachable) || errors.Is(err, ErrBeaconSyncing) {
		f.health[i].Healthy = false
		f.health[i].Error = err.Error()
	}
}

// try runs call against each node in order until one succeeds. ErrNotSupported from every node is returned
// as such so callers can skip quietly.
func try[T any](ctx context.Context, f *Fallback, call func(Beacon) (T, error)) (v T, err error) {
	if f.metrics != nil {
		defer func(start time.Time) { f.metrics.observeCall(start, err) }(time.Now())
	}
	return tryNodes(ctx, f, call)
}

func tryNodes[T any](ctx context.Context, f *Fallback, call func(Beacon) (T, error)) (T, error) {
	var (
		zero T
		errs []error
		nsup int
	)
	for _, i := range f.order() {
		v, err := call(f.nodes[i])
		if err == nil {
			return v, nil
		}
		f.mark(i, err)
		if errors.Is(err, ErrNotSupported) {
			nsup++
		}
		if len(f.nodes) == 1 {
			return zero, err
		}
		errs = append(errs, fmt.Errorf("%s: %w", f.nodes[i].Name(), err))
		if ctx.Err() != nil {
			break
		}
	}
	if nsup == len(f.nodes) {
		return zero, fmt.Errorf("%w: %w", ErrNotSupported, errors.Join(errs...))
	}
	return zero, errors.Join(errs...)
}

func try0(ctx context.Context, f *Fallback, call func(Beacon) error) error {
	_, err := try(ctx, f, func(b Beacon) (struct{}, error) { return struct{}{}, call(b) })
	return err
}

// ChainConfig implements Beacon.
func (f *Fallback) ChainConfig(ctx context.Context) (*fsm.ChainConfig, error) {
	return try(ctx, f, func(b Beacon) (*fsm.ChainConfig, error) { return b.ChainConfig(ctx) })
}

// ChainHead implements Beacon.
func (f *Fallback) ChainHead(ctx context.Context) (ChainHead, error) {
	return try(ctx, f, func(b Beacon) (ChainHead, error) { return b.ChainHead(ctx) })
}

// ValidatorIndices implements Beacon.
func (f *Fallback) ValidatorIndices(ctx context.Context, pks [][48]byte) (map[[48]byte]uint64, error) {
	return try(ctx, f, func(b Beacon) (map[[48]byte]uint64, error) { return b.ValidatorIndices(ctx, pks) })
}

// AttesterDuties implements Beacon.
func (f *Fallback) AttesterDuties(ctx context.Context, epoch uint64, idx []uint64) ([]*apiv1.AttesterDuty, error) {
	return try(ctx, f, func(b Beacon) ([]*apiv1.AttesterDuty, error) { return b.AttesterDuties(ctx, epoch, idx) })
}

// ProposerDuties implements Beacon.
func (f *Fallback) ProposerDuties(ctx context.Context, epoch uint64, idx []uint64) ([]*apiv1.ProposerDuty, error) {
	return try(ctx, f, func(b Beacon) ([]*apiv1.ProposerDuty, error) { return b.ProposerDuties(ctx, epoch, idx) })
}

// SyncCommitteeDuties implements Beacon.
func (f *Fallback) SyncCommitteeDuties(ctx context.Context, epoch uint64, idx []uint64) ([]*apiv1.SyncCommitteeDuty, error) {
	return try(ctx, f, func(b Beacon) ([]*apiv1.SyncCommitteeDuty, error) { return b.SyncCommitteeDuties(ctx, epoch, idx) })
}

// SubmitBeaconCommitteeSubscriptions implements Beacon.
func (f *Fallback) SubmitBeaconCommitteeSubscriptions(ctx context.Context, subs []*apiv1.BeaconCommitteeSubscription) error {
	return try0(ctx, f, func(b Beacon) error { return b.SubmitBeaconCommitteeSubscriptions(ctx, subs) })
}

// SubmitSyncCommitteeSubscriptions implements Beacon.
func (f *Fallback) SubmitSyncCommitteeSubscriptions(ctx context.Context, subs []*apiv1.SyncCommitteeSubscription) error {
	return try0(ctx, f, func(b Beacon) error { return b.SubmitSyncCommitteeSubscriptions(ctx, subs) })
}

// Liveness implements Beacon.
func (f *Fallback) Liveness(ctx context.Context, epoch uint64, idx []uint64) ([]*apiv1.ValidatorLiveness, error) {
	return try(ctx, f, func(b Beacon) ([]*apiv1.ValidatorLiveness, error) { return b.Liveness(ctx, epoch, idx) })
}

// AttestationData implements Beacon.
func (f *Fallback) AttestationData(ctx context.Context, slot, ci uint64) (*phase0.AttestationData, error) {
	return try(ctx, f, func(b Beacon) (*phase0.AttestationData, error) { return b.AttestationData(ctx, slot, ci) })
}

// AggregateAttestation implements Beacon.
func (f *Fallback) AggregateAttestation(ctx context.Context, slot uint64, root [32]byte, ci uint64) (*spec.VersionedAttestation, error) {
	return try(ctx, f, func(b Beacon) (*spec.VersionedAttestation, error) { return b.AggregateAttestation(ctx, slot, root, ci) })
}

// Proposal implements Beacon.
func (f *Fallback) Proposal(ctx context.Context, slot uint64, randao [96]byte, graffiti [32]byte) (*api.VersionedProposal, error) {
	return try(ctx, f, func(b Beacon) (*api.VersionedProposal, error) { return b.Proposal(ctx, slot, randao, graffiti) })
}

// BlockRoot implements Beacon.
func (f *Fallback) BlockRoot(ctx context.Context, id string) ([32]byte, error) {
	return try(ctx, f, func(b Beacon) ([32]byte, error) { return b.BlockRoot(ctx, id) })
}

// SyncCommitteeContribution implements Beacon.
func (f *Fallback) SyncCommitteeContribution(ctx context.Context, slot, sub uint64, root [32]byte) (*altair.SyncCommitteeContribution, error) {
	return try(ctx, f, func(b Beacon) (*altair.SyncCommitteeContribution, error) {
		return b.SyncCommitteeContribution(ctx, slot, sub, root)
	})
}

// SubmitAttestations implements Beacon.
func (f *Fallback) SubmitAttestations(ctx context.Context, atts []*spec.VersionedAttestation) error {
	return try0(ctx, f, func(b Beacon) error { return b.SubmitAttestations(ctx, atts) })
}

// SubmitAggregateAttestations implements Beacon.
func (f *Fallback) SubmitAggregateAttestations(ctx context.Context, aggs []*spec.VersionedSignedAggregateAndProof) error {
	return try0(ctx, f, func(b Beacon) error { return b.SubmitAggregateAttestations(ctx, aggs) })
}

// SubmitProposal implements Beacon.
func (f *Fallback) SubmitProposal(ctx context.Context, p *api.VersionedSignedProposal) error {
	return try0(ctx, f, func(b Beacon) error { return b.SubmitProposal(ctx, p) })
}

// SubmitBlindedProposal implements Beacon.
func (f *Fallback) SubmitBlindedProposal(ctx context.Context, p *api.VersionedSignedBlindedProposal) error {
	return try0(ctx, f, func(b Beacon) error { return b.SubmitBlindedProposal(ctx, p) })
}

// SubmitSyncCommitteeMessages implements Beacon.
func (f *Fallback) SubmitSyncCommitteeMessages(ctx context.Context, msgs []*altair.SyncCommitteeMessage) error {
	return try0(ctx, f, func(b Beacon) error { return b.SubmitSyncCommitteeMessages(ctx, msgs) })
}

// SubmitSyncCommitteeContributions implements Beacon.
func (f *Fallback) SubmitSyncCommitteeContributions(ctx context.Context, cs []*altair.SignedContributionAndProof) error {
	return try0(ctx, f, func(b Beacon) error { return b.SubmitSyncCommitteeContributions(ctx, cs) })
}

// SubmitValidatorRegistrations implements Beacon.
func (f *Fallback) SubmitValidatorRegistrations(ctx context.Context, regs []*api.VersionedSignedValidatorRegistration) error {
	return try0(ctx, f, func(b Beacon) error { return b.SubmitValidatorRegistrations(ctx, regs) })
}

// SubmitVoluntaryExit implements Beacon.
func (f *Fallback) SubmitVoluntaryExit(ctx context.Context, e *phase0.SignedVoluntaryExit) error {
	return try0(ctx, f, func(b Beacon) error { return b.SubmitVoluntaryExit(ctx, e) })
}

// Events follows the first healthy node's event stream; when it fails, the next one's.
func (f *Fallback) Events(ctx context.Context, handler func(Event)) error {
	return try0(ctx, f, func(b Beacon) error { return b.Events(ctx, handler) })
}
