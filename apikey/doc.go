// Package apikey holds API keys for the middleware: a *Store is a
// middleware.APIKeyStore, set on a route as middleware.Route.APIKeys, so a
// key becomes *middleware.Claims (sub, scope, the tier, key_id, exp) and
// scopes, policies, rate limits, budgets, claim headers and every face work
// on it unchanged.
//
// What it guarantees:
//
//   - Keys are stored as their SHA-256 only ("sha256:…" in a Record): Mint
//     makes 256-bit random keys, for which one fast hash is enough. A
//     look-up hashes the key and compares the stored hash in constant
//     time.
//   - Sources: a key file (JSON Lines of Record, reloaded when its content
//     changes, so a key removed from it stops working within
//     ReloadInterval; a file that no longer parses keeps the last good
//     keys), an environment variable in the same format, Records in code,
//     and a remote Source (apikey/redisapikey) asked by hash.
//   - A key never appears in an error, a log line or a metric; the
//     middleware never puts it in a cache key or an error body.
//   - A Store without a Source is a middleware.APIKeyVersioner: its
//     version moves on every reload, so the Verifier may answer a
//     repeated key from its verified-token cache (no SHA-256) and stops
//     at once when the key file changes. A Store with a Source is asked
//     on every request; with a RawSource (redisapikey's) it decodes each
//     stored value once and hands out the same record while the source
//     returns the same bytes.
//   - A key's size is bounded once, by the Verifier where it reads it
//     (middleware.Config.MaxTokenSize); the Store does not check it again.
//   - Prefix lets a route tell keys from opaque tokens it introspects
//     (middleware.APIKeyRecognizer).
//
// The command jwtgate-keygen (cmd/jwtgate-keygen) mints a key and prints
// its stored form.
//
// Quick start:
//
//	keys, err := apikey.New(apikey.Config{File: "/etc/jwtgate/keys.jsonl", Prefix: "jg_"})
//	defer keys.Close()
//	v, err := middleware.New(middleware.Config{…, APIKeyHeader: "X-Api-Key"})
//	api := v.With(middleware.Route{APIKeys: keys})
package apikey
