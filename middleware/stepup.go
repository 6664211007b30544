package middleware

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
)

// newStepUpError is a route's step-up refusal (RFC 9470 §3): what the
// challenge must carry so that the client can ask for a stronger or more
// recent login. Built once per route: every refused request shares it.
func newStepUpError(acr []string, maxAge time.Duration) *Error {
	var params strings.Builder
	if len(acr) > 0 {
		params.WriteString(`, acr_values="` + strings.Join(acr, " ") + `"`)
	}
	if maxAge > 0 {
		// Whole seconds, rounded down: a client that re-authenticates
		// within them is accepted.
		params.WriteString(", max_age=" + strconv.FormatInt(int64(maxAge/time.Second), 10))
	}
	return &Error{kind: ErrInsufficientAuthentication, desc: "authentication level insufficient", challenge: params.String()}
}

// authenticatedEnough reports whether c meets the route's RequireACR and
// MaxAuthAge. A missing or mistyped acr or auth_time fails: the route
// cannot tell how the user logged in.
func (v *Verifier) authenticatedEnough(c *Claims) bool {
	if len(v.route.RequireACR) > 0 {
		var acr string
		if ok, err := c.Get("acr", &acr); !ok || err != nil || !slices.Contains(v.route.RequireACR, acr) {
			return false
		}
	}
	if v.route.MaxAuthAge > 0 {
		var at json.Number
		ok, err := c.Get("auth_time", &at)
		if !ok || err != nil {
			return false
		}
		secs, err := at.Float64()
		if err != nil || secs <= 0 {
			return false
		}
		authTime := time.Unix(0, 0).Add(time.Duration(secs * float64(time.Second)))
		if v.cfg.Now().Sub(authTime) > v.route.MaxAuthAge+v.cfg.Leeway {
			return false
		}
	}
	return true
}
