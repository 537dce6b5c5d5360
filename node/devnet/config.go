package devnet

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"time"

	"github.com/phalanx-eth/phalanx/fsm/eth"
)

// ErrInvalidConfig is wrapped by every error Config.Validate reports.
var ErrInvalidConfig = errors.New("invalid devnet config")

// Bounds on the configuration.
const (
	// MinSlotDuration is the shortest slot the devnet accepts.
	MinSlotDuration = 200 * time.Millisecond
	// MaxValidators is the largest validator set the devnet accepts; the
	// built-in signer holds every key in memory and signs for each (load
	// runs give the cluster all of them, so the devnet signs nothing).
	MaxValidators = 32768
)

// supportedForks lists the forks that Config.Fork may name, oldest first.
var supportedForks = []string{eth.ForkAltair, eth.ForkBellatrix, eth.ForkCapella, eth.ForkDeneb, eth.ForkElectra}

// Config describes a devnet. Start from DefaultConfig and check with
// Validate; New applies the documented defaults to zero values.
type Config struct {
	// NumValidators is the number of interop validators at genesis (default 64).
	NumValidators int
	// ClusterValidators are the indices the cluster signs for; the devnet's
	// built-in signer performs the duties of every other validator.
	ClusterValidators []uint64
	// SlotDuration is the slot length (default 2s, at least MinSlotDuration).
	SlotDuration time.Duration
	// GenesisTime is the chain's genesis, truncated to whole seconds
	// (default: a few seconds after the devnet is created).
	GenesisTime time.Time
	// ListenAddr is the HTTP listen address (default 127.0.0.1:0).
	ListenAddr string
	// Fork is the fork active from genesis, one of altair, bellatrix,
	// capella, deneb, electra (default electra); earlier forks are at epoch 0.
	Fork string
	// SlotsPerEpoch is SLOTS_PER_EPOCH (default 8).
	SlotsPerEpoch uint64
	// Logger receives the devnet's logs (default: discard).
	Logger *slog.Logger
}

// DefaultConfig returns the configuration `make run` uses: 64 validators,
// 2 s slots, 8 slots per epoch, electra from genesis, a random loopback
// port, genesis a few seconds after New.
func DefaultConfig() Config {
	return Config{
		NumValidators: 64,
		SlotDuration:  2 * time.Second,
		ListenAddr:    "127.0.0.1:0",
		Fork:          eth.ForkElectra,
		SlotsPerEpoch: 8,
	}
}

// withDefaults returns c with zero values replaced by the defaults.
func (c Config) withDefaults(now time.Time) Config {
	d := DefaultConfig()
	if c.NumValidators == 0 {
		c.NumValidators = d.NumValidators
	}
	if c.SlotDuration == 0 {
		c.SlotDuration = d.SlotDuration
	}
	if c.ListenAddr == "" {
		c.ListenAddr = d.ListenAddr
	}
	if c.Fork == "" {
		c.Fork = d.Fork
	}
	if c.SlotsPerEpoch == 0 {
		c.SlotsPerEpoch = d.SlotsPerEpoch
	}
	if c.GenesisTime.IsZero() {
		c.GenesisTime = now.Truncate(time.Second).Add(3 * time.Second)
	}
	c.GenesisTime = c.GenesisTime.Truncate(time.Second)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every bad value of c, naming the field, joined into one
// error that wraps ErrInvalidConfig. Zero values that New replaces with a
// default are accepted. It changes nothing.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if c.NumValidators < 0 || c.NumValidators > MaxValidators {
		bad("NumValidators is %d; it must be in 1..%d (0 selects 64)", c.NumValidators, MaxValidators)
	}
	n := uint64(c.NumValidators)
	if n == 0 {
		n = 64
	}
	seen := make(map[uint64]bool, len(c.ClusterValidators))
	for _, v := range c.ClusterValidators {
		if v >= n {
			bad("ClusterValidators holds %d; validator indices are 0..%d", v, n-1)
		}
		if seen[v] {
			bad("ClusterValidators lists %d twice", v)
		}
		seen[v] = true
	}
	if c.SlotDuration != 0 && c.SlotDuration < MinSlotDuration {
		bad("SlotDuration is %s; it must be at least %s", c.SlotDuration, MinSlotDuration)
	}
	if c.SlotDuration%time.Millisecond != 0 {
		bad("SlotDuration is %s; it must be a whole number of milliseconds", c.SlotDuration)
	}
	if c.Fork != "" && !slices.Contains(supportedForks, c.Fork) {
		bad("Fork is %q; it must be one of %v", c.Fork, supportedForks)
	}
	if c.SlotsPerEpoch == 1 || c.SlotsPerEpoch > 64 {
		bad("SlotsPerEpoch is %d; it must be in 2..64 (0 selects 8)", c.SlotsPerEpoch)
	}
	if c.ListenAddr != "" {
		if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
			bad("ListenAddr %q is not host:port: %v", c.ListenAddr, err)
		}
	}
	if !c.GenesisTime.IsZero() && c.GenesisTime.Unix() <= 0 {
		bad("GenesisTime %s is not after the Unix epoch", c.GenesisTime)
	}
	return errors.Join(errs...)
}
