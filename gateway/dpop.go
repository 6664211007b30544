package gateway

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jwtgate/jwtgate/forwarded"
	"github.com/jwtgate/jwtgate/middleware"
	"github.com/jwtgate/jwtgate/ratelimit"
	"github.com/jwtgate/jwtgate/replay"
	"github.com/jwtgate/jwtgate/replay/redisreplay"
)

// DPoP modes (DPoP.Mode, Route.DPoP).
const (
	DPoPOff      = "off"
	DPoPAllowed  = "allowed"
	DPoPRequired = "required"
)

// Replay stores (DPoP.Replay).
const (
	ReplayMemory = "memory"
	ReplayRedis  = "redis"
)

// Bounds on the proof window: a proof is replayable for ProofMaxAge plus
// Leeway wherever the replay store forgets it, and the store holds every
// jti for that long, so a window of hours is both a risk and a memory cost.
const (
	maxProofMaxAge = time.Hour
	maxDPoPLeeway  = 5 * time.Minute
	minNonceSecret = 32
)

// DPoP is the top-level dpop: section (RFC 9449; see
// docs/sender-constrained.md). The zero value is off.
type DPoP struct {
	// Mode is off, allowed (Bearer and DPoP) or required (DPoP only),
	// for routes that don't set their own. Empty means off.
	Mode string `yaml:"mode"`
	// Algorithms is the proof alg allow-list, a subset of
	// middleware.DefaultAlgorithms. Empty means all of them.
	Algorithms []string `yaml:"algorithms"`
	// ProofMaxAge is how old a proof's iat may be. 0 means one minute.
	ProofMaxAge time.Duration `yaml:"proof_max_age"`
	// Leeway is the clock skew allowed for a proof's iat. nil means 5s;
	// 0 means none.
	Leeway *time.Duration `yaml:"leeway"`
	// NonceSecretEnv names the environment variable holding the nonce
	// secret (at least 32 bytes, read at start): set, every proof must
	// carry a server nonce (§8). Replicas sharing the secret accept each
	// other's nonces. Empty means no nonces.
	NonceSecretEnv string `yaml:"nonce_secret_env"`
	// ExternalURL is the public scheme://host[:port] clients address, the
	// base of every htu, whatever Host or a forwarded header says. Empty
	// means the request's scheme and host, from trusted_proxies' headers
	// when they send it.
	ExternalURL string `yaml:"external_url"`
	// Replay is where proofs' jti are remembered: memory (per replica) or
	// redis (the top-level redis, shared by replicas). Empty means memory.
	Replay string `yaml:"replay"`
	// ReplayFailure is what a redis replay store does while Redis is
	// down: closed (503), local (per-replica memory) or open (accept,
	// counted and logged). Empty means closed.
	ReplayFailure string `yaml:"replay_failure"`

	nonceSecret []byte // read by Validate
}

// checkDPoP checks the dpop: section, the routes' dpop modes and
// external_url, and reads the nonce secret from the environment.
func (cfg *Config) checkDPoP(p *problems, lookupEnv func(string) (string, bool)) {
	d := &cfg.DPoP
	on := cfg.checkDPoPModes(p)
	d.checkProofs(p)
	d.readNonceSecret(p, lookupEnv)
	cfg.checkReplay(p)
	// Settings that no route would use are a mistake, not a default:
	// someone meant DPoP to be on.
	if !on && (len(d.Algorithms) > 0 || d.ProofMaxAge != 0 || d.Leeway != nil || d.NonceSecretEnv != "" || d.ExternalURL != "" || d.Replay != "" || d.ReplayFailure != "") {
		p.add("dpop: settings given but DPoP is off everywhere: set dpop mode allowed or required (top level or on a route)")
	}
}

// checkDPoPModes checks the top-level and the routes' modes and reports
// whether any turns DPoP on.
func (cfg *Config) checkDPoPModes(p *problems) (on bool) {
	isOn := func(m middleware.DPoPMode) bool { return m == middleware.DPoPAllowed || m == middleware.DPoPRequired }
	if m, ok := textEnum[middleware.DPoPMode](cfg.DPoP.Mode); !ok {
		p.add("dpop: mode %q: want off, allowed or required", cfg.DPoP.Mode)
	} else {
		on = isOn(m)
	}
	for i, r := range cfg.Routes {
		if m, ok := textEnum[middleware.DPoPMode](r.DPoP); !ok {
			p.add("route %d (%q): dpop %q: want off, allowed or required", i+1, r.Prefix, r.DPoP)
		} else if isOn(m) {
			on = true
		}
	}
	return on
}

// checkProofs checks what a proof may be: its algorithms, age, leeway and
// the external URL its htu is compared with.
func (d *DPoP) checkProofs(p *problems) {
	allowed := middleware.DefaultAlgorithms()
	for _, a := range d.Algorithms {
		if !slices.Contains(allowed, a) {
			// none and HS* included: a proof carries its own key, so a
			// shared-secret alg would prove nothing.
			p.add("dpop: algorithms: %q is not an asymmetric algorithm (want some of %s)", a, strings.Join(allowed, ", "))
		}
	}
	if d.ProofMaxAge < 0 || d.ProofMaxAge > maxProofMaxAge {
		p.add("dpop: proof_max_age %v: want 0 (one minute) to %v", d.ProofMaxAge, maxProofMaxAge)
	}
	if l := d.Leeway; l != nil && (*l < 0 || *l > maxDPoPLeeway) {
		p.add("dpop: leeway %v: want 0 to %v", *l, maxDPoPLeeway)
	}
	if d.ExternalURL != "" {
		if _, err := forwarded.New(forwarded.Config{ExternalURL: d.ExternalURL}); err != nil {
			p.add("dpop: external_url %q: want scheme://host[:port] (http or https, no path, query or userinfo)", d.ExternalURL)
		}
	}
}

// readNonceSecret reads the nonce secret from the environment.
func (d *DPoP) readNonceSecret(p *problems, lookupEnv func(string) (string, bool)) {
	d.nonceSecret = nil
	if d.NonceSecretEnv == "" {
		return
	}
	switch v, ok := lookupEnv(d.NonceSecretEnv); {
	case !ok || v == "":
		p.add("dpop: nonce_secret_env: environment variable %s is not set", d.NonceSecretEnv)
	case len(v) < minNonceSecret:
		p.add("dpop: nonce_secret_env: %s holds %d bytes, want at least %d (e.g. openssl rand -base64 48)", d.NonceSecretEnv, len(v), minNonceSecret)
	default:
		d.nonceSecret = []byte(v)
	}
}

// checkReplay checks where proofs' jti are remembered.
func (cfg *Config) checkReplay(p *problems) {
	d := &cfg.DPoP
	switch d.Replay {
	case "", ReplayMemory:
		if d.ReplayFailure != "" {
			p.add("dpop: replay_failure applies to replay: redis only")
		}
	case ReplayRedis:
		if cfg.Redis.IsZero() {
			p.add("dpop: replay: redis needs the top-level redis address")
		}
		if _, ok := textEnum[ratelimit.FailurePolicy](d.ReplayFailure); !ok {
			p.add("dpop: replay_failure %q: want closed, local or open", d.ReplayFailure)
		}
	default:
		p.add("dpop: replay %q: want memory or redis", d.Replay)
	}
}

// newForwarded builds the resolver that decides which forwarded headers
// count: for a decision route's original request (Original), DPoP's htu
// and the client certificate alike, so they never disagree about the
// request. On a proxy route DPoP reads the request's own view: its own
// method and path, which are what is proxied.
func (gen *generation) newForwarded() (*forwarded.Resolver, error) {
	trusted, err := parseTrustedProxies(gen.cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	return forwarded.New(forwarded.Config{TrustedProxies: trusted, ExternalURL: gen.cfg.DPoP.ExternalURL})
}

// senderConstraints sets mc's DPoP, CertificateBoundTokens and
// Forwarded (gen.fw: the decision routes' resolver, so htu and Client-Cert
// come from trusted proxies only). The in-process replay store is the
// gateway's for its lifetime, the same for every generation; a redis one
// is held like the other stores (kept while redis and replay_failure stay
// the same, closed with the last generation using it).
func (gen *generation) senderConstraints(mc *middleware.Config) error {
	mc.Forwarded = gen.fw
	mc.CertificateBoundTokens = gen.cfg.CertificateBoundTokens
	d := gen.cfg.DPoP
	mc.DPoP = middleware.DPoP{
		Mode:        must(textEnum[middleware.DPoPMode](d.Mode)),
		Algorithms:  d.Algorithms,
		ProofMaxAge: d.ProofMaxAge,
		Leeway:      middlewareLeeway(d.Leeway), // the same nil/0 meaning as the top-level leeway
	}
	mc.DPoP.NonceSecret = d.nonceSecret
	if d.Replay != ReplayRedis {
		// The gateway's one in-process store, whatever the generation:
		// a reload must not make a used proof new again.
		mc.DPoP.Replay = gen.g.replays
		return nil
	}
	client, err := gen.redisClient()
	if err != nil {
		return err
	}
	failure := must(textEnum[ratelimit.FailurePolicy](d.ReplayFailure))
	v, err := gen.hold(fmt.Sprintf("dpop replay %v %s", failure, gen.redisKey()), "dpop replay store", func() (any, func() error, bool, error) {
		rs, err := redisreplay.New(redisreplay.Config{
			Client: client, Prefix: "jwtgate:dpop:", FailurePolicy: failure, Logger: gen.g.log,
		})
		if err != nil {
			return nil, nil, false, fmt.Errorf("dpop replay store: %w", err)
		}
		return rs, rs.Close, false, nil
	})
	if err != nil {
		return err
	}
	mc.DPoP.Replay = v.(replay.Store)
	return nil
}

// routeDPoP is a route's dpop mode for middleware.Route: DPoPDefault
// keeps the top-level mode.
func routeDPoP(mode string) middleware.DPoPMode { return must(textEnum[middleware.DPoPMode](mode)) }
