package grpcauth

import (
	"errors"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/jwtgate/jwtgate/internal/capture"
	"github.com/jwtgate/jwtgate/middleware"
)

// Code returns the gRPC code for a Verifier's error, through the HTTP
// status middleware.Status gives it, so the two transports cannot disagree:
//
//	400 invalid_request       InvalidArgument
//	401 (missing or invalid)  Unauthenticated
//	403 insufficient_scope    PermissionDenied
//	429 rate limited          ResourceExhausted
//	503 keys or limiter down  Unavailable
//	anything else             Internal
//
// Code(nil) is OK.
func Code(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	return codeForStatus(middleware.Status(err))
}

func codeForStatus(st int) codes.Code {
	switch st {
	case http.StatusBadRequest:
		return codes.InvalidArgument
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	}
	return codes.Internal
}

// reject turns err into the call's status and trailers. The trailers come
// from v.WriteError's own answer (WWW-Authenticate, Retry-After,
// RateLimit-*), so there is one error mapping, and a Config.ErrorHandler
// (say, one that counts rejections) runs for gRPC calls too.
func reject(v *middleware.Verifier, r *http.Request, err error) (metadata.MD, error) {
	var w capture.Writer
	v.WriteError(&w, r, err)
	code := Code(err)
	return toMD(w.Headers()), status.Error(code, description(err, code))
}

// description is the status message: the error's fixed, client-safe text,
// never the error's own text (which may carry a cause) or the token.
func description(err error, code codes.Code) string {
	if e, ok := errors.AsType[*middleware.Error](err); ok && printable(e.Description()) {
		return e.Description()
	}
	switch code {
	case codes.InvalidArgument:
		return "invalid request"
	case codes.Unauthenticated:
		return "authentication required"
	case codes.PermissionDenied:
		return "insufficient scope"
	case codes.ResourceExhausted:
		return "rate limit exceeded"
	case codes.Unavailable:
		return "temporarily unavailable"
	}
	return "internal error"
}

func printable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
