// Package transport is phalanx's raft.Transport: hashicorp/raft RPCs over
// libp2p streams (TCP, noise, yamux) with versioned, length-prefixed frames
// that carry the raft message plus a list of opaque extensions.
//
// hashicorp/raft's AppendEntriesResponse has no room for extra data, yet
// phalanx's followers return their signature shares on exactly that response.
// The Hooks interface is the seam: on the leader, RequestExtensions attaches
// extensions (share requests) to outgoing AppendEntries and
// OnResponseExtensions receives what followers sent back; on a follower,
// OnAppendEntriesHandled runs once raft has handled the request (so a
// successful response means the entries are durable) and returns the
// extensions to carry back (shares).
//
// Raft server addresses are full multiaddrs ending in /p2p/<peer ID>
// (LocalAddr, AddressPeerID). Only peers in the allowlist may connect: a
// libp2p ConnectionGater refuses others right after the noise handshake, and
// the stream handler checks again. SetAllowed follows membership changes.
//
// Wire format: see frame.go. Every frame starts with a version byte and a
// type byte; types only ever grow and decoders refuse what they do not know.
package transport
