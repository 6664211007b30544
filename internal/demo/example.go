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

func printTry(idp *Local, base string) {
	fmt.Printf("listening on %s\n", base)
	if idp == nil {
		return
	}
	user, _ := idp.Mint(Token{Subject: "alice", Scope: "read"})
	admin, _ := idp.Mint(Token{Subject: "root", Scope: "read admin"})
	fmt.Printf("\n200: curl -H \"Authorization: Bearer %s\" %s/hello\n", user, base)
	fmt.Printf("\n403: curl -i -H \"Authorization: Bearer %s\" %s/admin\n", user, base)
	fmt.Printf("\n200: curl -H \"Authorization: Bearer %s\" %s/admin\n", admin, base)
}
