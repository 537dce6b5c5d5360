package transport

import "sync/atomic"

// FrameCounts counts raft requests by kind.
type FrameCounts struct {
	// AppendEntries counts synchronous AppendEntries requests that are not heartbeats.
	AppendEntries uint64
	// Heartbeats counts AppendEntries heartbeats.
	Heartbeats uint64
	// PipelinedAppendEntries counts AppendEntries requests sent on pipelines
	// (sender side only; a receiver counts them under AppendEntries).
	PipelinedAppendEntries uint64
	// RequestVote counts RequestVote requests.
	RequestVote uint64
	// RequestPreVote counts RequestPreVote requests.
	RequestPreVote uint64
	// InstallSnapshot counts InstallSnapshot requests.
	InstallSnapshot uint64
	// SnapshotChunks counts snapshot chunk frames.
	SnapshotChunks uint64
	// TimeoutNow counts TimeoutNow requests.
	TimeoutNow uint64
	// Errors counts error responses.
	Errors uint64
}

// Stats reports what a transport has sent and received since it started.
type Stats struct {
	// Sent counts requests this node sent, and error responses it returned.
	Sent FrameCounts
	// Received counts requests this node served, and error responses it got back.
	Received FrameCounts
}

// Stats returns a snapshot of the frame counters.
func (t *Transport) Stats() Stats {
	c := &t.counters
	return Stats{
		Sent: FrameCounts{
			AppendEntries:          c.sentByType[frameAppendEntriesRequest].Load() - c.heartbeatsSent.Load(),
			Heartbeats:             c.heartbeatsSent.Load(),
			PipelinedAppendEntries: c.pipelinedSent.Load(),
			RequestVote:            c.sentByType[frameRequestVoteRequest].Load(),
			RequestPreVote:         c.sentByType[frameRequestPreVoteRequest].Load(),
			InstallSnapshot:        c.sentByType[frameInstallSnapshotRequest].Load(),
			SnapshotChunks:         c.snapshotChunksSent.Load(),
			TimeoutNow:             c.sentByType[frameTimeoutNowRequest].Load(),
			Errors:                 c.sentByType[frameErrorResponse].Load(),
		},
		Received: FrameCounts{
			AppendEntries:   c.receivedByType[frameAppendEntriesRequest].Load() - c.heartbeatsReceived.Load(),
			Heartbeats:      c.heartbeatsReceived.Load(),
			RequestVote:     c.receivedByType[frameRequestVoteRequest].Load(),
			RequestPreVote:  c.receivedByType[frameRequestPreVoteRequest].Load(),
			InstallSnapshot: c.receivedByType[frameInstallSnapshotRequest].Load(),
			TimeoutNow:      c.receivedByType[frameTimeoutNowRequest].Load(),
			Errors:          c.receivedByType[frameErrorResponse].Load(),
		},
	}
}

type counters struct {
	sentByType         [frameTypeMax + 1]atomic.Uint64
	receivedByType     [frameTypeMax + 1]atomic.Uint64
	heartbeatsSent     atomic.Uint64
	heartbeatsReceived atomic.Uint64
	pipelinedSent      atomic.Uint64
	snapshotChunksSent atomic.Uint64
}

func (c *counters) sent(t frameType)     { c.sentByType[t].Add(1) }
func (c *counters) received(t frameType) { c.receivedByType[t].Add(1) }
