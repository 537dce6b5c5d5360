package transport

import (
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

// nopDeadline is a network.Stream whose only working methods are the
// deadline setters, enough for chunkReader in unit tests.
type nopDeadline struct{ network.Stream }

func (nopDeadline) SetReadDeadline(time.Time) error { return nil }
func (nopDeadline) SetDeadline(time.Time) error     { return nil }
func (nopDeadline) Read([]byte) (int, error)        { return 0, io.EOF }
