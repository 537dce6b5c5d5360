package eth

import (
	"errors"
	"fmt"
)

// Validator-side constants of the consensus specs that are not part of any
// preset (phase0 and altair honest-validator documents).
const (
	// TargetAggregatorsPerCommittee is TARGET_AGGREGATORS_PER_COMMITTEE.
	TargetAggregatorsPerCommittee = 16
	// SyncCommitteeSubnetCount is SYNC_COMMITTEE_SUBNET_COUNT.
	SyncCommitteeSubnetCount = 4
	// TargetAggregatorsPerSyncSubcommittee is TARGET_AGGREGATORS_PER_SYNC_SUBCOMMITTEE.
	TargetAggregatorsPerSyncSubcommittee = 16
)

// Spec holds the chain parameters a validator needs to compute duties and
// signing roots: the preset and config values of the consensus specs plus
// the chain's genesis. A Spec is a plain value; check it with Validate
// before use.
type Spec struct {
	// ConfigName is the network name (CONFIG_NAME), e.g. "mainnet".
	ConfigName string
	// SecondsPerSlot is SECONDS_PER_SLOT.
	SecondsPerSlot uint64
	// SlotsPerEpoch is SLOTS_PER_EPOCH.
	SlotsPerEpoch uint64
	// GenesisTime is the chain's genesis time in Unix seconds.
	GenesisTime uint64
	// GenesisForkVersion is GENESIS_FORK_VERSION.
	GenesisForkVersion Version
	// GenesisValidatorsRoot is the chain's genesis_validators_root.
	GenesisValidatorsRoot Root
	// Forks is the fork schedule, phase0 first, sorted by epoch. Forks that
	// are not scheduled carry FarFutureEpoch.
	Forks []Fork

	// ShuffleRoundCount is SHUFFLE_ROUND_COUNT.
	ShuffleRoundCount uint64
	// TargetCommitteeSize is TARGET_COMMITTEE_SIZE.
	TargetCommitteeSize uint64
	// MaxCommitteesPerSlot is MAX_COMMITTEES_PER_SLOT.
	MaxCommitteesPerSlot uint64
	// MaxValidatorsPerCommittee is MAX_VALIDATORS_PER_COMMITTEE.
	MaxValidatorsPerCommittee uint64
	// TargetAggregatorsPerCommittee is TARGET_AGGREGATORS_PER_COMMITTEE.
	TargetAggregatorsPerCommittee uint64

	// SyncCommitteeSize is SYNC_COMMITTEE_SIZE.
	SyncCommitteeSize uint64
	// SyncCommitteeSubnetCount is SYNC_COMMITTEE_SUBNET_COUNT.
	SyncCommitteeSubnetCount uint64
	// TargetAggregatorsPerSyncSubcommittee is TARGET_AGGREGATORS_PER_SYNC_SUBCOMMITTEE.
	TargetAggregatorsPerSyncSubcommittee uint64
	// EpochsPerSyncCommitteePeriod is EPOCHS_PER_SYNC_COMMITTEE_PERIOD.
	EpochsPerSyncCommitteePeriod uint64

	// MinSeedLookahead is MIN_SEED_LOOKAHEAD.
	MinSeedLookahead uint64
	// MaxSeedLookahead is MAX_SEED_LOOKAHEAD.
	MaxSeedLookahead uint64
	// EpochsPerHistoricalVector is EPOCHS_PER_HISTORICAL_VECTOR (RANDAO mix ring length).
	EpochsPerHistoricalVector uint64

	// MaxEffectiveBalance is MAX_EFFECTIVE_BALANCE in Gwei (proposer selection before Electra).
	MaxEffectiveBalance uint64
	// MaxEffectiveBalanceElectra is MAX_EFFECTIVE_BALANCE_ELECTRA in Gwei (proposer selection from Electra on).
	MaxEffectiveBalanceElectra uint64
}

// mainnetGenesisValidatorsRoot is genesis_validators_root of Ethereum mainnet.
var mainnetGenesisValidatorsRoot = Root{
	0x4b, 0x36, 0x3d, 0xb9, 0x4e, 0x28, 0x61, 0x20, 0xd7, 0x6e, 0xb9, 0x05, 0x34, 0x0f, 0xdd, 0x4e,
	0x54, 0xbf, 0xe9, 0xf0, 0x6b, 0xf3, 0x3f, 0xf6, 0xcf, 0x5a, 0xd2, 0x7f, 0x51, 0x1b, 0xfe, 0x95,
}

// MainnetSpec returns the parameters of Ethereum mainnet: the mainnet preset
// and config of consensus-specs v1.6.1 (forks phase0 through fulu) and the
// mainnet genesis. Each call returns a fresh copy.
func MainnetSpec() *Spec {
	return &Spec{
		ConfigName:            "mainnet",
		SecondsPerSlot:        12,
		SlotsPerEpoch:         32,
		GenesisTime:           1606824023,
		GenesisForkVersion:    Version{0x00, 0x00, 0x00, 0x00},
		GenesisValidatorsRoot: mainnetGenesisValidatorsRoot,
		Forks: []Fork{
			{Name: ForkPhase0, Version: Version{0x00, 0x00, 0x00, 0x00}, Epoch: 0},
			{Name: ForkAltair, Version: Version{0x01, 0x00, 0x00, 0x00}, Epoch: 74240},
			{Name: ForkBellatrix, Version: Version{0x02, 0x00, 0x00, 0x00}, Epoch: 144896},
			{Name: ForkCapella, Version: Version{0x03, 0x00, 0x00, 0x00}, Epoch: 194048},
			{Name: ForkDeneb, Version: Version{0x04, 0x00, 0x00, 0x00}, Epoch: 269568},
			{Name: ForkElectra, Version: Version{0x05, 0x00, 0x00, 0x00}, Epoch: 364032},
			{Name: ForkFulu, Version: Version{0x06, 0x00, 0x00, 0x00}, Epoch: 411392},
		},
		ShuffleRoundCount:                    90,
		TargetCommitteeSize:                  128,
		MaxCommitteesPerSlot:                 64,
		MaxValidatorsPerCommittee:            2048,
		TargetAggregatorsPerCommittee:        TargetAggregatorsPerCommittee,
		SyncCommitteeSize:                    512,
		SyncCommitteeSubnetCount:             SyncCommitteeSubnetCount,
		TargetAggregatorsPerSyncSubcommittee: TargetAggregatorsPerSyncSubcommittee,
		EpochsPerSyncCommitteePeriod:         256,
		MinSeedLookahead:                     1,
		MaxSeedLookahead:                     4,
		EpochsPerHistoricalVector:            65536,
		MaxEffectiveBalance:                  32_000_000_000,
		MaxEffectiveBalanceElectra:           2_048_000_000_000,
	}
}

// MinimalSpec returns the parameters of the consensus-specs v1.6.1 minimal
// preset and config. In that config only phase0 is scheduled (every later
// fork is at FarFutureEpoch); a devnet sets the fork epochs it wants, and its
// GenesisTime and GenesisValidatorsRoot, which are zero here. Each call
// returns a fresh copy.
func MinimalSpec() *Spec {
	return &Spec{
		ConfigName:         "minimal",
		SecondsPerSlot:     6,
		SlotsPerEpoch:      8,
		GenesisForkVersion: Version{0x00, 0x00, 0x00, 0x01},
		Forks: []Fork{
			{Name: ForkPhase0, Version: Version{0x00, 0x00, 0x00, 0x01}, Epoch: 0},
			{Name: ForkAltair, Version: Version{0x01, 0x00, 0x00, 0x01}, Epoch: FarFutureEpoch},
			{Name: ForkBellatrix, Version: Version{0x02, 0x00, 0x00, 0x01}, Epoch: FarFutureEpoch},
			{Name: ForkCapella, Version: Version{0x03, 0x00, 0x00, 0x01}, Epoch: FarFutureEpoch},
			{Name: ForkDeneb, Version: Version{0x04, 0x00, 0x00, 0x01}, Epoch: FarFutureEpoch},
			{Name: ForkElectra, Version: Version{0x05, 0x00, 0x00, 0x01}, Epoch: FarFutureEpoch},
			{Name: ForkFulu, Version: Version{0x06, 0x00, 0x00, 0x01}, Epoch: FarFutureEpoch},
		},
		ShuffleRoundCount:                    10,
		TargetCommitteeSize:                  4,
		MaxCommitteesPerSlot:                 4,
		MaxValidatorsPerCommittee:            2048,
		TargetAggregatorsPerCommittee:        TargetAggregatorsPerCommittee,
		SyncCommitteeSize:                    32,
		SyncCommitteeSubnetCount:             SyncCommitteeSubnetCount,
		TargetAggregatorsPerSyncSubcommittee: TargetAggregatorsPerSyncSubcommittee,
		EpochsPerSyncCommitteePeriod:         8,
		MinSeedLookahead:                     1,
		MaxSeedLookahead:                     4,
		EpochsPerHistoricalVector:            64,
		MaxEffectiveBalance:                  32_000_000_000,
		MaxEffectiveBalanceElectra:           2_048_000_000_000,
	}
}

// Validate checks s and reports every bad value by field name, joined into
// one error that wraps ErrInvalidSpec. It changes nothing.
func (s *Spec) Validate() error {
	if s == nil {
		return fmt.Errorf("%w: spec is nil", ErrInvalidSpec)
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidSpec}, args...)...))
	}
	positive := []struct {
		name string
		v    uint64
	}{
		{"SecondsPerSlot", s.SecondsPerSlot},
		{"SlotsPerEpoch", s.SlotsPerEpoch},
		{"TargetCommitteeSize", s.TargetCommitteeSize},
		{"MaxCommitteesPerSlot", s.MaxCommitteesPerSlot},
		{"MaxValidatorsPerCommittee", s.MaxValidatorsPerCommittee},
		{"TargetAggregatorsPerCommittee", s.TargetAggregatorsPerCommittee},
		{"SyncCommitteeSize", s.SyncCommitteeSize},
		{"SyncCommitteeSubnetCount", s.SyncCommitteeSubnetCount},
		{"TargetAggregatorsPerSyncSubcommittee", s.TargetAggregatorsPerSyncSubcommittee},
		{"EpochsPerSyncCommitteePeriod", s.EpochsPerSyncCommitteePeriod},
		{"EpochsPerHistoricalVector", s.EpochsPerHistoricalVector},
		{"MaxEffectiveBalance", s.MaxEffectiveBalance},
		{"MaxEffectiveBalanceElectra", s.MaxEffectiveBalanceElectra},
	}
	for _, p := range positive {
		if p.v == 0 {
			bad("%s is 0; it must be positive", p.name)
		}
	}
	if s.ShuffleRoundCount == 0 || s.ShuffleRoundCount > maxShuffleRounds {
		bad("ShuffleRoundCount is %d; it must be in 1..%d", s.ShuffleRoundCount, maxShuffleRounds)
	}
	if s.SyncCommitteeSubnetCount != 0 && s.SyncCommitteeSize%s.SyncCommitteeSubnetCount != 0 {
		bad("SyncCommitteeSize %d is not a multiple of SyncCommitteeSubnetCount %d",
			s.SyncCommitteeSize, s.SyncCommitteeSubnetCount)
	}
	if s.MinSeedLookahead > s.MaxSeedLookahead {
		bad("MinSeedLookahead %d is above MaxSeedLookahead %d", s.MinSeedLookahead, s.MaxSeedLookahead)
	}
	if s.EpochsPerHistoricalVector != 0 && s.MinSeedLookahead+1 > s.EpochsPerHistoricalVector {
		bad("MinSeedLookahead %d does not fit EpochsPerHistoricalVector %d",
			s.MinSeedLookahead, s.EpochsPerHistoricalVector)
	}
	errs = append(errs, s.validateForks()...)
	return errors.Join(errs...)
}

// validateForks checks the fork schedule: the canonical fork names in
// order, phase0 at epoch 0 with the genesis fork version, epochs not
// decreasing and versions distinct.
func (s *Spec) validateForks() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidSpec}, args...)...))
	}
	if len(s.Forks) == 0 {
		bad("Forks is empty; it must start with %s at epoch 0", ForkPhase0)
		return errs
	}
	if len(s.Forks) > len(forkOrder) {
		bad("Forks has %d entries; at most %d forks (%s..%s) are known",
			len(s.Forks), len(forkOrder), forkOrder[0], forkOrder[len(forkOrder)-1])
	}
	seen := make(map[Version]string, len(s.Forks))
	for i, f := range s.Forks {
		if i < len(forkOrder) && f.Name != forkOrder[i] {
			bad("Forks[%d] is named %q; want %q", i, f.Name, forkOrder[i])
		}
		if prev, dup := seen[f.Version]; dup {
			bad("Forks[%d] (%s) reuses version %s of %s", i, f.Name, f.Version, prev)
		}
		seen[f.Version] = f.Name
		if i > 0 && f.Epoch < s.Forks[i-1].Epoch {
			bad("Forks[%d] (%s) epoch %d is before Forks[%d] (%s) epoch %d",
				i, f.Name, f.Epoch, i-1, s.Forks[i-1].Name, s.Forks[i-1].Epoch)
		}
	}
	if s.Forks[0].Epoch != 0 {
		bad("Forks[0] (%s) epoch is %d; it must be 0", s.Forks[0].Name, s.Forks[0].Epoch)
	}
	if s.Forks[0].Version != s.GenesisForkVersion {
		bad("Forks[0] version %s differs from GenesisForkVersion %s", s.Forks[0].Version, s.GenesisForkVersion)
	}
	return errs
}

// ForkAtEpoch returns the fork in effect at epoch: the last scheduled entry
// of Forks whose epoch is not after it. Entries at FarFutureEpoch are never
// in effect.
func (s *Spec) ForkAtEpoch(epoch uint64) Fork {
	current := Fork{Name: ForkPhase0, Version: s.GenesisForkVersion}
	for _, f := range s.Forks {
		if f.Epoch == FarFutureEpoch || f.Epoch > epoch {
			break
		}
		current = f
	}
	return current
}

// forkByName returns the schedule entry called name.
func (s *Spec) forkByName(name string) (Fork, bool) {
	for _, f := range s.Forks {
		if f.Name == name {
			return f, true
		}
	}
	return Fork{}, false
}

// IsForkActive reports whether the fork called name (one of the Fork*
// constants) is in effect at epoch, directly or through a later fork.
func (s *Spec) IsForkActive(name string, epoch uint64) bool {
	want := forkRank(name)
	if want < 0 {
		return false
	}
	return forkRank(s.ForkAtEpoch(epoch).Name) >= want
}

// EpochAtSlot returns the epoch that contains slot (compute_epoch_at_slot).
func (s *Spec) EpochAtSlot(slot uint64) uint64 { return slot / s.SlotsPerEpoch }

// EpochStartSlot returns the first slot of epoch (compute_start_slot_at_epoch).
func (s *Spec) EpochStartSlot(epoch uint64) uint64 { return epoch * s.SlotsPerEpoch }

// SyncCommitteePeriod returns the sync committee period that contains epoch.
func (s *Spec) SyncCommitteePeriod(epoch uint64) uint64 {
	return epoch / s.EpochsPerSyncCommitteePeriod
}

// SlotStartTime returns the Unix time in seconds at which slot starts.
func (s *Spec) SlotStartTime(slot uint64) uint64 { return s.GenesisTime + slot*s.SecondsPerSlot }
