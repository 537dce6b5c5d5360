package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Server. Start from DefaultConfig; Validate names any bad value.
type Config struct {
	// Listen is the host:port the server listens on (Run only; Serve takes a listener).
	Listen string
	// AdminToken protects the admin API (Authorization: Bearer <token>). Required.
	AdminToken string
	// KeymanagerToken protects the Keymanager API. Empty disables the Keymanager routes (they answer 401).
	KeymanagerToken string
	// UpstreamBeaconURLs are the beacon nodes the leader passes Beacon API requests through to, tried in
	// order on connection failure. Empty means requests the cluster cannot answer get 503.
	UpstreamBeaconURLs []string
	// MemberAPIs maps raft server IDs to the base URL of that member's API, used to forward requests to the
	// leader.
	MemberAPIs map[string]string
	// Version is reported by /eth/v1/node/version and in the Server header.
	Version string
	// Logger receives one structured line per request at debug level, and errors; nil means slog.Default().
	Logger *slog.Logger
	// Registry receives the server's metrics and is served on /metrics. Required.
	Registry *prometheus.Registry
	// SignTimeout bounds how long a signing request waits for its group signature.
	SignTimeout time.Duration
	// MaxBodyBytes bounds request bodies (snapshot restore and slashing imports use MaxUploadBytes).
	MaxBodyBytes int64
	// MaxUploadBytes bounds snapshot-restore and interchange-import bodies.
	MaxUploadBytes int64
	// ShutdownTimeout bounds the graceful shutdown of Run and Serve.
	ShutdownTimeout time.Duration
}

// DefaultConfig returns defaults for everything but the tokens, upstreams, members and registry.
func DefaultConfig() Config {
	return Config{
		Listen:          "127.0.0.1:5060",
		Version:         "dev",
		SignTimeout:     4 * time.Second,
		MaxBodyBytes:    4 << 20,
		MaxUploadBytes:  64 << 20,
		ShutdownTimeout: 5 * time.Second,
	}
}

// ErrInvalidConfig wraps every error Validate returns.
var ErrInvalidConfig = errors.New("invalid api config")

// minTokenLen is the shortest token accepted: the Keymanager API asks for at least 256 bits, hex-encoded.
const minTokenLen = 16

// Validate reports the first bad value. It changes nothing.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			return bad("Listen %q: want host:port", c.Listen)
		}
	}
	switch {
	case len(c.AdminToken) < minTokenLen:
		return bad("AdminToken must be at least %d characters", minTokenLen)
	case c.KeymanagerToken != "" && len(c.KeymanagerToken) < minTokenLen:
		return bad("KeymanagerToken must be empty or at least %d characters", minTokenLen)
	case c.KeymanagerToken != "" && c.KeymanagerToken == c.AdminToken:
		return bad("KeymanagerToken must differ from AdminToken")
	case c.Registry == nil:
		return bad("Registry is nil")
	case c.SignTimeout <= 0:
		return bad("SignTimeout %s must be positive", c.SignTimeout)
	case c.MaxBodyBytes <= 0:
		return bad("MaxBodyBytes %d must be positive", c.MaxBodyBytes)
	case c.MaxUploadBytes <= 0:
		return bad("MaxUploadBytes %d must be positive", c.MaxUploadBytes)
	case c.ShutdownTimeout <= 0:
		return bad("ShutdownTimeout %s must be positive", c.ShutdownTimeout)
	}
	for i, u := range c.UpstreamBeaconURLs {
		if err := checkBaseURL(u); err != nil {
			return bad("UpstreamBeaconURLs[%d] %q: %v", i, u, err)
		}
	}
	for id, u := range c.MemberAPIs {
		if id == "" {
			return bad("MemberAPIs has an empty server ID")
		}
		if err := checkBaseURL(u); err != nil {
			return bad("MemberAPIs[%s] %q: %v", id, u, err)
		}
	}
	return nil
}

func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("want an http:// or https:// URL")
	}
	if u.Host == "" {
		return errors.New("no host")
	}
	return nil
}
