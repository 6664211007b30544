// Package forwarded decides, once per request, what the request looked like
// to the client: its external scheme, host, port, path, method and client
// certificate. It is the one place where forwarded headers are trusted, so
// that DPoP's htu check, mTLS-bound tokens and a forward-auth decision
// service all read a request the same way.
//
// A request has two views:
//
//   - its own (Resolver.View): its own method and target (r.Method,
//     r.RequestURI), with scheme, host, port and client certificate from the
//     connection (r.TLS, r.Host, r.TLS.PeerCertificates) or, when
//     r.RemoteAddr is a trusted proxy, from that proxy's headers. The method
//     and path are always the request's own: they are what a handler serves
//     and a reverse proxy forwards.
//   - in decision mode only, the original's (Resolver.Original): the own view
//     with the method and target of the request a trusted proxy asks about
//     (nginx auth_request, Caddy forward_auth, Traefik ForwardAuth). A
//     description that is present but unusable, or two that disagree, is an
//     error wrapping ErrOriginal (answer 400), never a fallback to the
//     sub-request's own path.
//
// Which feature reads which view:
//
//	DPoP htm/htu (RFC 9449 §4.3)   Handler, adapters, gateway proxy routes: the own view;
//	                               gateway decision routes: the original's; ext_authz: Envoy's CheckRequest
//	client certificate (RFC 8705)  the own view (TLS, or a trusted proxy's Client-Cert)
//	decision route choice          the original's (gateway decision mode)
//	protected-resource / MCP       no view: the metadata URL and resource_metadata
//	metadata URL (RFC 9728)        challenge come from configuration only
//
// A face that knows the request better than any header (Envoy's ext_authz
// CheckRequest: scheme, authority, method, path) builds the view with
// Describe and hands it over with NewContext: View and Original then return
// it, with Config.ExternalURL still fixing scheme, host and port.
//
// Forwarded headers override a request's own values only when r.RemoteAddr
// is a trusted proxy (Config.TrustedProxies; loopback by default). From any
// other address they are ignored, so a direct caller cannot claim another
// host, scheme, certificate or original request.
//
// The headers read from a trusted proxy:
//
//	Forwarded                         RFC 7239: proto=, host= (the last element: the one the trusted proxy added)
//	X-Forwarded-Proto, -Host, -Port   de facto (the last value of a comma-separated list)
//	Client-Cert                       RFC 9440: the TLS client certificate, a structured-field byte sequence
//	X-Forwarded-Uri, X-Forwarded-Method   Original only: Traefik ForwardAuth, Caddy forward_auth
//	X-Original-URI, X-Original-Method     Original only: nginx auth_request (as in the usual snippet)
//
// Forwarded takes precedence over X-Forwarded-Proto/Host. A scheme, host
// or port value that does not parse (a scheme other than http/https, a host
// with a path, a port out of range) is ignored, not guessed at.
// Config.ExternalURL, when set, fixes scheme, host and port whatever any
// header says.
//
// The original request's headers are stricter, since a route is chosen by
// them: X-Forwarded-Uri takes precedence over X-Original-URI and
// X-Forwarded-Method over X-Original-Method, and when both of a pair are
// present they must agree. Each must appear at most once, and a target must
// be origin-form ("/path?query"), at most MaxURISize bytes, without control
// bytes, spaces or '#'; bytes >= 0x80 (nginx's $request_uri passes UTF-8 as
// sent) are percent-encoded. Anything else is ErrOriginal.
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
