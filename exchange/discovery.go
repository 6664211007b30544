package exchange

import (
	"context"
)

// tokenEndpoint returns Config.TokenEndpoint, or the one the issuer's
// metadata names (fetched once, concurrent first exchanges sharing the
// fetch). A failed fetch is ErrUnavailable and is tried again by the next
// exchange.
func (t *Transport) tokenEndpoint(ctx context.Context) (string, error) {
	if t.discovery == nil {
		return t.cfg.TokenEndpoint, nil
	}
	ep, err := t.discovery.Endpoint(ctx)
	if err != nil {
		return "", unavailable(err)
	}
	return ep, nil
}
