package cache

// Red-team tests: a hostile or flaky identity provider, kept as regression
// tests (see also middleware/hostile_input_test.go).

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/MicahParks/jwkset"

	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// TestRedTeamUnknownKIDWhileProviderFails: the provider rotates to a new key
// and then fails (500, breaker open, time-out). A token with the new kid
// cannot be checked, through no fault of its client: its error must say
// "keys unavailable" (the middleware's 503 + Retry-After), not only "unknown
// kid" (401 invalid_token, which makes clients throw the token away). It
// still wraps jwkset.ErrKeyNotFound for callers that only ask that. Once the
// provider answers again, an unknown kid is plainly unknown.
func TestRedTeamUnknownKIDWhileProviderFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t)
		a := kidOf(t, idp, "")
		c := newTestCache(t, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client()})
		synctest.Wait()
		mustRead(t, c, a)
		time.Sleep(DefaultUnknownKIDInterval) // the set is no longer authoritative

		setJWKS(t, idp, jwtgatetest.Behavior{Status: http.StatusInternalServerError})
		_, err := c.KeyRead(context.Background(), "new")
		if !errors.Is(err, ErrKeysUnavailable) || !errors.Is(err, jwkset.ErrKeyNotFound) {
			t.Fatalf("unknown kid, refresh failed: err = %v, want ErrKeysUnavailable and ErrKeyNotFound", err)
		}
		// Within a second of the failure no probe may start; the answer is the same.
		n0 := fetches(idp)
		_, err = c.KeyRead(context.Background(), "newer")
		if !errors.Is(err, ErrKeysUnavailable) || !errors.Is(err, jwkset.ErrKeyNotFound) {
			t.Fatalf("unknown kid behind the gate after a failed refresh: err = %v", err)
		}
		if fetches(idp) != n0 {
			t.Fatalf("the gate let a fetch through")
		}
		// The known key keeps serving, and the cache stays Ready.
		mustRead(t, c, a)
		if !c.Ready() {
			t.Fatal("not ready while the last good set is fresh")
		}

		// The provider is back; the next unknown kid a second later
		// refreshes, and the answer is a plain "unknown", as it is from
		// the set that refresh brought.
		setJWKS(t, idp, jwtgatetest.Behavior{})
		time.Sleep(DefaultUnknownKIDInterval)
		_, err = c.KeyRead(context.Background(), "unknown")
		if !errors.Is(err, jwkset.ErrKeyNotFound) || errors.Is(err, ErrKeysUnavailable) {
			t.Fatalf("unknown kid with a healthy provider: err = %v, want only ErrKeyNotFound", err)
		}
		_, err = c.KeyRead(context.Background(), "unknown2")
		if !errors.Is(err, jwkset.ErrKeyNotFound) || errors.Is(err, ErrKeysUnavailable) {
			t.Fatalf("unknown kid behind the gate, healthy provider: err = %v, want only ErrKeyNotFound", err)
		}
	})
}

// TestRedTeamGzipBombBounded: Go's transport asks for gzip and inflates
// transparently, so the body limit must apply to the inflated bytes. A
// 64 MiB set compressed to ~64 KiB is refused without reading it all, and
// the good set stays.
func TestRedTeamGzipBombBounded(t *testing.T) {
	idp := liveIdP(t)
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	_, _ = zw.Write([]byte(`{"keys":[`))
	chunk := bytes.Repeat([]byte(" "), 1<<20)
	for range 64 {
		_, _ = zw.Write(chunk)
	}
	_, _ = zw.Write([]byte(`]}`))
	_ = zw.Close()
	cfg := Config{URL: idp.JWKSURL(), UnknownKIDInterval: time.Nanosecond}
	evs := observeRefreshes(&cfg)
	c := newTestCache(t, cfg)
	nextRefresh(t, evs)
	good := kidOf(t, idp, "")
	mustRead(t, c, good)

	setJWKS(t, idp, jwtgatetest.Behavior{Body: bomb.Bytes(), Header: http.Header{"Content-Encoding": {"gzip"}}})
	_, _ = c.KeyRead(context.Background(), "trigger")
	ev := nextRefresh(t, evs)
	if ev.Outcome != OutcomeFailed || !errors.Is(ev.Err, ErrBodyTooLarge) {
		t.Fatalf("gzip bomb: outcome %s err %v, want failed with ErrBodyTooLarge", ev.Outcome, ev.Err)
	}
	mustRead(t, c, good)
}

// TestRedTeamRFC7520SharedKID: RFC 7520 §3's public set names an EC and an
// RSA key with one kid, which RFC 7517 §4.5 allows. Both are served (a
// verifier picks by kty from KeyReadAll); a second key of the same kty
// under that kid is still skipped as a duplicate.
func TestRedTeamRFC7520SharedKID(t *testing.T) {
	body, err := os.ReadFile("testdata/jwks/rfc7520_3_public.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Keys []json.RawMessage }
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	const kid = "bilbo.baggins@hobbiton.example"
	idp := liveIdP(t, "RS256")
	extra := edit(t, publishedJWKs(t, idp)[0], map[string]any{"kid": kid})
	setJWKS(t, idp, jwtgatetest.Behavior{Body: jwks(append(doc.Keys, extra)...)})
	c := newTestCache(t, Config{URL: idp.JWKSURL(), WaitForFirstLoad: true})
	waitReady(t, c)
	all, err := c.KeyReadAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ktys []jwkset.KTY
	for _, k := range all {
		if k.Marshal().KID == kid {
			ktys = append(ktys, k.Marshal().KTY)
		}
	}
	if len(ktys) != 2 || ktys[0] != jwkset.KtyEC || ktys[1] != jwkset.KtyRSA {
		t.Fatalf("served under the shared kid: %v, want [EC RSA]", ktys)
	}
	if got := mustRead(t, c, kid).Marshal().KTY; got != jwkset.KtyEC {
		t.Fatalf("KeyRead returns %s, want the first (EC)", got)
	}
	st := c.Status()
	if len(st.Skipped) != 1 || st.Skipped[0].Reason != "duplicate kid" || st.Skipped[0].Index != 2 {
		t.Fatalf("skipped %+v, want the second RSA key as a duplicate", st.Skipped)
	}
	if _, err := c.JSON(context.Background()); err != nil {
		t.Fatalf("JSON of a set with a shared kid: %v", err)
	}
}
