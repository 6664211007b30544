// Package serve runs an http.Server until its context ends, then shuts it
// down gracefully: the one copy of that sequence for the gateway and the
// example programs.
package serve

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// Until serves srv on ln until ctx ends. Then it stops accepting, lets
// in-flight requests finish for at most timeout, and closes whatever is
// left (long streams), returning only after Serve has returned. A Serve
// error other than http.ErrServerClosed is returned as is; onTimeout, when
// non-nil, is called if in-flight requests outlived timeout.
func Until(ctx context.Context, srv *http.Server, ln net.Listener, timeout time.Duration, onTimeout func()) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		if onTimeout != nil {
			onTimeout()
		}
		err = srv.Close()
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
