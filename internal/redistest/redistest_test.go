package redistest_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/jwtgate/jwtgate/internal/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLifecycle(t *testing.T) {
	srv := redistest.Start(t)
	if err := srv.Ping(time.Second); err != nil {
		t.Fatalf("fresh server: %v", err)
	}

	srv.Pause()
	if err := srv.Ping(100 * time.Millisecond); err == nil {
		t.Fatal("paused server answered PING")
	}
	srv.Resume()
	if err := srv.Ping(time.Second); err != nil {
		t.Fatalf("resumed server: %v", err)
	}

	addr := srv.Addr
	srv.Stop()
	if err := srv.Ping(100 * time.Millisecond); err == nil {
		t.Fatal("stopped server answered PING")
	}
	srv.Stop() // idempotent

	srv.Restart()
	if srv.Addr != addr {
		t.Fatalf("restart moved from %s to %s", addr, srv.Addr)
	}
	if err := srv.Ping(time.Second); err != nil {
		t.Fatalf("restarted server: %v", err)
	}
}

func TestTwoServersGetDistinctPorts(t *testing.T) {
	a, b := redistest.Start(t), redistest.Start(t)
	if a.Port == b.Port {
		t.Fatalf("both servers on port %d", a.Port)
	}
}
