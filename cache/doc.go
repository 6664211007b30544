// Package cache keeps identity providers' JWK Sets (RFC 7517) fresh in
// memory and serves key look-ups with no network on the request path.
//
// A *Cache fetches one provider's set (from a URL, or found by OpenID
// Connect discovery from an issuer), honours Cache-Control/Expires and
// conditional requests, refreshes ahead of expiry in one background
// goroutine, and keeps serving the last good set (up to MaxStale) while the
// provider fails. Fetches go through a circuit breaker. A kid not in the
// set is judged by freshness: a set fetched or revalidated within the last
// UnknownKIDInterval (1s) is authoritative, and the kid is unknown with no
// fetch; otherwise one shared, conditional refetch, at most one per
// UnknownKIDInterval and waited for at most UnknownKIDWait, decides. A
// rotated-in key is so found within about two seconds whatever else
// arrives, while junk kids cost the provider at most one conditional
// request a second. KeyRecheck does the same for a known kid whose key
// failed a signature (a provider that reused the kid for new material).
// Reads of known kids are lock-free: an atomic pointer to an immutable snapshot.
//
// *Cache implements jwkset.Storage (read-only), so it plugs into
// github.com/MicahParks/keyfunc/v3 and into jwtgate's middleware. A Multi
// holds one Cache per issuer.
//
// Errors: reads return an error wrapping ErrKeysUnavailable when no set may
// be served (never loaded, or stale beyond MaxStale; HTTP 503); one
// wrapping only jwkset.ErrKeyNotFound for a kid that an authoritative set
// does not hold (HTTP 401); and a *DeferredError, wrapping
// ErrKeysUnavailable (HTTP 503) and carrying RetryAfter, for a kid the
// cache could not look for (the provider is failing, or the wait ended;
// see Cache.KeyRead).
//
// # Quick start
//
//	c, err := cache.New(ctx, cache.Config{
//		URL: "https://idp.example.com/.well-known/jwks.json", // or Issuer: "https://idp.example.com"
//	})
//	if err != nil {
//		return err // a bad Config; a provider that is down is not an error
//	}
//	defer c.Close()
//
//	kf, err := keyfunc.New(keyfunc.Options{Storage: c})
//	if err != nil {
//		return err
//	}
//	token, err := jwt.Parse(raw, kf.Keyfunc)
//
// Time-dependent behaviour is tested inside testing/synctest bubbles, where
// time is virtual (gobreaker has no injectable clock, so its open period is
// driven by that virtual time too).
package cache
