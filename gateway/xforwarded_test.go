package gateway

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"reflect"
	"testing"
)

// setXForwarded writes exactly what ProxyRequest.SetXForwarded writes, for
// every shape of client address, TLS or not, with and without earlier
// X-Forwarded-* values on the outgoing request.
func TestSetXForwardedIsTheStdlibs(t *testing.T) {
	for _, remote := range []string{"192.0.2.1:1234", "[2001:db8::1]:443", "no-port", ""} {
		for _, secure := range []bool{false, true} {
			for _, prior := range [][]string{nil, {"198.51.100.7"}, {"198.51.100.7", "203.0.113.9"}} {
				make := func() *httputil.ProxyRequest {
					in := httptest.NewRequest(http.MethodGet, "http://api.test/x", nil)
					in.RemoteAddr, in.Host = remote, "api.test:8443"
					if secure {
						in.TLS = &tls.ConnectionState{}
					}
					out := in.Clone(in.Context())
					if prior != nil {
						out.Header["X-Forwarded-For"] = append([]string(nil), prior...)
						out.Header["X-Forwarded-Host"] = []string{"spoofed"}
					}
					return &httputil.ProxyRequest{In: in, Out: out}
				}
				want, got := make(), make()
				want.SetXForwarded()
				setXForwarded(got)
				if !reflect.DeepEqual(got.Out.Header, want.Out.Header) {
					t.Errorf("remote %q, TLS %v, prior %v: %v, SetXForwarded: %v", remote, secure, prior, got.Out.Header, want.Out.Header)
				}
			}
		}
	}
}
