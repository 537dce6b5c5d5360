package transport

import (
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// AppendEntriesPipeline implements raft.Transport. The pipeline owns a
// dedicated stream; responses come back in request order. With MaxPipeline
// below 2 it returns raft.ErrPipelineReplicationNotSupported and raft
// replicates synchronously.
func (t *Transport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	if t.cfg.MaxPipeline < 2 {
		return nil, raft.ErrPipelineReplicationNotSupported
	}
	s, err := t.openStream(target)
	if err != nil {
		return nil, err
	}
	p := &pipeline{
		t:      t,
		id:     id,
		target: target,
		s:      s,
		// As in raft's NetworkTransport: a request is written before it is
		// queued, and the decoder holds one, so a buffer of max-2 allows max
		// requests in flight.
		inflight:   make(chan *appendFuture, t.cfg.MaxPipeline-2),
		done:       make(chan raft.AppendFuture, t.cfg.MaxPipeline-2),
		shutdownCh: make(chan struct{}),
	}
	go p.decodeResponses()
	return p, nil
}

type pipeline struct {
	t      *Transport
	id     raft.ServerID
	target raft.ServerAddress
	s      *stream

	writeMu  sync.Mutex
	inflight chan *appendFuture
	done     chan raft.AppendFuture

	shutdownCh chan struct{}
	closeOnce  sync.Once
}

// AppendEntries writes one request and queues its future; it blocks when
// MaxPipeline requests are in flight.
func (p *pipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	select {
	case <-p.shutdownCh:
		return nil, raft.ErrPipelineShutdown
	default:
	}
	var ext []Extension
	if h := p.t.cfg.Hooks; h != nil {
		ext = h.RequestExtensions(p.id, args)
	}
	f := &appendFuture{start: time.Now(), req: args, resp: resp, doneCh: make(chan struct{})}
	p.writeMu.Lock()
	_ = p.s.s.SetWriteDeadline(time.Now().Add(p.t.cfg.Timeout))
	err := p.s.writeFrame(&frame{typ: frameAppendEntriesRequest, msg: args, ext: ext}, p.t.cfg.MaxFrameSize)
	p.writeMu.Unlock()
	if err != nil {
		_ = p.s.s.Reset()
		return nil, fmt.Errorf("pipeline to %s: %w", p.target, err)
	}
	p.t.counters.pipelinedSent.Add(1)
	select {
	case p.inflight <- f:
		return f, nil
	case <-p.shutdownCh:
		return nil, raft.ErrPipelineShutdown
	}
}

// decodeResponses reads responses in order and completes the futures. After a
// stream failure every queued future fails with the same error.
func (p *pipeline) decodeResponses() {
	var broken error
	for {
		var f *appendFuture
		select {
		case f = <-p.inflight:
		case <-p.shutdownCh:
			return
		}
		err := broken
		if err == nil {
			err = p.readResponse(f)
			if err != nil && !isRemote(err) {
				broken = err
				_ = p.s.s.Reset()
			}
		}
		f.err = err
		close(f.doneCh)
		select {
		case p.done <- f:
		case <-p.shutdownCh:
			return
		}
	}
}

func isRemote(err error) bool {
	_, ok := err.(*RemoteError)
	return ok
}

func (p *pipeline) readResponse(f *appendFuture) error {
	_ = p.s.s.SetReadDeadline(time.Now().Add(p.t.cfg.Timeout))
	fr, err := readFrame(p.s.r, p.t.cfg.MaxFrameSize)
	if err != nil {
		return fmt.Errorf("pipeline to %s: read response: %w", p.target, err)
	}
	switch m := fr.msg.(type) {
	case *raft.AppendEntriesResponse:
		*f.resp = *m
	default:
		if fr.typ == frameErrorResponse {
			p.t.counters.received(frameErrorResponse)
			return &RemoteError{Message: fr.errMsg}
		}
		return fmt.Errorf("pipeline to %s: %s in response: %w", p.target, fr.typ, ErrUnexpectedFrame)
	}
	if h := p.t.cfg.Hooks; h != nil && len(fr.ext) > 0 {
		h.OnResponseExtensions(p.id, f.resp, fr.ext)
	}
	return nil
}

// Consumer returns the futures in request order as their responses arrive.
func (p *pipeline) Consumer() <-chan raft.AppendFuture { return p.done }

// Close stops the pipeline and resets its stream; in-flight requests are abandoned.
func (p *pipeline) Close() error {
	p.closeOnce.Do(func() {
		close(p.shutdownCh)
		_ = p.s.s.Reset()
	})
	return nil
}

// appendFuture is the raft.AppendFuture of one pipelined request.
type appendFuture struct {
	start  time.Time
	req    *raft.AppendEntriesRequest
	resp   *raft.AppendEntriesResponse
	err    error
	doneCh chan struct{}
}

// Error blocks until the response arrives.
func (f *appendFuture) Error() error {
	<-f.doneCh
	return f.err
}

// Start returns when the request was sent.
func (f *appendFuture) Start() time.Time { return f.start }

// Request returns the request.
func (f *appendFuture) Request() *raft.AppendEntriesRequest { return f.req }

// Response returns the response; valid once Error has returned nil.
func (f *appendFuture) Response() *raft.AppendEntriesResponse { return f.resp }
