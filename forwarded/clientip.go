package forwarded

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
)

// ErrClientIP is ClientIP's error for a trusted proxy's X-Forwarded-For
// that does not parse: present but unusable is refused, never replaced by
// a guess.
var ErrClientIP = errors.New("forwarded: unusable X-Forwarded-For")

// maxForwardedFor bounds how many X-Forwarded-For entries ClientIP reads.
const maxForwardedFor = 32

// ClientIP returns the address of the client that sent r: its RemoteAddr,
// unless that is a trusted proxy, in which case X-Forwarded-For is read
// from the right — the entry the nearest proxy appended — past every
// trusted proxy to the first address that is not one (entries further left
// were written by whoever sent the request and prove nothing). All
// trusted: the leftmost. A trusted proxy that sends no X-Forwarded-For is
// itself the client. An entry that is not an IP address, or more than 32
// entries, is ErrClientIP. The proxy must append to the header, never pass
// the client's on alone (nginx: $proxy_add_x_forwarded_for; Caddy,
// Traefik and Envoy append by default).
func (rs *Resolver) ClientIP(r *http.Request) (netip.Addr, error) {
	remote, err := parseAddr(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, ErrClientIP
	}
	if rs == nil || !rs.trustedAddr(remote) {
		return remote, nil
	}
	vals := r.Header.Values("X-Forwarded-For")
	if len(vals) == 0 {
		return remote, nil
	}
	entries := strings.Split(strings.Join(vals, ","), ",")
	if len(entries) > maxForwardedFor {
		return netip.Addr{}, ErrClientIP
	}
	client := remote
	for i := len(entries) - 1; i >= 0; i-- {
		a, err := parseAddr(strings.TrimSpace(entries[i]))
		if err != nil {
			return netip.Addr{}, ErrClientIP
		}
		client = a
		if !rs.trustedAddr(a) {
			break
		}
	}
	return client, nil
}

// parseAddr reads "ip", "ip:port" or "[ip]:port", without a zone, IPv4
// in IPv6 unmapped.
func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			return netip.Addr{}, err
		}
		a = ap.Addr()
	}
	if a.Zone() != "" {
		return netip.Addr{}, ErrClientIP
	}
	return a.Unmap(), nil
}

func (rs *Resolver) trustedAddr(a netip.Addr) bool {
	for _, p := range rs.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
