package demo

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/jwtgate/jwtgate/internal/serve"
)

// ServeExample serves h on addr until ctx ends, then shuts down gracefully.
// It is the shared tail of examples/{nethttp,gin,echo}, which exist to show
// the library calls before it, not this plumbing. It waits (bounded) for the
// first key set so the printed tokens work at once, and with a demo provider
// (idp non-nil) prints curl lines for the examples' /hello and /admin routes.
func ServeExample(ctx context.Context, addr string, h http.Handler, keys interface {
	WaitReady(context.Context) error
}, idp *Local) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if err := keys.WaitReady(wctx); err != nil {
		log.Printf("keys not loaded yet (requests get 503 until they are): %v", err)
	}
	cancel()
	printTry(idp, "http://"+ln.Addr().String())

	return serve.Until(ctx, srv, ln, 10*time.Second, nil)
}

// ExampleAudience is the aud of the tokens the example programs print, and
// the audience they accept by default: so that the examples check aud, as
// a real service must (RFC 8725 §3.9), instead of teaching the Warn line
// away.
const ExampleAudience = "api"

func printTry(idp *Local, base string) {
	fmt.Printf("listening on %s\n", base)
	if idp == nil {
		return
	}
	aud := []string{ExampleAudience}
	user, _ := idp.Mint(Token{Subject: "alice", Scope: "read", Audience: aud})
	admin, _ := idp.Mint(Token{Subject: "root", Scope: "read admin", Audience: aud})
	fmt.Printf("\n200: curl -H \"Authorization: Bearer %s\" %s/hello\n", user, base)
	fmt.Printf("\n403: curl -i -H \"Authorization: Bearer %s\" %s/admin\n", user, base)
	fmt.Printf("\n200: curl -H \"Authorization: Bearer %s\" %s/admin\n", admin, base)
}
