// Package llmusage reads the token usage an LLM upstream reports in its
// response (OpenAI Chat Completions, OpenAI Responses, Anthropic
// Messages; JSON bodies and server-sent event streams) from a copy of the
// bytes a proxy passes on, without holding any of them back.
//
// A [Tap] is fed every byte after it has gone to the client, so the
// client sees each event as soon as the upstream sends it; the tap keeps
// a bounded amount of it (1 MiB of a JSON body, events of up to 1 MiB),
// parses the event stream by the WHATWG rules, and at the end says what
// the response used, or that it does not know ([Tap.Usage] ok == false,
// with a reason from [Tap.Err]), never a silent zero. Counts that are
// negative, fractional or not numbers are refused; counts above
// [MaxTokens] are capped.
//
// Only the upstream's response is read. Nothing a client sends (a
// "usage" field in its request, a header) is taken as usage; [ParseRequest]
// reads the request's model and max_tokens, for a budget's fallback.
//
// Compressed responses are avoided, not decoded: [RequestIdentity] asks
// the upstream for Accept-Encoding: identity, and a response that is
// encoded anyway is reported unreadable by the caller (package budget
// charges its fallback). A Chat Completions stream reports usage only
// when asked: [AddIncludeUsage] adds stream_options.include_usage to the
// request.
//
// Package budget ties this to per-subject token budgets behind the
// jwtgate Verifier.
//
// # Quick start
//
// In an httputil.ReverseProxy, tee the upstream's body:
//
//	proxy.ModifyResponse = func(resp *http.Response) error {
//		f, _ := llmusage.FormatForPath(resp.Request.URL.Path)
//		tap, err := llmusage.NewTap(llmusage.TapConfig{Format: f, ContentType: resp.Header.Get("Content-Type")})
//		if err != nil {
//			return err
//		}
//		resp.Body = struct {
//			io.Reader
//			io.Closer
//		}{io.TeeReader(resp.Body, tap), resp.Body}
//		// … after the copy: u, ok := tap.Usage()
//		return nil
//	}
package llmusage
