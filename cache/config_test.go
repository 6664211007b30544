package cache

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"no url nor issuer", Config{}, ErrInvalidConfig},
		{"http to a remote host", Config{URL: "http://idp.example.com/jwks"}, ErrInsecureURL},
		{"http issuer", Config{Issuer: "http://idp.example.com"}, ErrInsecureURL},
		{"ftp", Config{URL: "ftp://idp.example.com/jwks"}, ErrInsecureURL},
		{"no host", Config{URL: "https:///jwks"}, ErrInvalidConfig},
		{"credentials in url", Config{URL: "https://u:p@idp.example.com/jwks"}, ErrInvalidConfig},
		{"refresh ahead ≥ 1", Config{URL: "https://idp.example.com/jwks", RefreshAhead: 1.5}, ErrInvalidConfig},
		{"jitter ≥ ahead", Config{URL: "https://idp.example.com/jwks", RefreshJitter: 0.9}, ErrInvalidConfig},
		{"min > max refresh", Config{URL: "https://idp.example.com/jwks", MinRefreshInterval: 2 * time.Hour, MaxRefreshInterval: time.Hour}, ErrInvalidConfig},
		{"min refresh under 1s", Config{URL: "https://idp.example.com/jwks", MinRefreshInterval: time.Millisecond}, ErrInvalidConfig},
		{"negative body limit", Config{URL: "https://idp.example.com/jwks", MaxBodyBytes: -1}, ErrInvalidConfig},
		{"retry range", Config{URL: "https://idp.example.com/jwks", RetryMin: time.Hour, RetryMax: time.Second}, ErrInvalidConfig},
		{"negative unknown-kid wait", Config{URL: "https://idp.example.com/jwks", UnknownKIDWait: -time.Second}, ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(context.Background(), tt.cfg)
			if c != nil {
				c.Close()
				t.Fatal("New returned a cache with an error")
			}
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err = %v, want %v and ErrInvalidConfig", err, tt.want)
			}
		})
	}
	ok := []Config{
		{URL: "https://idp.example.com/jwks"},
		{URL: "https://idp.example.com/jwks", UnknownKIDBurst: -1}, // deprecated, ignored
		{URL: "http://127.0.0.1:9/jwks"},
		{URL: "http://[::1]:9/jwks"},
		{URL: "http://localhost:9/jwks"},
		{URL: "http://idp.example.com/jwks", AllowInsecureHTTP: true},
		{Issuer: "https://idp.example.com"},
	}
	client := memIdP(t).Client() // in memory: no request leaves the process
	for _, cfg := range ok {
		cfg.Logger = discard()
		cfg.HTTPClient = client
		c, err := New(context.Background(), cfg)
		if err != nil {
			t.Fatalf("%+v: %v", cfg.URL+cfg.Issuer, err)
		}
		c.Close()
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg := Config{URL: "https://idp.example.com/jwks"}.withDefaults()
	if cfg.Name != cfg.URL || cfg.FetchTimeout != 10*time.Second || cfg.MaxBodyBytes != 1<<20 ||
		cfg.MaxKeys != 100 || cfg.DefaultTTL != time.Hour || cfg.MinRefreshInterval != time.Minute ||
		cfg.MaxRefreshInterval != 24*time.Hour || cfg.RefreshAhead != 0.8 || cfg.RefreshJitter != 0.1 ||
		cfg.UnknownKIDInterval != time.Second ||
		cfg.UnknownKIDBurst != 0 || cfg.UnknownKIDWait != 2*time.Second || cfg.MaxStale != 24*time.Hour || cfg.BreakerFailures != 5 ||
		cfg.BreakerTimeout != 30*time.Second || cfg.RetryMin != time.Second || cfg.RetryMax != 5*time.Minute ||
		cfg.Logger == nil || cfg.now == nil {
		t.Fatalf("defaults: %+v", cfg)
	}
	if got := (Config{Issuer: "https://i.example", URL: "https://u.example"}).withDefaults().Name; got != "https://i.example" {
		t.Fatalf("name %q, want the issuer", got)
	}
	if got := (Config{URL: "https://u.example", RefreshJitter: -1}).withDefaults().RefreshJitter; got != 0 {
		t.Fatalf("negative jitter became %v, want 0", got)
	}
}
