package exchange

import (
	"net/url"
	"strings"
)

// form is the token request's body for subject.
func (t *Transport) form(subject string) url.Values {
	cfg := &t.cfg
	f := url.Values{}
	switch cfg.Grant {
	case GrantJWTBearer:
		f.Set("grant_type", grantTypeJWTBearer)
		f.Set("assertion", subject)
	default:
		f.Set("grant_type", grantTypeTokenExchange)
		f.Set("subject_token", subject)
		f.Set("subject_token_type", cfg.SubjectTokenType)
		if cfg.RequestedTokenType != "" {
			f.Set("requested_token_type", cfg.RequestedTokenType)
		}
	}
	if cfg.Audience != "" {
		f.Set("audience", cfg.Audience)
	}
	if cfg.Resource != "" {
		f.Set("resource", cfg.Resource)
	}
	if len(cfg.Scopes) > 0 {
		f.Set("scope", strings.Join(cfg.Scopes, " "))
	}
	return f
}
