package extauthz

import (
	"fmt"

	"github.com/jwtgate/jwtgate/middleware"
)

var (
	errPath          = fmt.Errorf("extauthz: malformed request path: %w", middleware.ErrInvalidRequest)
	errAmbiguousPath = fmt.Errorf("extauthz: path means different routes depending on how %%2F or a backslash is read: %w", middleware.ErrInvalidRequest)
	errRequest       = fmt.Errorf("extauthz: the CheckRequest's scheme, host, method or path is unusable: %w", middleware.ErrInvalidRequest)
)

// route is one Routes entry with its derived Verifier.
type route struct {
	prefix string
	v      *middleware.Verifier
}
