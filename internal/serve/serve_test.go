package serve

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// An in-flight request started before cancellation finishes with 200, and
// Until returns only after the server has stopped accepting.
func TestUntilLetsInFlightRequestFinish(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &closeNotifier{Listener: inner, closed: make(chan struct{})}
	entered, release := make(chan struct{}), make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "done")
	})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Until(ctx, srv, ln, 10*time.Second, nil) }()

	// The client reports to the test, never to t: it may end after a
	// failed test has.
	resc, errc := make(chan *http.Response, 1), make(chan error, 1)
	go func() {
		res, err := http.Get("http://" + ln.Addr().String())
		resc <- res
		errc <- err
	}()
	<-entered
	cancel()
	// Shutdown closes the listener before it waits for the request.
	<-ln.closed
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("the listener accepts after Shutdown closed it")
	}
	select {
	case err := <-done:
		t.Fatalf("Until returned %v with a request in flight", err)
	default:
	}
	close(release)
	res, err := <-resc, <-errc
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("in-flight request: %v, %v", res, err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != "done" {
		t.Fatalf("body %q", body)
	}
	if err := <-done; err != nil {
		t.Fatalf("Until: %v", err)
	}
}

// A request that outlives the timeout is cut, onTimeout is told, and
// Until still returns.
func TestUntilCutsRequestsPastTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})}
	timedOut := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Until(ctx, srv, ln, time.Millisecond, func() { close(timedOut) }) }()
	clientDone := make(chan struct{})
	go func() {
		defer close(clientDone)
		if res, err := http.Get("http://" + ln.Addr().String()); err == nil {
			res.Body.Close()
		}
	}()
	<-entered
	cancel()
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Until: %v", err)
	}
	select {
	case <-timedOut:
	default:
		t.Fatal("onTimeout not called")
	}
	<-clientDone
	http.DefaultClient.CloseIdleConnections()
}

// A listener that fails makes Until return Serve's error at once.
func TestUntilReturnsServeError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	err = Until(context.Background(), &http.Server{}, ln, time.Second, nil)
	if err == nil || errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Until on a closed listener: %v", err)
	}
}

// closeNotifier closes closed once the listener is closed.
type closeNotifier struct {
	net.Listener
	once   sync.Once
	closed chan struct{}
}

func (l *closeNotifier) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() { close(l.closed) })
	return err
}
