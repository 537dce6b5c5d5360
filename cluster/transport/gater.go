package transport

import (
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// allowlist is the set of peers that may talk to this node. It doubles as the
// libp2p ConnectionGater, refusing other peers once the noise handshake has
// authenticated them.
type allowlist struct {
	self   peer.ID
	logger *slog.Logger

	mu  sync.RWMutex
	ids map[peer.ID]struct{}

	// Refusals are logged at most once per refusalLogEvery per peer; the next line says how many were not.
	logMu   sync.Mutex
	now     func() time.Time
	refused map[peer.ID]*refusalLog
}

type refusalLog struct {
	at         time.Time
	suppressed int
}

const (
	refusalLogEvery = time.Minute
	// maxRefusalLogPeers bounds the per-peer bookkeeping; past it the table starts over (a few extra lines).
	maxRefusalLogPeers = 1024
)

func newAllowlist(self peer.ID, ids []peer.ID, logger *slog.Logger) *allowlist {
	a := &allowlist{self: self, logger: logger, now: time.Now, refused: make(map[peer.ID]*refusalLog)}
	a.set(ids)
	return a
}

// set replaces the allowed peers and returns the ones that were removed.
func (a *allowlist) set(ids []peer.ID) []peer.ID {
	next := make(map[peer.ID]struct{}, len(ids))
	for _, id := range ids {
		next[id] = struct{}{}
	}
	a.mu.Lock()
	prev := a.ids
	a.ids = next
	a.mu.Unlock()
	var removed []peer.ID
	for id := range prev {
		if _, ok := next[id]; !ok {
			removed = append(removed, id)
		}
	}
	return removed
}

func (a *allowlist) allowed(id peer.ID) bool {
	if id == a.self {
		return true
	}
	a.mu.RLock()
	_, ok := a.ids[id]
	a.mu.RUnlock()
	return ok
}

// refuse logs a refused peer: the first refusal, then at most one line per refusalLogEvery with the number
// of refusals not logged in between, so a stranger retrying in a loop cannot flood the log.
func (a *allowlist) refuse(id peer.ID, remote ma.Multiaddr, where string) {
	a.logMu.Lock()
	now := a.now()
	r := a.refused[id]
	if r != nil && now.Sub(r.at) < refusalLogEvery {
		r.suppressed++
		a.logMu.Unlock()
		return
	}
	suppressed := 0
	if r != nil {
		suppressed = r.suppressed
	}
	if r == nil && len(a.refused) >= maxRefusalLogPeers {
		a.refused = make(map[peer.ID]*refusalLog)
	}
	a.refused[id] = &refusalLog{at: now}
	a.logMu.Unlock()
	a.logger.Warn("refused peer not in allowlist", "peer_id", id.String(), "remote_addr", addrString(remote), "stage", where,
		"refusals_not_logged", suppressed)
}

func addrString(m ma.Multiaddr) string {
	if m == nil {
		return ""
	}
	return m.String()
}

// InterceptPeerDial refuses to dial peers outside the allowlist.
func (a *allowlist) InterceptPeerDial(id peer.ID) bool { return a.allowed(id) }

// InterceptAddrDial allows every address of a peer that passed InterceptPeerDial.
func (a *allowlist) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }

// InterceptAccept lets every inbound connection reach the handshake, where the
// peer is authenticated.
func (a *allowlist) InterceptAccept(network.ConnMultiaddrs) bool { return true }

// InterceptSecured refuses an authenticated connection from or to a peer
// outside the allowlist.
func (a *allowlist) InterceptSecured(dir network.Direction, id peer.ID, addrs network.ConnMultiaddrs) bool {
	if a.allowed(id) {
		return true
	}
	a.refuse(id, addrs.RemoteMultiaddr(), "handshake")
	return false
}

// InterceptUpgraded allows every connection that passed InterceptSecured.
func (a *allowlist) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
