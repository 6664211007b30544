package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/apikey"
)

func TestMintPrintsStoredFormAndKey(t *testing.T) {
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	var out, errOut bytes.Buffer
	if code := run([]string{"-sub", "bot", "-scopes", "deploy,read", "-tier", "gold", "-expires", "24h", "-id", "ci"}, &out, &errOut, func() time.Time { return now }); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	_, key, ok := strings.Cut(strings.TrimSpace(errOut.String()), ": ")
	if !ok || !strings.HasPrefix(key, "jg_") {
		t.Fatalf("stderr %q", errOut.String())
	}
	if strings.Contains(out.String(), key) || strings.Contains(out.String(), key[3:]) {
		t.Fatal("the stored form contains the key")
	}
	recs, err := apikey.ParseRecords(&out)
	if err != nil || len(recs) != 1 {
		t.Fatalf("%v %v", recs, err)
	}
	r := recs[0]
	if r.Subject != "bot" || r.Tier != "gold" || r.ID != "ci" || len(r.Scopes) != 2 || !r.Expires.Equal(now.Add(24*time.Hour)) {
		t.Errorf("record %+v", r)
	}
	s, err := apikey.New(apikey.Config{Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if k, err := s.LookupAPIKey(context.Background(), key); err != nil || k.Subject != "bot" {
		t.Errorf("the minted key does not match its stored form: %v %v", k, err)
	}
}

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{{}, {"-sub", "x", "extra"}, {"-sub", "x", "-expires", "-1h"}, {"-sub", "x", "-expires", "tomorrow"},
		{"-sub", "x", "-prefix", "no spaces"}, {"-sub", "x", "-scopes", "a b"}, {"-nope"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut, time.Now); code != 2 || out.Len() != 0 {
			t.Errorf("%q: exit %d, stdout %q", args, code, out.String())
		}
	}
}
