// Package cases builds every compared library as a ready-to-call verifier
// over the shared fixture: the same token, the same JWKS server (a fetch
// counter per library), the same checks (signature, iss, aud, exp) and the
// same inner handler that reads `sub`. The micro-benchmarks, the load and
// refresh scenarios and the unknown-kid flood all take their cases from here,
// so every figure compares like with like.
//
// Quick start:
//
//	fx, _ := fixture.New(fixture.Options{})
//	for _, c := range cases.All() {
//		inst, err := c.New(ctx, fx, fixture.RS256, cases.Options{})
//		...
//		inst.Handler.ServeHTTP(w, r) // or inst.Verify(token) for non-HTTP cases
//		inst.Close()
//	}
package cases

import (
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/jwtgate/jwtgate/benchmarks/fixture"
)

// Options tunes a case for the scenarios. The zero value is what the
// micro-benchmarks use.
type Options struct {
	// Refresh is how often the library re-fetches the JWKS (its TTL or
	// refresh interval, as the library calls it). 0 means one hour.
	Refresh time.Duration
}

func (o Options) refresh() time.Duration {
	if o.Refresh <= 0 {
		return time.Hour
	}
	return o.Refresh
}

// Instance is one built case. Exactly one of Handler and Verify is set.
type Instance struct {
	// Handler answers 200 with the token's subject as the body when the
	// token in "Authorization: Bearer …" verifies, and an error status
	// otherwise.
	Handler http.Handler
	// Verify checks a bare token (cases with no HTTP layer) and returns its
	// subject.
	Verify func(token string) (sub string, err error)

	closers []func()
}

// Close releases the case's goroutines.
func (i *Instance) Close() {
	for j := len(i.closers) - 1; j >= 0; j-- {
		i.closers[j]()
	}
}

// Kind says what a case measures.
type Kind int

const (
	// Verifier cases do the whole job: signature, iss, aud, exp, sub.
	Verifier Kind = iota
	// Floor cases bound the cost from below: the bare signature check, or a
	// framework answering with no JWT work at all.
	Floor
)

// Case is one compared library or floor.
type Case struct {
	Name string
	Kind Kind
	// Peer is true for the other libraries (the "best peer" is picked among them).
	Peer bool
	// Framework is the HTTP stack the case runs on: "", "net/http", "gin" or "echo".
	Framework string
	New       func(ctx context.Context, fx *fixture.Fixture, alg string, o Options) (*Instance, error)
}

// All returns every case in report order.
func All() []Case {
	cs := []Case{
		{Name: "crypto_floor", Kind: Floor, New: newCryptoFloor},
		{Name: "nethttp_floor", Kind: Floor, Framework: "net/http", New: newNetHTTPFloor},
		{Name: "gin_floor", Kind: Floor, Framework: "gin", New: newGinFloor},
		{Name: "echo_floor", Kind: Floor, Framework: "echo", New: newEchoFloor},
		{Name: "golangjwt_raw", Peer: true, New: newGolangJWTRaw},
		{Name: "keyfunc", Peer: true, Framework: "net/http", New: newKeyfunc},
		{Name: "auth0", Peer: true, Framework: "net/http", New: newAuth0},
		{Name: "echojwt", Peer: true, Framework: "echo", New: newEchoJWT},
		{Name: "jwx", Peer: true, Framework: "net/http", New: newJWX},
	}
	return append(cs, jwtgateCases()...)
}

// ByName returns the case called name.
func ByName(name string) (Case, bool) {
	for _, c := range All() {
		if c.Name == name {
			return c, true
		}
	}
	return Case{}, false
}

// bearer takes the token out of an Authorization header the way every
// net/http case here does, so extraction costs the same for all.
func bearer(r *http.Request) (string, bool) {
	return strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
}

// writeSub is the inner handler's work: it must see a subject.
func writeSub(w http.ResponseWriter, sub string) {
	if sub == "" {
		http.Error(w, "no subject", http.StatusInternalServerError)
		return
	}
	_, _ = io.WriteString(w, sub)
}

func unauthorized(w http.ResponseWriter) {
	w.WriteHeader(http.StatusUnauthorized)
}
