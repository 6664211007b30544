package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// BenchmarkDPoPBesideBearer reports a DPoP request's cost (verified-token
// cache hit + proof parse + ES256 proof signature + htu + replay store)
// beside the Bearer path (cache hit) in the same run, and their ratio.
func BenchmarkDPoPBesideBearer(b *testing.B) {
	e := newDPoPEnv(b, nil)
	plain := e.idp.Mint(b, jwtgatetest.Claims{Subject: "bob"})
	var perOp [2]time.Duration
	b.Run("bearer", func(b *testing.B) {
		b.ReportAllocs()
		r := httptest.NewRequest(http.MethodGet, "http://backend/v1/things", nil)
		r.Header.Set("Authorization", "Bearer "+plain)
		for b.Loop() {
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, r)
			if rec.Code != 200 {
				b.Fatal(rec.Code)
			}
		}
		perOp[0] = b.Elapsed() / time.Duration(b.N)
	})
	b.Run("dpop", func(b *testing.B) {
		b.ReportAllocs()
		const batch = 512
		proofs := make([]string, 0, batch)
		r := httptest.NewRequest(http.MethodGet, "http://backend/v1/things", nil)
		r.Header.Set("Authorization", "DPoP "+e.token)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if len(proofs) == 0 {
				// Minting is the client's work, not the server's.
				b.StopTimer()
				for range batch {
					proofs = append(proofs, e.key.MustProof(b, jwtgatetest.ProofOptions{URL: dpopURL, AccessToken: e.token, IAT: e.clk.Now()}))
				}
				b.StartTimer()
			}
			r.Header.Set("DPoP", proofs[len(proofs)-1])
			proofs = proofs[:len(proofs)-1]
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, r)
			if rec.Code != 200 {
				b.Fatal(rec.Code, rec.Body.String())
			}
		}
		perOp[1] = b.Elapsed() / time.Duration(b.N)
	})
	if perOp[0] > 0 {
		b.Logf("DPoP %v/op, Bearer %v/op: DPoP costs %.1fx the Bearer path", perOp[1], perOp[0], float64(perOp[1])/float64(perOp[0]))
	}
}
