// Package upstreamcred puts a credential of the gateway's own on an
// upstream request in the client's stead (packages exchange and
// internaltoken), and makes sure the client's token goes nowhere upstream.
package upstreamcred

import (
	"net/http"
	"strings"
)

// The defaults of where the gateway's credential goes upstream, the one
// rule for a static key, an exchanged token and a signed one alike.
const (
	DefaultHeader = "Authorization"
	DefaultScheme = "Bearer" // in DefaultHeader only
)

// Defaults fills an unset header and scheme: "" header means
// Authorization; "" scheme means Bearer in Authorization (whatever the
// case of its name) and none in any other header, whose value is the
// credential as it is (an API key's X-Api-Key).
func Defaults(header, scheme string) (string, string) {
	if header == "" {
		header = DefaultHeader
	}
	if scheme == "" && strings.EqualFold(header, DefaultHeader) {
		scheme = DefaultScheme
	}
	return header, scheme
}

// Value is what goes in the header: value after scheme and a space, or
// value alone without a scheme.
func Value(scheme, value string) string {
	if scheme == "" {
		return value
	}
	return scheme + " " + value
}

// Prepare returns a copy of req for the upstream with value (scheme first,
// when set) in header and nothing of subject: a header or a query
// parameter that carries it is removed, whatever the Verifier's extraction
// allowed (a cookie, a query parameter, a header of its own), and so is a
// DPoP proof, which was made for the subject token.
func Prepare(req *http.Request, subject, header, scheme, value string) *http.Request {
	out := req.Clone(req.Context())
	if subject != "" {
		scrub(out, subject)
	}
	out.Header.Del("DPoP")
	out.Header.Set(header, Value(scheme, value))
	return out
}

func scrub(out *http.Request, subject string) {
	for name, vs := range out.Header {
		for _, v := range vs {
			if strings.Contains(v, subject) {
				delete(out.Header, name)
				break
			}
		}
	}
	if out.URL != nil && strings.Contains(out.URL.RawQuery, subject) {
		q := out.URL.Query()
		for name, vs := range q {
			if strings.Contains(name, subject) {
				delete(q, name)
				continue
			}
			for _, v := range vs {
				if strings.Contains(v, subject) {
					delete(q, name)
					break
				}
			}
		}
		out.URL.RawQuery = q.Encode()
	}
}
