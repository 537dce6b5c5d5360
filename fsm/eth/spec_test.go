package eth

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// readYAMLScalars reads a flat consensus-specs YAML file as raw scalar
// strings (so 0x01000000 stays a version, not an integer).
func readYAMLScalars(t *testing.T, path string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var nodes map[string]yaml.Node
	if err := yaml.Unmarshal(raw, &nodes); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	out := make(map[string]string, len(nodes))
	for k, n := range nodes {
		if n.Kind == yaml.ScalarNode {
			out[k] = n.Value
		}
	}
	return out
}

// specFromConsensusSpecs builds a Spec from configs/<name>.yaml and
// presets/<preset>/*.yaml. Genesis time and root are not part of those
// files and are left zero.
func specFromConsensusSpecs(t *testing.T, name string) *Spec {
	t.Helper()
	dir := vectorDir(t, "consensus-specs")
	cfg := readYAMLScalars(t, filepath.Join(dir, "configs", name+".yaml"))
	preset := strings.Trim(cfg["PRESET_BASE"], "'\"")
	values := map[string]string{}
	for _, fork := range []string{"phase0", "altair", "electra"} {
		for k, v := range readYAMLScalars(t, filepath.Join(dir, "presets", preset, fork+".yaml")) {
			values[k] = v
		}
	}
	for k, v := range cfg {
		values[k] = v
	}
	u := func(key string) uint64 {
		t.Helper()
		v, ok := values[key]
		if !ok {
			t.Fatalf("%s: %s missing", name, key)
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s: %s = %q: %v", name, key, v, err)
		}
		return n
	}
	ver := func(key string) Version {
		t.Helper()
		b := mustHex(t, values[key])
		if len(b) != 4 {
			t.Fatalf("%s: %s = %q is not 4 bytes", name, key, values[key])
		}
		return Version(b)
	}
	if ms := u("SLOT_DURATION_MS"); ms != u("SECONDS_PER_SLOT")*1000 {
		t.Fatalf("%s: SLOT_DURATION_MS %d disagrees with SECONDS_PER_SLOT", name, ms)
	}
	s := &Spec{
		ConfigName:                   strings.Trim(values["CONFIG_NAME"], "'\""),
		SecondsPerSlot:               u("SECONDS_PER_SLOT"),
		SlotsPerEpoch:                u("SLOTS_PER_EPOCH"),
		GenesisForkVersion:           ver("GENESIS_FORK_VERSION"),
		Forks:                        []Fork{{Name: ForkPhase0, Version: ver("GENESIS_FORK_VERSION")}},
		ShuffleRoundCount:            u("SHUFFLE_ROUND_COUNT"),
		TargetCommitteeSize:          u("TARGET_COMMITTEE_SIZE"),
		MaxCommitteesPerSlot:         u("MAX_COMMITTEES_PER_SLOT"),
		MaxValidatorsPerCommittee:    u("MAX_VALIDATORS_PER_COMMITTEE"),
		SyncCommitteeSize:            u("SYNC_COMMITTEE_SIZE"),
		EpochsPerSyncCommitteePeriod: u("EPOCHS_PER_SYNC_COMMITTEE_PERIOD"),
		MinSeedLookahead:             u("MIN_SEED_LOOKAHEAD"),
		MaxSeedLookahead:             u("MAX_SEED_LOOKAHEAD"),
		EpochsPerHistoricalVector:    u("EPOCHS_PER_HISTORICAL_VECTOR"),
		MaxEffectiveBalance:          u("MAX_EFFECTIVE_BALANCE"),
		MaxEffectiveBalanceElectra:   u("MAX_EFFECTIVE_BALANCE_ELECTRA"),
		// Honest-validator constants (phase0 and altair validator.md); they
		// are not in the preset files.
		TargetAggregatorsPerCommittee:        16,
		SyncCommitteeSubnetCount:             4,
		TargetAggregatorsPerSyncSubcommittee: 16,
	}
	for _, fork := range forkOrder[1:] {
		key := strings.ToUpper(fork)
		s.Forks = append(s.Forks, Fork{Name: fork, Version: ver(key + "_FORK_VERSION"), Epoch: u(key + "_FORK_EPOCH")})
	}
	return s
}

func TestPresetsMatchConsensusSpecs(t *testing.T) {
	for _, c := range []struct {
		name string
		got  *Spec
	}{{"mainnet", MainnetSpec()}, {"minimal", MinimalSpec()}} {
		want := specFromConsensusSpecs(t, c.name)
		want.GenesisTime, want.GenesisValidatorsRoot = c.got.GenesisTime, c.got.GenesisValidatorsRoot
		if !reflect.DeepEqual(c.got, want) {
			t.Errorf("%s spec differs from consensus-specs v1.6.1:\n got  %+v\n want %+v", c.name, c.got, want)
		}
		if err := c.got.Validate(); err != nil {
			t.Errorf("%s spec does not validate: %v", c.name, err)
		}
	}
}

func TestValidateNamesBadValues(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Spec)
		field  string
	}{
		{"zero slots per epoch", func(s *Spec) { s.SlotsPerEpoch = 0 }, "SlotsPerEpoch"},
		{"zero seconds per slot", func(s *Spec) { s.SecondsPerSlot = 0 }, "SecondsPerSlot"},
		{"zero rounds", func(s *Spec) { s.ShuffleRoundCount = 0 }, "ShuffleRoundCount"},
		{"too many rounds", func(s *Spec) { s.ShuffleRoundCount = 257 }, "ShuffleRoundCount"},
		{"zero committee size", func(s *Spec) { s.TargetCommitteeSize = 0 }, "TargetCommitteeSize"},
		{"sync size not a multiple", func(s *Spec) { s.SyncCommitteeSize = 513 }, "SyncCommitteeSize"},
		{"lookahead order", func(s *Spec) { s.MinSeedLookahead = 5 }, "MinSeedLookahead"},
		{"no forks", func(s *Spec) { s.Forks = nil }, "Forks"},
		{"phase0 not at 0", func(s *Spec) { s.Forks[0].Epoch = 1 }, "Forks[0]"},
		{"genesis version mismatch", func(s *Spec) { s.GenesisForkVersion = Version{9} }, "GenesisForkVersion"},
		{"fork out of order", func(s *Spec) { s.Forks[2].Epoch = 1 }, "Forks[2] (bellatrix) epoch 1"},
		{"fork renamed", func(s *Spec) { s.Forks[1].Name = "Altair" }, "Forks[1]"},
		{"duplicate version", func(s *Spec) { s.Forks[2].Version = s.Forks[1].Version }, "Forks[2]"},
		{"unknown extra fork", func(s *Spec) {
			s.Forks = append(s.Forks, Fork{Name: "gloas", Version: Version{7}, Epoch: FarFutureEpoch})
		}, "Forks"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := MainnetSpec()
			c.mutate(s)
			before := *s
			before.Forks = append([]Fork(nil), s.Forks...)
			err := s.Validate()
			if !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("Validate() = %v, want ErrInvalidSpec", err)
			}
			if !strings.Contains(err.Error(), c.field) {
				t.Errorf("Validate() = %q, does not name %s", err, c.field)
			}
			if !reflect.DeepEqual(*s, before) {
				t.Error("Validate changed the spec")
			}
		})
	}
	// Several problems are all reported.
	s := MainnetSpec()
	s.SlotsPerEpoch, s.TargetCommitteeSize = 0, 0
	err := s.Validate()
	for _, f := range []string{"SlotsPerEpoch", "TargetCommitteeSize"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("Validate() = %v, does not name %s", err, f)
		}
	}
	// A devnet that schedules only some forks, several at genesis, is valid.
	s = MinimalSpec()
	s.Forks = s.Forks[:5]
	for i := range s.Forks {
		s.Forks[i].Epoch = 0
	}
	if err := s.Validate(); err != nil {
		t.Errorf("devnet with phase0..deneb at genesis: %v", err)
	}
	if got := s.ForkAtEpoch(0).Name; got != ForkDeneb {
		t.Errorf("devnet ForkAtEpoch(0) = %s, want deneb", got)
	}
	if err := (*Spec)(nil).Validate(); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("nil spec: %v", err)
	}
}

func TestForkAtEpoch(t *testing.T) {
	m := MainnetSpec()
	for _, c := range []struct {
		epoch uint64
		want  string
	}{
		{0, ForkPhase0}, {74239, ForkPhase0}, {74240, ForkAltair}, {144895, ForkAltair},
		{144896, ForkBellatrix}, {194048, ForkCapella}, {269567, ForkCapella}, {269568, ForkDeneb},
		{364031, ForkDeneb}, {364032, ForkElectra}, {411391, ForkElectra}, {411392, ForkFulu},
		{FarFutureEpoch, ForkFulu},
	} {
		if got := m.ForkAtEpoch(c.epoch); got.Name != c.want {
			t.Errorf("mainnet ForkAtEpoch(%d) = %s, want %s", c.epoch, got.Name, c.want)
		}
	}
	if got := m.ForkAtEpoch(364032).Version; got != (Version{5, 0, 0, 0}) {
		t.Errorf("electra version = %s", got)
	}
	n := MinimalSpec()
	for _, e := range []uint64{0, 1, 1 << 40, FarFutureEpoch} {
		if got := n.ForkAtEpoch(e); got.Name != ForkPhase0 || got.Version != (Version{0, 0, 0, 1}) {
			t.Errorf("minimal ForkAtEpoch(%d) = %+v, want phase0 0x00000001", e, got)
		}
	}
	if !m.IsForkActive(ForkCapella, 364032) || m.IsForkActive(ForkElectra, 364031) || m.IsForkActive("gloas", 1<<40) {
		t.Error("IsForkActive disagrees with the mainnet schedule")
	}
	if m.EpochAtSlot(31) != 0 || m.EpochAtSlot(32) != 1 || m.EpochStartSlot(2) != 64 || n.EpochAtSlot(8) != 1 {
		t.Error("slot/epoch arithmetic is wrong")
	}
	if m.SyncCommitteePeriod(255) != 0 || m.SyncCommitteePeriod(256) != 1 || n.SyncCommitteePeriod(8) != 1 {
		t.Error("sync committee period arithmetic is wrong")
	}
	if m.SlotStartTime(1) != 1606824035 {
		t.Errorf("SlotStartTime(1) = %d", m.SlotStartTime(1))
	}
}
