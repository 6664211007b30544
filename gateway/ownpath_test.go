package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// The handler sends a request straight to proxy only when the mux would
// have picked its "/" pattern for it: for every method and clean path,
// ownsPath false means the mux's answer is "/".
func TestOwnsPathAgreesWithTheMux(t *testing.T) {
	own := []string{"/healthz", "/readyz", "/metrics",
		"/.well-known/oauth-protected-resource/api", "/.well-known/oauth-protected-resource/dir/"}
	mux := http.NewServeMux()
	nop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, p := range own[:3] {
		mux.Handle("GET "+p, nop)
	}
	for _, p := range own[3:] {
		mux.Handle(p, nop)
	}
	mux.Handle("/", nop)
	for _, p := range []string{"/", "/healthz", "/healthz/", "/healthzz", "/readyz", "/metrics", "/metrics/x", "/api/items",
		"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/api", "/.well-known/oauth-protected-resource/api/",
		"/.well-known/oauth-protected-resource/dir", "/.well-known/oauth-protected-resource/dir/", "/.well-known/oauth-protected-resource/dir/x",
		"/.well-known/oauth-protected-resource/directory"} {
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete} {
			_, pattern := mux.Handler(httptest.NewRequest(m, p, nil))
			if !ownsPath(own, p) && pattern != "/" {
				t.Errorf("%s %s: sent to proxy, but the mux picks %q", m, p, pattern)
			}
		}
	}
}
