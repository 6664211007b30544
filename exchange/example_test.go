package exchange_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/jwtgate/jwtgate/exchange"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

// exampleTB stands in for a *testing.T in an Example.
type exampleTB struct{ cleanups []func() }

func (*exampleTB) Helper()                           {}
func (e *exampleTB) Cleanup(f func())                { e.cleanups = append(e.cleanups, f) }
func (*exampleTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (e *exampleTB) done() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
}

func Example() {
	t := &exampleTB{}
	defer t.done()
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	te := jwtgatetest.NewTokenEndpoint(t, jwtgatetest.TokenEndpointOptions{ClientID: "gateway", ClientSecret: "s3cret"})

	// The upstream learns whom each request acts for from its own token.
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sub, _ := te.SubjectOf(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		fmt.Fprintf(w, "upstream acts for %s", sub)
	}))
	defer upstream.Close()

	v, err := middleware.New(middleware.Config{Keys: idp.Keys(t), Issuers: []string{idp.Issuer()}, Audiences: []string{"api"}})
	if err != nil {
		panic(err)
	}
	tr, err := exchange.New(exchange.Config{
		TokenEndpoint: te.URL(),
		Audience:      "orders",
		Client:        exchange.ClientAuth{Method: exchange.AuthClientSecretBasic, ClientID: "gateway", ClientSecret: "s3cret"},
	})
	if err != nil {
		panic(err)
	}
	defer tr.Close()
	target, _ := url.Parse(upstream.URL)
	proxy := &httputil.ReverseProxy{
		Rewrite:      func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport:    tr,
		ErrorHandler: tr.WriteError,
	}
	gw := httptest.NewServer(v.Handler(proxy))
	defer gw.Close()

	for _, user := range []string{"alice", "bob"} {
		req, _ := http.NewRequest(http.MethodGet, gw.URL, nil)
		req.Header.Set("Authorization", "Bearer "+idp.Mint(t, jwtgatetest.Claims{Subject: user}))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(string(body))
	}
	// Output:
	// upstream acts for alice
	// upstream acts for bob
}
