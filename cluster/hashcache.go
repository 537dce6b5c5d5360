package cluster

import (
	"sync"

	"github.com/phalanx-eth/phalanx/threshold"
)

// hashCache keeps recently hashed signing roots: on the leader, the signer hashes a duty's root to sign its
// own shares and the combiner needs the same point to verify the rebuilt signature, and a committee's
// validators all share one root. Hashing to G2 costs about as much as a partial signature.
type hashCache struct {
	mu   sync.Mutex
	m    map[[32]byte]*threshold.HashedMessage
	ring [][32]byte
	next int
}

const hashCacheSize = 4096

var hashes = &hashCache{m: make(map[[32]byte]*threshold.HashedMessage, hashCacheSize), ring: make([][32]byte, hashCacheSize)}

// get returns the hashed message of root, hashing it once.
func (c *hashCache) get(root [32]byte) *threshold.HashedMessage {
	c.mu.Lock()
	h, ok := c.m[root]
	c.mu.Unlock()
	if ok {
		return h
	}
	h = threshold.HashMessage(root[:])
	c.mu.Lock()
	if _, ok := c.m[root]; !ok {
		old := c.ring[c.next]
		if _, used := c.m[old]; used && len(c.m) >= hashCacheSize {
			delete(c.m, old)
		}
		c.ring[c.next] = root
		c.next = (c.next + 1) % hashCacheSize
		c.m[root] = h
	}
	c.mu.Unlock()
	return h
}
