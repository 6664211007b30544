package forwarded

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

var (
	// ErrInvalidConfig is wrapped by every error New returns.
	ErrInvalidConfig = errors.New("forwarded: invalid config")
	// ErrConfig is ErrInvalidConfig's former name: one name for the idea
	// in every jwtgate package.
	//
	// Deprecated: use ErrInvalidConfig.
	ErrConfig = ErrInvalidConfig
	// ErrOriginal is wrapped by every error Original and Describe return:
	// a description of the original request that is present but cannot
	// be used (malformed, repeated, too long), or two descriptions that
	// disagree. A decision about such a request is a 400, never a guess.
	ErrOriginal = errors.New("forwarded: unusable original request")
)

// MaxURISize bounds an original request target (X-Forwarded-Uri,
// X-Original-URI, Describe's target) as sent, before bytes >= 0x80 are
// percent-encoded: longer is ErrOriginal. nginx refuses a request line
// longer than its 8 KiB large_client_header_buffers by default.
const MaxURISize = 8 << 10

// MaxClientCertSize bounds the Client-Cert header's value; a longer value
// is ignored without being decoded. Certificates are rarely above 4 KiB.
const MaxClientCertSize = 16 << 10

// Config configures a Resolver. The zero value trusts loopback proxies only
// and takes scheme and host from the request.
type Config struct {
	// TrustedProxies are the addresses whose forwarded headers count.
	// Nil: loopback only (127.0.0.0/8 and ::1). An empty non-nil slice
	// trusts nobody: forwarded headers are always ignored.
	TrustedProxies []netip.Prefix
	// ExternalURL, when set, is the fixed base "scheme://host[:port]" every
	// request is taken to have been sent to, whatever Host or a forwarded
	// header says: the safest choice for a service with one public name.
	// It must be http or https, with no path (other than "/"), query,
	// fragment or userinfo. "": from the request (and trusted proxies).
	ExternalURL string
}

// Resolver computes Views. Create it with New; it is immutable and safe for
// concurrent use.
type Resolver struct {
	trusted  []netip.Prefix
	extSet   bool
	extProto string
	extHost  string // lower-case host[:port], default port removed
	extPort  string
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// New validates cfg and returns a Resolver.
func New(cfg Config) (*Resolver, error) {
	r := &Resolver{trusted: loopback}
	if cfg.TrustedProxies != nil {
		r.trusted = make([]netip.Prefix, 0, len(cfg.TrustedProxies))
		for _, p := range cfg.TrustedProxies {
			if !p.IsValid() {
				return nil, fmt.Errorf("%w: TrustedProxies has an invalid prefix", ErrInvalidConfig)
			}
			r.trusted = append(r.trusted, p.Masked())
		}
	}
	if cfg.ExternalURL != "" {
		u, err := url.Parse(cfg.ExternalURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(cfg.ExternalURL, "?#") {
			return nil, fmt.Errorf("%w: ExternalURL %q is not scheme://host[:port]", ErrInvalidConfig, cfg.ExternalURL)
		}
		host, port, ok := splitHost(u.Host, u.Scheme)
		if !ok {
			return nil, fmt.Errorf("%w: ExternalURL %q has an invalid host", ErrInvalidConfig, cfg.ExternalURL)
		}
		r.extSet, r.extProto, r.extHost, r.extPort = true, u.Scheme, host, port
	}
	return r, nil
}

// View is a request as the client sent it: the request's own (View), or,
// in decision mode, the original request a trusted proxy describes
// (Original). The zero value is an empty view. Fields are strings, safe to
// compare; none is ever a raw header.
type View struct {
	// Scheme is "http" or "https".
	Scheme string
	// Host is the host the client addressed, lower-case, with the port
	// only when it is not the scheme's default ("api.example.com",
	// "localhost:8080", "[::1]:8443").
	Host string
	// Port is the port, explicit or the scheme's default ("443").
	Port string
	// Method is the request method ("GET").
	Method string
	// URI is the request target as sent, path and query ("/a%20b?x=1");
	// in an original request's view, bytes >= 0x80 percent-encoded
	// ("/caf%C3%A9").
	URI string
	// Path is URI without its query: the escaped path ("/a%20b").
	Path string
	// ClientCert is the DER of the client's TLS certificate: from the TLS
	// connection, or from a trusted proxy's Client-Cert header. Nil: none.
	// Shared; don't modify it.
	ClientCert []byte
	// Proxied reports whether RemoteAddr was a trusted proxy, so that its
	// headers were read. False for a view from the context (NewContext).
	Proxied bool
}

// URL returns Scheme://Host + Path: the external URL without query and
// fragment (what DPoP's htu is compared with).
func (v View) URL() string { return v.Scheme + "://" + v.Host + v.Path }

// Trusted reports whether a request from remoteAddr ("ip:port", as in
// http.Request.RemoteAddr) may set forwarded headers.
func (rs *Resolver) Trusted(remoteAddr string) bool {
	ap, err := netip.ParseAddrPort(remoteAddr)
	var a netip.Addr
	if err == nil {
		a = ap.Addr()
	} else if a, err = netip.ParseAddr(remoteAddr); err != nil {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range rs.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// View returns the request's own view: its own method and target (path
// and query), with scheme, host, port and client certificate as the client
// sent them, read from forwarded headers only when r comes from a trusted
// proxy. A trusted proxy's X-Forwarded-Uri/-Method or X-Original-URI/-Method
// never count here: they describe another request (see Original). When r's
// context carries a view (NewContext), that view is returned instead. A nil
// Resolver reads no forwarded headers at all.
func (rs *Resolver) View(r *http.Request) View {
	if v, ok := FromContext(r.Context()); ok {
		return rs.external(v)
	}
	v := View{Scheme: "http", Method: r.Method, URI: r.RequestURI}
	if r.TLS != nil {
		v.Scheme = "https"
		if len(r.TLS.PeerCertificates) > 0 {
			v.ClientCert = r.TLS.PeerCertificates[0].Raw
		}
	}
	if (v.URI == "" || v.URI[0] != '/') && r.URL != nil {
		// Absolute-form (a client talking to a proxy, or httptest) or
		// none: the origin-form part of the parsed URL.
		v.URI = r.URL.RequestURI()
	}
	rawHost := r.Host
	if rawHost == "" && r.URL != nil {
		rawHost = r.URL.Host
	}
	if rs != nil && rs.Trusted(r.RemoteAddr) {
		v.Proxied = true
		rawHost = rs.proxied(r, &v, rawHost)
	}
	if rs != nil && rs.extSet {
		v.Scheme, v.Host, v.Port = rs.extProto, rs.extHost, rs.extPort
	} else if h, p, ok := splitHost(rawHost, v.Scheme); ok {
		v.Host, v.Port = h, p
	}
	v.Path = pathOf(v.URI)
	return v
}

// Original returns the original request's view, for a decision service
// that answers a proxy's sub-request about another request (nginx
// auth_request, Caddy forward_auth, Traefik ForwardAuth): the request's
// own view (View), then, when r comes from a trusted proxy, the method and
// target its headers describe. Precedence: X-Forwarded-Uri, then
// X-Original-URI; X-Forwarded-Method, then X-Original-Method. When both of
// a pair are present they must agree. A header that is present but
// unusable is an error wrapping ErrOriginal, never ignored: the sub-request's
// own path is never taken for the original's. Unusable: repeated, empty, not
// origin-form (absolute-form, "*"), a control byte, a space, DEL or '#',
// longer than MaxURISize; a method that is not an HTTP token. Bytes >= 0x80
// (nginx's $request_uri passes UTF-8 raw) are percent-encoded, not refused.
// The method is upper-cased. Headers from any other address are ignored.
// When r's context carries a view (NewContext), that view is the original.
func (rs *Resolver) Original(r *http.Request) (View, error) {
	if v, ok := FromContext(r.Context()); ok {
		return rs.external(v), nil
	}
	v := rs.View(r)
	if !v.Proxied {
		return v, nil
	}
	uri, err := agree(r.Header, "X-Forwarded-Uri", "X-Original-Uri", originalURI)
	if err != nil {
		return View{}, err
	}
	method, err := agree(r.Header, "X-Forwarded-Method", "X-Original-Method", originalMethod)
	if err != nil {
		return View{}, err
	}
	if uri != "" {
		v.URI, v.Path = uri, pathOf(uri)
	}
	if method != "" {
		v.Method = method
	}
	return v, nil
}

// agree reads the header first, then second, each with parse: "" when
// neither is present, the value when the present ones are usable and
// agree.
func agree(h http.Header, first, second string, parse func([]string) (string, error)) (string, error) {
	a, err := parse(h.Values(first))
	if err != nil {
		return "", fmt.Errorf("%w: %s %w", ErrOriginal, first, err)
	}
	b, err := parse(h.Values(second))
	if err != nil {
		return "", fmt.Errorf("%w: %s %w", ErrOriginal, second, err)
	}
	if a != "" && b != "" && a != b {
		return "", fmt.Errorf("%w: %s and %s disagree", ErrOriginal, first, second)
	}
	return cmp.Or(a, b), nil
}

var (
	errRepeated = errors.New("is repeated")
	errEmpty    = errors.New("is empty")
)

// oneValue returns the one value of a header that must not repeat,
// trimmed; present is false when there is none.
func oneValue(vals []string) (v string, present bool, err error) {
	switch len(vals) {
	case 0:
		return "", false, nil
	case 1:
		return strings.Trim(vals[0], " \t"), true, nil
	}
	return "", true, errRepeated
}

// originalURI reads an original request target: "" when absent.
func originalURI(vals []string) (string, error) {
	u, present, err := oneValue(vals)
	if !present || err != nil {
		return "", err
	}
	return parseTarget(u)
}

// parseTarget checks an origin-form request target and percent-encodes
// its bytes >= 0x80.
func parseTarget(u string) (string, error) {
	switch {
	case u == "":
		return "", errEmpty
	case len(u) > MaxURISize:
		return "", fmt.Errorf("is longer than %d bytes", MaxURISize)
	case u[0] != '/':
		return "", errors.New("is not origin-form (a path starting with /)")
	}
	high := 0
	for i := 0; i < len(u); i++ {
		switch c := u[i]; {
		case c >= 0x80:
			high++
		case c <= 0x20 || c == 0x7f:
			return "", errors.New("has a control byte or a space")
		case c == '#':
			return "", errors.New("has a fragment")
		}
	}
	if high == 0 {
		return u, nil
	}
	const hexUpper = "0123456789ABCDEF"
	b := make([]byte, 0, len(u)+2*high)
	for i := 0; i < len(u); i++ {
		if c := u[i]; c >= 0x80 {
			b = append(b, '%', hexUpper[c>>4], hexUpper[c&15])
		} else {
			b = append(b, c)
		}
	}
	return string(b), nil
}

// originalMethod reads an original request method, upper-cased: "" when
// absent.
func originalMethod(vals []string) (string, error) {
	m, present, err := oneValue(vals)
	if !present || err != nil {
		return "", err
	}
	switch {
	case m == "":
		return "", errEmpty
	case !validToken(m):
		return "", errors.New("is not a method")
	}
	return strings.ToUpper(m), nil
}

// Describe returns the view of a request that a face knows field by field,
// better than any header could tell it (Envoy's ext_authz CheckRequest:
// scheme, authority, method and path), to be handed to the Verifier with
// NewContext. scheme is http or https (any case); host is host[:port];
// method an HTTP token; target origin-form, checked and encoded as
// Original checks a trusted proxy's X-Forwarded-Uri. Anything else is an
// error wrapping ErrOriginal. The view has no client certificate.
func Describe(scheme, host, method, target string) (View, error) {
	v := View{Scheme: strings.ToLower(scheme), Method: method}
	if v.Scheme != "http" && v.Scheme != "https" {
		return View{}, fmt.Errorf("%w: scheme is not http or https", ErrOriginal)
	}
	var ok bool
	if v.Host, v.Port, ok = splitHost(host, v.Scheme); !ok {
		return View{}, fmt.Errorf("%w: host is not host[:port]", ErrOriginal)
	}
	if !validToken(method) {
		return View{}, fmt.Errorf("%w: method is not an HTTP token", ErrOriginal)
	}
	var err error
	if v.URI, err = parseTarget(target); err != nil {
		return View{}, fmt.Errorf("%w: target %w", ErrOriginal, err)
	}
	v.Path = pathOf(v.URI)
	return v, nil
}

type viewKey struct{}

// NewContext returns a copy of ctx carrying v, the request as a face knows
// it (see Describe, and a decision service's Original): View and Original
// then return v for a request with that context, whatever its fields and
// headers say, with Config.ExternalURL still fixing scheme, host and port.
func NewContext(ctx context.Context, v View) context.Context {
	return context.WithValue(ctx, viewKey{}, v)
}

// FromContext returns the view NewContext put in ctx.
func FromContext(ctx context.Context) (View, bool) {
	v, ok := ctx.Value(viewKey{}).(View)
	return v, ok
}

// external applies Config.ExternalURL to a view from the context.
func (rs *Resolver) external(v View) View {
	if rs != nil && rs.extSet {
		v.Scheme, v.Host, v.Port = rs.extProto, rs.extHost, rs.extPort
	}
	return v
}

// pathOf is a target's path: without its query, "/" for none or "*".
func pathOf(uri string) string {
	p := uri
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if p == "" || p == "*" {
		p = "/"
	}
	return p
}

// proxied applies a trusted proxy's scheme, host, port and client
// certificate to v and returns the host[:port] to use. Method and target
// stay the request's own.
func (rs *Resolver) proxied(r *http.Request, v *View, host string) string {
	h := r.Header
	fproto, fhost, fwdOK := lastForwarded(h.Values("Forwarded"))
	switch proto := strings.ToLower(fproto); {
	case fwdOK && (proto == "http" || proto == "https"):
		v.Scheme = proto
	case !fwdOK || fproto == "":
		if p := strings.ToLower(lastValue(h.Values("X-Forwarded-Proto"))); p == "http" || p == "https" {
			v.Scheme = p
		}
	}
	xhost := ""
	if fwdOK && fhost != "" {
		xhost = fhost
	} else if !fwdOK || fhost == "" {
		xhost = lastValue(h.Values("X-Forwarded-Host"))
	}
	if xhost != "" && validHostPort(xhost) {
		host = xhost
	}
	if p := lastValue(h.Values("X-Forwarded-Port")); p != "" && validPort(p) {
		host = joinPort(host, p)
	}
	if der, ok := clientCert(h.Values("Client-Cert")); ok {
		v.ClientCert = der
	}
	return host
}

// single returns the one value of a header that must not repeat, "" for
// none or several.
func single(vals []string) string {
	if len(vals) != 1 {
		return ""
	}
	return strings.TrimSpace(vals[0])
}

// lastValue returns the last element of a comma-separated header (over all
// its lines): the one the nearest, trusted, proxy appended.
func lastValue(vals []string) string {
	if len(vals) == 0 {
		return ""
	}
	s := vals[len(vals)-1]
	if i := strings.LastIndexByte(s, ','); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}

// lastForwarded reads proto= and host= from the last element of the
// Forwarded header (RFC 7239 §4): the one the nearest proxy added; earlier
// elements come from further away and may be the client's own. ok is false
// when there is no element or it does not parse.
func lastForwarded(vals []string) (proto, host string, ok bool) {
	if len(vals) == 0 {
		return "", "", false
	}
	elems := splitQuoted(strings.Join(vals, ","), ',')
	last := strings.TrimSpace(elems[len(elems)-1])
	if last == "" {
		return "", "", false
	}
	seen := map[string]bool{}
	for _, pair := range splitQuoted(last, ';') {
		k, val, found := strings.Cut(strings.TrimSpace(pair), "=")
		if !found || k == "" || !validToken(k) {
			return "", "", false
		}
		k = strings.ToLower(k)
		if seen[k] {
			return "", "", false // a duplicate parameter: ambiguous
		}
		seen[k] = true
		if val, found = unquote(val); !found {
			return "", "", false
		}
		switch k {
		case "proto":
			proto = val
		case "host":
			host = val
		}
	}
	return proto, host, true
}

// splitQuoted splits s at sep outside quoted strings.
func splitQuoted(s string, sep byte) []string {
	var out []string
	quoted, esc, start := false, false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case esc:
			esc = false
		case quoted && c == '\\':
			esc = true
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unquote reads a token or a quoted-string (RFC 7230 §3.2.6).
func unquote(s string) (string, bool) {
	if len(s) == 0 || s[0] != '"' {
		return s, s == "" || validValueToken(s)
	}
	if len(s) < 2 || s[len(s)-1] != '"' {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(s)-1; i++ {
		c := s[i]
		if c == '\\' {
			i++
			if i >= len(s)-1 {
				return "", false
			}
			c = s[i]
		} else if c == '"' {
			return "", false
		}
		if c < 0x20 || c == 0x7f {
			return "", false
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

func isTchar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

// validValueToken allows what RFC 7239 values hold unquoted in practice:
// tokens, plus ':' for host:port.
func validValueToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isTchar(c) && c != ':' {
			return false
		}
	}
	return true
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	n, err := strconv.Atoi(p)
	return err == nil && n > 0 && n <= 65535 && p[0] != '0' && p[0] != '+'
}

// validHostPort accepts reg-name, IPv4 or [IPv6], with an optional port.
func validHostPort(hp string) bool {
	_, _, ok := splitHost(hp, "http")
	return ok
}

// splitHost lower-cases host[:port] and drops the scheme's default port; it
// returns the host as it should be shown, and the port (explicit or
// default).
func splitHost(hp, scheme string) (host, port string, ok bool) {
	if hp == "" || len(hp) > 255+8 {
		return "", "", false
	}
	h, p := hp, ""
	if strings.HasPrefix(hp, "[") {
		end := strings.IndexByte(hp, ']')
		if end < 0 {
			return "", "", false
		}
		h, p = hp[:end+1], hp[end+1:]
		if a, err := netip.ParseAddr(h[1 : len(h)-1]); err != nil || !a.Is6() || a.Zone() != "" {
			return "", "", false
		}
		if p != "" {
			if p[0] != ':' {
				return "", "", false
			}
			p = p[1:]
		}
	} else if i := strings.LastIndexByte(hp, ':'); i >= 0 {
		h, p = hp[:i], hp[i+1:]
	}
	if h == "" {
		return "", "", false
	}
	if h[0] != '[' {
		for i := 0; i < len(h); i++ {
			c := h[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
				return "", "", false
			}
		}
	}
	h = strings.ToLower(h)
	def := "80"
	if scheme == "https" {
		def = "443"
	}
	switch {
	case p == "" && strings.HasSuffix(hp, ":"):
		return "", "", false
	case p == "":
		return h, def, true
	case !validPort(p):
		return "", "", false
	case p == def:
		return h, def, true
	}
	return h + ":" + p, p, true
}

// joinPort replaces host's port with p.
func joinPort(hostport, p string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
		if strings.IndexByte(h, ':') >= 0 {
			h = "[" + h + "]"
		}
	}
	return h + ":" + p
}

// clientCert decodes RFC 9440's Client-Cert: one structured-field byte
// sequence, ":" standard base64 (padded) ":". Anything else is ignored.
func clientCert(vals []string) ([]byte, bool) {
	s := single(vals)
	if len(s) < 3 || len(s) > MaxClientCertSize || s[0] != ':' || s[len(s)-1] != ':' {
		return nil, false
	}
	der, err := base64.StdEncoding.Strict().DecodeString(s[1 : len(s)-1])
	if err != nil || len(der) == 0 {
		return nil, false
	}
	return der, true
}
