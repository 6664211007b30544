package middleware

import (
	"encoding/json"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Resource describes the OAuth protected resource a route serves (RFC 9728;
// the MCP authorization spec makes every MCP server one). On a route with a
// Resource:
//
//   - the token's aud must contain URI exactly, byte for byte: no prefix,
//     suffix, case or dot-segment normalisation ("https://mcp.example.com/mcp/"
//     and "https://MCP.example.com/mcp" are other resources; RFC 8707 §2);
//   - with AccessTokenOnly, the header's typ must be at+jwt (RFC 9068 §4), so
//     an ID token of the same issuer cannot pass;
//   - a token in the query string is 400 even when Config.AllowQuery is set
//     (MCP: tokens MUST NOT be in the URI);
//   - every 401 and 403 carries resource_metadata="…" (RFC 9728 §5.1) and,
//     where known, scope="…" (the route's required scopes, else
//     ScopesSupported).
//
// The URLs in the metadata document and in challenges come from this
// configuration only, never from the request's Host or X-Forwarded-*.
type Resource struct {
	// URI is the resource identifier: an absolute https URL (http only for
	// a loopback host), without fragment. Required.
	URI string
	// AuthorizationServers are the issuer URLs of the authorization
	// servers that mint tokens for it (RFC 9728 §2), each absolute https
	// (http only for loopback).
	AuthorizationServers []string
	// ScopesSupported are the scopes a client may ask for.
	ScopesSupported []string
	// Name is a human-readable name (resource_name). "": none.
	Name string
	// AccessTokenOnly requires typ at+jwt (RFC 9068) on this route.
	AccessTokenOnly bool
	// Tools holds per-tool rules for MCP tools/call: a tool's exact name,
	// or a prefix ending in "*" ("github_*"; the exact name wins, then the
	// longest prefix) → what calling it needs on top of the route. Names
	// are compared byte for byte. The request body (JSON-RPC, a message
	// or a batch, every element checked) is read up to MaxMCPMessageSize
	// to find the calls; a body that is larger, unreadable or absent on a
	// POST is refused (400) — so a face that never sees the body (the
	// gateway's decision mode, ext_authz without the body) refuses POSTs
	// on such a route rather than pass them unchecked. Nil: any tool the
	// route lets through.
	Tools map[string]ToolRule
}

// Validate reports whether r would be accepted by New or With (the same
// rules), so that a configuration loader can refuse it at start.
func (r Resource) Validate() error {
	_, err := compileResource(r)
	return err
}

// resourceMetadataPath is the well-known prefix of RFC 9728 §3.
const resourceMetadataPath = "/.well-known/oauth-protected-resource"

// resourceSpec is a validated Resource with what requests need precomputed.
type resourceSpec struct {
	Resource
	metadataURL  string // absolute
	metadataPath string // where MetadataHandler is mounted
	metadataDoc  []byte
	challenge    string // `resource_metadata="…"`
	tools        *toolRules
}

// compileResource validates r and renders what the request path echoes.
func compileResource(r Resource) (*resourceSpec, error) {
	u, err := checkResourceURL("URI", r.URI)
	if err != nil {
		return nil, err
	}
	for _, as := range r.AuthorizationServers {
		if _, err := checkResourceURL("AuthorizationServers", as); err != nil {
			return nil, err
		}
	}
	if !scopeTokens(r.ScopesSupported) && len(r.ScopesSupported) > 0 {
		return nil, configErr("Resource.ScopesSupported: %q has characters a scope cannot have", r.ScopesSupported)
	}
	if strings.ContainsAny(r.Name, "\r\n") {
		return nil, configErr("Resource.Name has a line break")
	}
	tools, err := compileTools(r.Tools)
	if err != nil {
		return nil, err
	}
	r.AuthorizationServers = slices.Clone(r.AuthorizationServers)
	r.ScopesSupported = slices.Clone(r.ScopesSupported)
	r.Tools = maps.Clone(r.Tools)
	// RFC 9728 §3.1: the well-known segment goes between host and path; a
	// resource at the root has the root form.
	p := u.EscapedPath()
	if p == "/" {
		p = ""
	}
	spec := &resourceSpec{Resource: r, metadataPath: resourceMetadataPath + p, tools: tools}
	spec.metadataURL = u.Scheme + "://" + u.Host + spec.metadataPath
	doc := struct {
		Resource               string   `json:"resource"`
		AuthorizationServers   []string `json:"authorization_servers,omitempty"`
		ScopesSupported        []string `json:"scopes_supported,omitempty"`
		BearerMethodsSupported []string `json:"bearer_methods_supported"`
		ResourceName           string   `json:"resource_name,omitempty"`
	}{r.URI, r.AuthorizationServers, r.ScopesSupported, []string{"header"}, r.Name}
	if spec.metadataDoc, err = json.Marshal(doc); err != nil {
		return nil, configErr("Resource: %v", err)
	}
	spec.metadataDoc = append(spec.metadataDoc, '\n')
	spec.challenge = `resource_metadata="` + spec.metadataURL + `"`
	return spec, nil
}

// checkResourceURL enforces RFC 8707 §2 / RFC 9728 §2 on a URL that will be
// echoed in a header: absolute, https (http for loopback only), no
// fragment, no userinfo, and nothing that could break out of a quoted
// header parameter.
func checkResourceURL(field, raw string) (*url.URL, error) {
	if raw == "" {
		return nil, configErr("Resource.%s is empty", field)
	}
	if strings.ContainsAny(raw, "\"\\\r\n ") {
		return nil, configErr("Resource.%s %q has a quote, backslash, space or line break", field, raw)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return nil, configErr("Resource.%s %q is not an absolute URL", field, raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, configErr("Resource.%s %q has a fragment (RFC 8707 §2)", field, raw)
	}
	if u.RawQuery != "" || strings.Contains(raw, "?") {
		// RFC 8707 §2 advises against it, and RFC 9728 §3.1 would have to
		// carry it into the metadata URL: refused rather than guessed.
		return nil, configErr("Resource.%s %q has a query", field, raw)
	}
	if u.User != nil {
		return nil, configErr("Resource.%s %q has userinfo", field, raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopbackHost(u.Hostname()) {
			return nil, configErr("Resource.%s %q: http only for a loopback host", field, raw)
		}
	default:
		return nil, configErr("Resource.%s %q: want https", field, raw)
	}
	return u, nil
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// MetadataURL returns the absolute URL of the route's protected-resource
// metadata document (RFC 9728 §3.1: the well-known segment inserted between
// host and path), and false when the route has no Resource.
func (v *Verifier) MetadataURL() (string, bool) {
	if v.resource == nil {
		return "", false
	}
	return v.resource.metadataURL, true
}

// MetadataPath returns the path at which MetadataHandler must be mounted
// ("/.well-known/oauth-protected-resource/mcp" for the resource
// https://host/mcp), and false when the route has no Resource.
func (v *Verifier) MetadataPath() (string, bool) {
	if v.resource == nil {
		return "", false
	}
	return v.resource.metadataPath, true
}

// MetadataHandler serves the route's protected-resource metadata document
// (RFC 9728 §3): GET and HEAD get 200 application/json with resource equal
// to Resource.URI byte for byte, authorization_servers, scopes_supported and
// bearer_methods_supported ["header"]; other methods 405. Mount it at
// MetadataPath. Nil when the route has no Resource.
func (v *Verifier) MetadataHandler() http.Handler {
	if v.resource == nil {
		return nil
	}
	doc := v.resource.metadataDoc
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("X-Content-Type-Options", "nosniff")
		// Public discovery data, fetched by browser-based MCP clients.
		h.Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(doc)
	})
}

// checkToken applies the route's Resource to a verified token:
// its aud must hold the resource URI exactly, and, when asked, its typ
// must be at+jwt.
func (s *resourceSpec) checkToken(c *Claims) *Error {
	if !slices.Contains(c.Audience, s.URI) {
		return errAudience
	}
	if s.AccessTokenOnly && !typeAccepted(c.typ, accessTokenTypes) {
		return errTyp
	}
	return nil
}

var accessTokenTypes = []string{"at+jwt"}
