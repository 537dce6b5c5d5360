package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	eth2client "github.com/attestantio/go-eth2-client"
	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	eth2http "github.com/attestantio/go-eth2-client/http"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/rs/zerolog"

	"github.com/phalanx-eth/phalanx/fsm"
)

// beaconService is the part of go-eth2-client's http.Service that HTTPBeacon uses.
type beaconService interface {
	eth2client.Service
	eth2client.GenesisProvider
	eth2client.SpecProvider
	eth2client.ForkScheduleProvider
	eth2client.NodeSyncingProvider
	eth2client.FinalityProvider
	eth2client.BeaconBlockHeadersProvider
	eth2client.BeaconBlockRootProvider
	eth2client.ValidatorsProvider
	eth2client.AttesterDutiesProvider
	eth2client.ProposerDutiesProvider
	eth2client.SyncCommitteeDutiesProvider
	eth2client.BeaconCommitteeSubscriptionsSubmitter
	eth2client.SyncCommitteeSubscriptionsSubmitter
	eth2client.ValidatorLivenessProvider
	eth2client.AttestationDataProvider
	eth2client.AggregateAttestationProvider
	eth2client.ProposalProvider
	eth2client.SyncCommitteeContributionProvider
	eth2client.AttestationsSubmitter
	eth2client.AggregateAttestationsSubmitter
	eth2client.ProposalSubmitter
	eth2client.BlindedProposalSubmitter
	eth2client.SyncCommitteeMessagesSubmitter
	eth2client.SyncCommitteeContributionsSubmitter
	eth2client.ValidatorRegistrationsSubmitter
	eth2client.VoluntaryExitSubmitter
	eth2client.EventsProvider
}

// HTTPBeacon is a Beacon backed by one beacon node's standard Beacon API, through go-eth2-client.
type HTTPBeacon struct {
	url     string
	timeout time.Duration

	mu  sync.Mutex
	svc beaconService
}

// NewHTTPBeacon returns a client of the beacon node at url. It connects lazily: an unreachable node is
// reported by Check and by each call, not here.
func NewHTTPBeacon(url string, timeout time.Duration) *HTTPBeacon {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &HTTPBeacon{url: url, timeout: timeout}
}

// Name returns the node's URL.
func (b *HTTPBeacon) Name() string { return b.url }

func (b *HTTPBeacon) service(ctx context.Context) (beaconService, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.svc != nil {
		return b.svc, nil
	}
	httpClient := &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: b.timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
	}}
	s, err := eth2http.New(ctx,
		eth2http.WithAddress(b.url),
		eth2http.WithLogLevel(zerolog.Disabled),
		eth2http.WithTimeout(b.timeout),
		eth2http.WithAllowDelayedStart(true),
		eth2http.WithEnforceJSON(true),
		eth2http.WithHTTPClient(httpClient),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBeaconUnreachable, b.url, err)
	}
	svc, ok := s.(beaconService)
	if !ok {
		return nil, fmt.Errorf("beacon client for %s lacks a required endpoint", b.url)
	}
	b.svc = svc
	return svc, nil
}

// classify maps go-eth2-client errors onto this package's sentinel errors.
func (b *HTTPBeacon) classify(what string, err error) error {
	if err == nil {
		return nil
	}
	var apiErr *api.Error
	switch {
	case errors.Is(err, eth2client.ErrNotActive):
		return fmt.Errorf("%s: %w (%s)", what, ErrBeaconUnreachable, b.url)
	case errors.Is(err, eth2client.ErrNotSynced):
		return fmt.Errorf("%s: %w (%s)", what, ErrBeaconSyncing, b.url)
	case errors.As(err, &apiErr) && (apiErr.StatusCode == http.StatusNotFound || apiErr.StatusCode == http.StatusMethodNotAllowed ||
		apiErr.StatusCode == http.StatusNotImplemented):
		return fmt.Errorf("%s: %w: %w", what, ErrNotSupported, err)
	case errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusServiceUnavailable:
		return fmt.Errorf("%s: %w: %w", what, ErrBeaconSyncing, err)
	}
	var netErr net.Error
	if errors.As(err, &netErr) || strings.Contains(err.Error(), "connection refused") {
		return fmt.Errorf("%s: %w: %w", what, ErrBeaconUnreachable, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (b *HTTPBeacon) call(ctx context.Context, what string, f func(context.Context, beaconService) error) error {
	svc, err := b.service(ctx)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	return b.classify(what, f(cctx, svc))
}

// Check implements Beacon: the node must answer, not be syncing or optimistic, and be on want's chain.
func (b *HTTPBeacon) Check(ctx context.Context, want *fsm.ChainConfig) error {
	var st *apiv1.SyncState
	err := b.call(ctx, "node syncing", func(ctx context.Context, s beaconService) error {
		r, err := s.NodeSyncing(ctx, &api.NodeSyncingOpts{})
		if err != nil {
			return err
		}
		st = r.Data
		return nil
	})
	if err != nil {
		if !errors.Is(err, ErrBeaconSyncing) && !errors.Is(err, ErrBeaconUnreachable) {
			err = fmt.Errorf("%w: %w", ErrBeaconUnreachable, err)
		}
		return err
	}
	if st.IsSyncing || st.IsOptimistic {
		return fmt.Errorf("%w: %s is %d slots behind its head %d (optimistic: %t)", ErrBeaconSyncing, b.url, st.SyncDistance, st.HeadSlot, st.IsOptimistic)
	}
	if want == nil {
		return nil
	}
	got, err := b.ChainConfig(ctx)
	if err != nil {
		return err
	}
	if err := CheckChain(got, want); err != nil {
		return fmt.Errorf("%s: %w", b.url, err)
	}
	return nil
}

// forkKeys are the spec keys of each fork, in the order fsm.ChainConfig lists forks.
var forkKeys = []string{"ALTAIR", "BELLATRIX", "CAPELLA", "DENEB", "ELECTRA", "FULU"}

// ChainConfig implements Beacon from /eth/v1/beacon/genesis, /eth/v1/config/spec and the fork schedule.
func (b *HTTPBeacon) ChainConfig(ctx context.Context) (*fsm.ChainConfig, error) {
	var (
		gen   *apiv1.Genesis
		specM map[string]any
		forks []*phase0.Fork
	)
	err := b.call(ctx, "genesis", func(ctx context.Context, s beaconService) error {
		r, err := s.Genesis(ctx, &api.GenesisOpts{})
		if err != nil {
			return err
		}
		gen = r.Data
		rs, err := s.Spec(ctx, &api.SpecOpts{})
		if err != nil {
			return err
		}
		specM = rs.Data
		rf, err := s.ForkSchedule(ctx, &api.ForkScheduleOpts{})
		if err != nil {
			return err
		}
		forks = rf.Data
		return nil
	})
	if err != nil {
		return nil, err
	}
	return chainConfigFrom(gen, specM, forks)
}

func chainConfigFrom(gen *apiv1.Genesis, sp map[string]any, sched []*phase0.Fork) (*fsm.ChainConfig, error) {
	c := &fsm.ChainConfig{
		GenesisTime:           uint64(gen.GenesisTime.Unix()),
		GenesisValidatorsRoot: gen.GenesisValidatorsRoot,
		GenesisForkVersion:    gen.GenesisForkVersion,
	}
	d, ok := sp["SECONDS_PER_SLOT"].(time.Duration)
	if !ok || d < time.Second {
		return nil, errors.New("chain config: spec lacks SECONDS_PER_SLOT")
	}
	c.SecondsPerSlot = uint64(d / time.Second)
	if c.SlotsPerEpoch, ok = sp["SLOTS_PER_EPOCH"].(uint64); !ok || c.SlotsPerEpoch == 0 {
		return nil, errors.New("chain config: spec lacks SLOTS_PER_EPOCH")
	}
	c.Forks = append(c.Forks, fsm.ForkSchedule{Version: gen.GenesisForkVersion, Epoch: 0})
	for _, k := range forkKeys {
		v, okV := sp[k+"_FORK_VERSION"].(phase0.Version)
		e, okE := sp[k+"_FORK_EPOCH"].(uint64)
		if !okV || !okE {
			break
		}
		c.Forks = append(c.Forks, fsm.ForkSchedule{Version: v, Epoch: e})
	}
	// A fork the spec names must agree with the schedule the node follows.
	for _, f := range sched {
		for _, cf := range c.Forks {
			if cf.Version == f.CurrentVersion && cf.Epoch != uint64(f.Epoch) && !(cf.Epoch == 0 && f.Epoch == 0) {
				return nil, fmt.Errorf("chain config: fork 0x%x is at epoch %d in the spec and %d in the fork schedule", f.CurrentVersion, cf.Epoch, f.Epoch)
			}
		}
	}
	return c, nil
}

// ChainHead implements Beacon from the head block header and the head state's finality checkpoints.
func (b *HTTPBeacon) ChainHead(ctx context.Context) (ChainHead, error) {
	var h ChainHead
	err := b.call(ctx, "chain head", func(ctx context.Context, s beaconService) error {
		hr, err := s.BeaconBlockHeader(ctx, &api.BeaconBlockHeaderOpts{Block: "head"})
		if err != nil {
			return err
		}
		if hr.Data == nil || hr.Data.Header == nil || hr.Data.Header.Message == nil {
			return errors.New("empty head header")
		}
		h.HeadSlot = uint64(hr.Data.Header.Message.Slot)
		h.HeadRoot = hr.Data.Root
		fr, err := s.Finality(ctx, &api.FinalityOpts{State: "head"})
		if err != nil {
			return err
		}
		if fr.Data.Justified != nil {
			h.JustifiedEpoch, h.JustifiedRoot = uint64(fr.Data.Justified.Epoch), fr.Data.Justified.Root
		}
		if fr.Data.Finalized != nil {
			h.FinalizedEpoch, h.FinalizedRoot = uint64(fr.Data.Finalized.Epoch), fr.Data.Finalized.Root
		}
		return nil
	})
	return h, err
}

// ValidatorIndices implements Beacon from the head state's validator list.
func (b *HTTPBeacon) ValidatorIndices(ctx context.Context, pks [][48]byte) (map[[48]byte]uint64, error) {
	out := make(map[[48]byte]uint64)
	err := b.call(ctx, "validators", func(ctx context.Context, s beaconService) error {
		keys := make([]phase0.BLSPubKey, len(pks))
		for i, pk := range pks {
			keys[i] = pk
		}
		r, err := s.Validators(ctx, &api.ValidatorsOpts{State: "head", PubKeys: keys})
		if err != nil {
			return err
		}
		for idx, v := range r.Data {
			if v != nil && v.Validator != nil {
				out[v.Validator.PublicKey] = uint64(idx)
			}
		}
		return nil
	})
	return out, err
}

func vindices(idx []uint64) []phase0.ValidatorIndex {
	out := make([]phase0.ValidatorIndex, len(idx))
	for i, v := range idx {
		out[i] = phase0.ValidatorIndex(v)
	}
	return out
}

// AttesterDuties implements Beacon.
func (b *HTTPBeacon) AttesterDuties(ctx context.Context, epoch uint64, idx []uint64) ([]*apiv1.AttesterDuty, error) {
	var out []*apiv1.AttesterDuty
	err := b.call(ctx, "attester duties", func(ctx context.Context, s beaconService) error {
		r, err := s.AttesterDuties(ctx, &api.AttesterDutiesOpts{Epoch: phase0.Epoch(epoch), Indices: vindices(idx)})
		if err == nil {
			out = r.Data
		}
		return err
	})
	return out, err
}

// ProposerDuties implements Beacon.
func (b *HTTPBeacon) ProposerDuties(ctx context.Context, epoch uint64, idx []uint64) ([]*apiv1.ProposerDuty, error) {
	var out []*apiv1.ProposerDuty
	err := b.call(ctx, "proposer duties", func(ctx context.Context, s beaconService) error {
		r, err := s.ProposerDuties(ctx, &api.ProposerDutiesOpts{Epoch: phase0.Epoch(epoch), Indices: vindices(idx)})
		if err == nil {
			out = r.Data
		}
		return err
	})
	return out, err
}

// SyncCommitteeDuties implements Beacon.
func (b *HTTPBeacon) SyncCommitteeDuties(ctx context.Context, epoch uint64, idx []uint64) ([]*apiv1.SyncCommitteeDuty, error) {
	var out []*apiv1.SyncCommitteeDuty
	err := b.call(ctx, "sync committee duties", func(ctx context.Context, s beaconService) error {
		r, err := s.SyncCommitteeDuties(ctx, &api.SyncCommitteeDutiesOpts{Epoch: phase0.Epoch(epoch), Indices: vindices(idx)})
		if err == nil {
			out = r.Data
		}
		return err
	})
	return out, err
}

// SubmitBeaconCommitteeSubscriptions implements Beacon.
func (b *HTTPBeacon) SubmitBeaconCommitteeSubscriptions(ctx context.Context, subs []*apiv1.BeaconCommitteeSubscription) error {
	return b.call(ctx, "beacon committee subscriptions", func(ctx context.Context, s beaconService) error {
		return s.SubmitBeaconCommitteeSubscriptions(ctx, subs)
	})
}

// SubmitSyncCommitteeSubscriptions implements Beacon.
func (b *HTTPBeacon) SubmitSyncCommitteeSubscriptions(ctx context.Context, subs []*apiv1.SyncCommitteeSubscription) error {
	return b.call(ctx, "sync committee subscriptions", func(ctx context.Context, s beaconService) error {
		return s.SubmitSyncCommitteeSubscriptions(ctx, subs)
	})
}

// Liveness implements Beacon (POST /eth/v1/validator/liveness/{epoch}).
func (b *HTTPBeacon) Liveness(ctx context.Context, epoch uint64, idx []uint64) ([]*apiv1.ValidatorLiveness, error) {
	var out []*apiv1.ValidatorLiveness
	err := b.call(ctx, "validator liveness", func(ctx context.Context, s beaconService) error {
		r, err := s.ValidatorLiveness(ctx, &api.ValidatorLivenessOpts{Epoch: phase0.Epoch(epoch), Indices: vindices(idx)})
		if err == nil {
			out = r.Data
		}
		return err
	})
	return out, err
}

// AttestationData implements Beacon.
func (b *HTTPBeacon) AttestationData(ctx context.Context, slot, ci uint64) (*phase0.AttestationData, error) {
	var out *phase0.AttestationData
	err := b.call(ctx, "attestation data", func(ctx context.Context, s beaconService) error {
		r, err := s.AttestationData(ctx, &api.AttestationDataOpts{Slot: phase0.Slot(slot), CommitteeIndex: phase0.CommitteeIndex(ci)})
		if err == nil {
			out = r.Data
		}
		return err
	})
	return out, err
}

// AggregateAttestation implements Beacon.
func (b *HTTPBeacon) AggregateAttestation(ctx context.Context, slot uint64, root [32]byte, ci uint64) (*spec.VersionedAttestation, error) {
	var out *spec.VersionedAttestation
	err := b.call(ctx, "aggregate attestation", func(ctx context.Context, s beaconService) error {
		r, err := s.AggregateAttestation(ctx, &api.AggregateAttestationOpts{Slot: phase0.Slot(slot), AttestationDataRoot: root, CommitteeIndex: phase0.CommitteeIndex(ci)})
		if err == nil {
			out = r.Data
		}
		return err
	})
	return out, err
}

// Proposal implements Beacon (produce block v3).
func (b *HTTPBeacon) Proposal(ctx context.Context, slot uint64, randao [96]byte, graffiti [32]byte) (*api.VersionedProposal, error) {
	var out *api.VersionedProposal
	err := b.call(ctx, "produce block", func(ctx context.Context, s beaconService) error {
		r, err := s.Proposal(ctx, &api.ProposalOpts{Slot: phase0.Slot(slot), RandaoReveal: randao, Graffiti: graffiti})
		if err == nil {
			out = r.Data
		}
		return err
	})
	return out, err
}

// BlockRoot implements Beacon.
func (b *HTTPBeacon) BlockRoot(ctx context.Context, id string) ([32]byte, error) {
	var out [32]byte
	err := b.call(ctx, "block root", func(ctx context.Context, s beaconService) error {
		r, err := s.BeaconBlockRoot(ctx, &api.BeaconBlockRootOpts{Block: id})
		if err == nil && r.Data != nil {
			out = *r.Data
		}
		return err
	})
	return out, err
}

// SyncCommitteeContribution implements Beacon.
func (b *HTTPBeacon) SyncCommitteeContribution(ctx context.Context, slot, sub uint64, root [32]byte) (*altair.SyncCommitteeContribution, error) {
	var out *altair.SyncCommitteeContribution
	err := b.call(ctx, "sync committee contribution", func(ctx context.Context, s beaconService) error {
		r, err := s.SyncCommitteeContribution(ctx, &api.SyncCommitteeContributionOpts{Slot: phase0.Slot(slot), SubcommitteeIndex: sub, BeaconBlockRoot: root})
		if err == nil {
			out = r.Data
		}
		return err
	})
	return out, err
}

// SubmitAttestations implements Beacon: POST /eth/v2/beacon/pool/attestations with the Eth-Consensus-Version
// header (SingleAttestation from electra on).
func (b *HTTPBeacon) SubmitAttestations(ctx context.Context, atts []*spec.VersionedAttestation) error {
	return b.call(ctx, "submit attestations", func(ctx context.Context, s beaconService) error {
		return s.SubmitAttestations(ctx, &api.SubmitAttestationsOpts{Attestations: atts})
	})
}

// SubmitAggregateAttestations implements Beacon.
func (b *HTTPBeacon) SubmitAggregateAttestations(ctx context.Context, aggs []*spec.VersionedSignedAggregateAndProof) error {
	return b.call(ctx, "submit aggregates", func(ctx context.Context, s beaconService) error {
		return s.SubmitAggregateAttestations(ctx, &api.SubmitAggregateAttestationsOpts{SignedAggregateAndProofs: aggs})
	})
}

// SubmitProposal implements Beacon.
func (b *HTTPBeacon) SubmitProposal(ctx context.Context, p *api.VersionedSignedProposal) error {
	return b.call(ctx, "submit proposal", func(ctx context.Context, s beaconService) error {
		return s.SubmitProposal(ctx, &api.SubmitProposalOpts{Proposal: p})
	})
}

// SubmitBlindedProposal implements Beacon.
func (b *HTTPBeacon) SubmitBlindedProposal(ctx context.Context, p *api.VersionedSignedBlindedProposal) error {
	return b.call(ctx, "submit blinded proposal", func(ctx context.Context, s beaconService) error {
		return s.SubmitBlindedProposal(ctx, &api.SubmitBlindedProposalOpts{Proposal: p})
	})
}

// SubmitSyncCommitteeMessages implements Beacon.
func (b *HTTPBeacon) SubmitSyncCommitteeMessages(ctx context.Context, msgs []*altair.SyncCommitteeMessage) error {
	return b.call(ctx, "submit sync committee messages", func(ctx context.Context, s beaconService) error {
		return s.SubmitSyncCommitteeMessages(ctx, msgs)
	})
}

// SubmitSyncCommitteeContributions implements Beacon.
func (b *HTTPBeacon) SubmitSyncCommitteeContributions(ctx context.Context, cs []*altair.SignedContributionAndProof) error {
	return b.call(ctx, "submit sync committee contributions", func(ctx context.Context, s beaconService) error {
		return s.SubmitSyncCommitteeContributions(ctx, cs)
	})
}

// SubmitValidatorRegistrations implements Beacon.
func (b *HTTPBeacon) SubmitValidatorRegistrations(ctx context.Context, regs []*api.VersionedSignedValidatorRegistration) error {
	return b.call(ctx, "submit validator registrations", func(ctx context.Context, s beaconService) error {
		return s.SubmitValidatorRegistrations(ctx, regs)
	})
}

// SubmitVoluntaryExit implements Beacon.
func (b *HTTPBeacon) SubmitVoluntaryExit(ctx context.Context, e *phase0.SignedVoluntaryExit) error {
	return b.call(ctx, "submit voluntary exit", func(ctx context.Context, s beaconService) error {
		return s.SubmitVoluntaryExit(ctx, e)
	})
}

// Events implements Beacon: it subscribes to head, block and finalized_checkpoint and blocks until ctx ends.
// go-eth2-client reconnects a broken stream by itself.
func (b *HTTPBeacon) Events(ctx context.Context, handler func(Event)) error {
	svc, err := b.service(ctx)
	if err != nil {
		return err
	}
	err = svc.Events(ctx, &api.EventsOpts{
		Topics: []string{"head", "block", "finalized_checkpoint"},
		HeadHandler: func(_ context.Context, e *apiv1.HeadEvent) {
			handler(Event{Topic: "head", Slot: uint64(e.Slot), Root: e.Block})
		},
		BlockHandler: func(_ context.Context, e *apiv1.BlockEvent) {
			handler(Event{Topic: "block", Slot: uint64(e.Slot), Root: e.Block})
		},
		FinalizedCheckpointHandler: func(_ context.Context, e *apiv1.FinalizedCheckpointEvent) {
			handler(Event{Topic: "finalized_checkpoint", Epoch: uint64(e.Epoch), Root: e.Block})
		},
	})
	if err != nil {
		return b.classify("events", err)
	}
	<-ctx.Done()
	return ctx.Err()
}
