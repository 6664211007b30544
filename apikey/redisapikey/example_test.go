package redisapikey_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jwtgate/jwtgate/apikey"
	"github.com/jwtgate/jwtgate/apikey/redisapikey"
)

// A store whose keys live in Redis, shared by every replica. Without a
// reachable Redis a look-up cannot decide: ErrUnavailable (503), never an
// unknown key (401).
func Example() {
	src, err := redisapikey.New(redisapikey.Config{Addr: "127.0.0.1:1", Timeout: 10 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	defer src.Close()
	keys, err := apikey.New(apikey.Config{Source: src, Prefix: "jg_", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer keys.Close()
	_, err = keys.LookupAPIKey(context.Background(), "jg_example")
	fmt.Println(errors.Is(err, apikey.ErrUnavailable))
	// Output: true
}
