package demo

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// Local is a Provider serving on a loopback port of its own, for the
// example programs. Close stops it.
type Local struct {
	*Provider
	srv  *http.Server
	done chan struct{}
}

// StartLocal listens on 127.0.0.1 (a free port), sets cfg.Issuer to that
// address and serves the provider there.
func StartLocal(cfg ProviderConfig) (*Local, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	cfg.Issuer = "http://" + ln.Addr().String()
	p, err := NewProvider(cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	l := &Local{Provider: p, srv: &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 10 * time.Second}, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		_ = l.srv.Serve(ln) // ErrServerClosed after Close
	}()
	return l, nil
}

// Close stops the server and waits for it.
func (l *Local) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := l.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = l.srv.Close()
	}
	<-l.done
	return err
}
