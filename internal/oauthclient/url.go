package oauthclient

import (
	"net"
	"net/url"
	"strings"
)

// CheckEndpoint checks an endpoint URL that secrets are sent to (a token
// or introspection endpoint, configured or discovered): absolute http(s)
// with a host, no userinfo, no fragment (RFC 6749 §3.2; an empty one
// too), and https unless the host is loopback or allowInsecureHTTP. A
// query is allowed (RFC 6749 §3.2 keeps it). The error matches
// ErrInvalidConfig.
func CheckEndpoint(raw string, allowInsecureHTTP bool) error {
	_, err := checkURL("endpoint", raw, allowInsecureHTTP)
	return err
}

// CheckIssuer checks an authorization server's issuer identifier: what
// CheckEndpoint requires, and no query either (RFC 8414 §2). The error
// matches ErrInvalidConfig.
func CheckIssuer(raw string, allowInsecureHTTP bool) error {
	u, err := checkURL("issuer", raw, allowInsecureHTTP)
	if err == nil && (u.RawQuery != "" || u.ForceQuery) {
		return configErr("issuer %q has a query (RFC 8414 §2)", raw)
	}
	return err
}

func checkURL(what, raw string, allowInsecureHTTP bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" || (u.Scheme != "https" && u.Scheme != "http") ||
		u.User != nil || strings.Contains(raw, "#") {
		return nil, configErr("%s %q is not an absolute http(s) URL without userinfo or fragment", what, raw)
	}
	if u.Scheme == "http" && !allowInsecureHTTP && !Loopback(u.Hostname()) {
		return nil, configErr("%s %q: https required (http only on a loopback host): secrets travel there", what, raw)
	}
	return u, nil
}

// Loopback reports whether host (without port) is localhost or a
// loopback IP address.
func Loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
