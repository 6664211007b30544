// Package demo holds the two stand-ins that let the jwtgate gateway run on a
// fresh machine with no flags: a tiny OpenID Connect identity provider whose
// JWK Set rotates its signing key, and an upstream service answering JSON, a
// server-sent-events stream and OpenAI-compatible chat completions (with a
// usage block, for the gateway's token budgets).
//
// Both are for demos and tests only. The provider mints any token it is asked
// for; never expose it beyond loopback.
//
// Quick start:
//
//	p, _ := demo.NewProvider(demo.ProviderConfig{Issuer: "http://127.0.0.1:9000"})
//	go http.Serve(listener, p.Handler()) // listener bound to 127.0.0.1:9000
//	tok, _ := p.Mint(demo.Token{Subject: "alice", Audience: []string{"demo"}, Scope: "read"})
//	up := demo.NewUpstream(demo.UpstreamConfig{})
//	_ = up // serve it behind the gateway
package demo
