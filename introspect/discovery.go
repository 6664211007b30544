package introspect

import (
	"time"

	"github.com/jwtgate/jwtgate/internal/oauthclient"
)

// discoveryRetryAfter is how long a failed discovery is not tried again:
// until then look-ups fail at once, so an issuer that is down is not asked
// once per request.
const discoveryRetryAfter = 5 * time.Second

// newDiscoverer finds the issuer's introspection_endpoint (RFC 8414, then
// OpenID Connect discovery). The document's issuer must be the configured
// one, and the endpoint must pass the rules of a configured one.
func (c *Client) newDiscoverer() (*oauthclient.Discoverer, error) {
	return oauthclient.NewDiscoverer(oauthclient.DiscoveryConfig{Issuer: c.cfg.Issuer, Member: oauthclient.IntrospectionEndpoint,
		Client: c.cfg.HTTPClient, MaxBytes: c.cfg.MaxResponseBytes, RetryAfter: discoveryRetryAfter, Now: c.cfg.Now})
}
