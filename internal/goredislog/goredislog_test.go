package goredislog

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestGoRedisLogLevels(t *testing.T) {
	for _, tc := range []struct {
		name   string
		level  slog.Level // the destination's
		format string
		args   []any
		want   string // "" for dropped
	}{
		{"failed dial at debug", slog.LevelDebug,
			"redis: connection pool: failed to dial after %d attempts: %v", []any{1, errors.New("connection refused")},
			`level=DEBUG msg="redis: connection pool: failed to dial after 1 attempts: connection refused" logger=go-redis`},
		{"failed dial dropped at info", slog.LevelInfo,
			"redis: connection pool: failed to dial after %d attempts: %v", []any{1, errors.New("connection refused")}, ""},
		{"anything else at warn", slog.LevelInfo,
			"redis: failed to close connection: %v", []any{errors.New("boom")},
			`level=WARN msg="redis: failed to close connection: boom" logger=go-redis`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			dest := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
				Level: tc.level,
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey {
						return slog.Attr{}
					}
					return a
				},
			}))
			goRedisLog{dest: func() *slog.Logger { return dest }}.Printf(context.Background(), tc.format, tc.args...)
			if got := strings.TrimSpace(buf.String()); got != tc.want {
				t.Fatalf("logged %q, want %q", got, tc.want)
			}
		})
	}
}
