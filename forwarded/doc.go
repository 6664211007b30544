// Package forwarded decides, once per request, what the request looked like
// to the client: its external scheme, host, port, path, method and client
// certificate. It is the one place where forwarded headers are trusted, so
// that DPoP's htu check, mTLS-bound tokens, protected-resource metadata URLs
// and a forward-auth decision service all read a request the same way.
//
// A request's own values (r.TLS, r.Host, r.RequestURI, r.Method,
// r.TLS.PeerCertificates) are always used, and forwarded headers override
// them only when r.RemoteAddr is a trusted proxy (Config.TrustedProxies;
// loopback by default). From any other address they are ignored, so a
// direct caller cannot claim another host, scheme or certificate.
//
// The headers read from a trusted proxy:
//
//	Forwarded                         RFC 7239: proto=, host= (the last element: the one the trusted proxy added)
//	X-Forwarded-Proto, -Host, -Port   de facto (the last value of a comma-separated list)
//	X-Forwarded-Uri, X-Forwarded-Method   Traefik ForwardAuth, Caddy forward_auth
//	X-Original-URI, X-Original-Method     nginx auth_request (as in the usual snippet)
//	Client-Cert                       RFC 9440: the TLS client certificate, a structured-field byte sequence
//
// Forwarded takes precedence over X-Forwarded-Proto/Host. A value that does
// not parse (a scheme other than http/https, a host with a path, a port out
// of range, a URI not starting with '/') is ignored, not guessed at.
// Config.ExternalURL, when set, fixes scheme, host and port whatever any
// header says.
//
// Quick start:
//
//	fw, err := forwarded.New(forwarded.Config{
//		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
//	})
//	if err != nil { ... }
//	view := fw.View(r)
//	fmt.Println(view.URL()) // https://api.example.com/v1/things (no query)
package forwarded
