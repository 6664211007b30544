package redisreplay_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/jwtgate/jwtgate/internal/redistest"
	"github.com/jwtgate/jwtgate/replay"
	"github.com/jwtgate/jwtgate/replay/redisreplay"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func store(t *testing.T, addr string, p redisreplay.FailurePolicy) *redisreplay.Store {
	t.Helper()
	s, err := redisreplay.New(redisreplay.Config{Addr: addr, FailurePolicy: p, Timeout: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSharedAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	a, b := store(t, srv.Addr, redisreplay.FailClosed), store(t, srv.Addr, redisreplay.FailClosed)
	ctx := context.Background()
	if fresh, err := a.Add(ctx, "jti|jkt", time.Minute); !fresh || err != nil {
		t.Fatalf("first: %v %v", fresh, err)
	}
	if fresh, err := b.Add(ctx, "jti|jkt", time.Minute); fresh || err != nil {
		t.Fatalf("replayed to the second replica: fresh %v err %v", fresh, err)
	}
	long := string(make([]byte, 4096))
	if fresh, err := a.Add(ctx, long, time.Minute); !fresh || err != nil {
		t.Fatalf("long key: %v %v", fresh, err)
	}
	if fresh, _ := b.Add(ctx, long, time.Minute); fresh {
		t.Fatal("long key replayed")
	}
}

func TestOutageUnderEachPolicy(t *testing.T) {
	srv := redistest.Start(t)
	closed := store(t, srv.Addr, redisreplay.FailClosed)
	local := store(t, srv.Addr, redisreplay.FailLocal)
	open := store(t, srv.Addr, redisreplay.FailOpen)
	ctx := context.Background()
	srv.Stop()

	if fresh, err := closed.Add(ctx, "k", time.Minute); fresh || !errors.Is(err, replay.ErrUnavailable) {
		t.Errorf("FailClosed: fresh %v err %v, want ErrUnavailable", fresh, err)
	}
	if fresh, err := local.Add(ctx, "k", time.Minute); !fresh || err != nil {
		t.Errorf("FailLocal first: fresh %v err %v", fresh, err)
	}
	if fresh, err := local.Add(ctx, "k", time.Minute); fresh || err != nil {
		t.Errorf("FailLocal replay on the same replica: fresh %v err %v", fresh, err)
	}
	if fresh, err := open.Add(ctx, "k", time.Minute); !fresh || err != nil {
		t.Errorf("FailOpen: fresh %v err %v", fresh, err)
	}
	if st := closed.Stats(); st.RedisErrors == 0 || st.PolicyDecisions == 0 {
		t.Errorf("stats %+v", st)
	}
	srv.Restart()
	if fresh, err := closed.Add(ctx, "k2", time.Minute); !fresh || err != nil {
		t.Errorf("after recovery: fresh %v err %v", fresh, err)
	}
}

func TestClosedNeverAccepts(t *testing.T) {
	srv := redistest.Start(t)
	for _, p := range []redisreplay.FailurePolicy{redisreplay.FailClosed, redisreplay.FailLocal, redisreplay.FailOpen} {
		s := store(t, srv.Addr, p)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if fresh, err := s.Add(context.Background(), "k", time.Minute); fresh || !errors.Is(err, replay.ErrClosed) {
			t.Errorf("%v after Close: fresh %v err %v", p, fresh, err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []redisreplay.Config{{}, {Addr: "x", Timeout: -1}, {Addr: "x", FailurePolicy: 9}} {
		if _, err := redisreplay.New(cfg); !errors.Is(err, replay.ErrInvalidConfig) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}
