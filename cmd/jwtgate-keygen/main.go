// Command jwtgate-keygen mints an API key for jwtgate and prints its
// stored form: the key goes to the client once, the stored form (one line
// of a key file, the key's SHA-256 and what it grants) to the gateway.
//
//	jwtgate-keygen -sub build-bot -scopes deploy,read -tier gold -expires 720h >> /etc/jwtgate/keys.jsonl
//
// The stored line is written to standard output, the key to standard error,
// so that redirecting the output into the key file never writes the key
// there.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jwtgate/jwtgate/apikey"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, time.Now)) }

func run(args []string, stdout, stderr io.Writer, now func() time.Time) int {
	fs := flag.NewFlagSet("jwtgate-keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		prefix  = fs.String("prefix", "jg_", "the key's prefix (letters, digits, '_' or '-'; at most 16)")
		id      = fs.String("id", "", "a name for the key in logs and metrics")
		sub     = fs.String("sub", "", "the subject the key is verified as (required)")
		scopes  = fs.String("scopes", "", "comma-separated scopes the key grants")
		tier    = fs.String("tier", "", "the key's rate-limit tier")
		expires = fs.String("expires", "", "when the key ends: a duration from now (720h) or an RFC 3339 time; empty: never")
	)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: jwtgate-keygen -sub SUBJECT [-scopes a,b] [-tier T] [-expires 720h] [-id NAME] [-prefix jg_] >> keys.jsonl")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *sub == "" {
		fs.Usage()
		return 2
	}
	rec := apikey.Record{ID: *id, Subject: *sub, Tier: *tier}
	if *scopes != "" {
		rec.Scopes = strings.Split(*scopes, ",")
	}
	if *expires != "" {
		t, err := parseExpiry(*expires, now())
		if err != nil {
			fmt.Fprintln(stderr, "jwtgate-keygen:", err)
			return 2
		}
		rec.Expires = t
	}
	key, stored, err := apikey.Mint(*prefix, rec)
	if err != nil {
		fmt.Fprintln(stderr, "jwtgate-keygen:", err)
		return 2
	}
	line, err := stored.MarshalLine()
	if err != nil {
		fmt.Fprintln(stderr, "jwtgate-keygen:", err)
		return 1
	}
	if _, err := stdout.Write(line); err != nil {
		fmt.Fprintln(stderr, "jwtgate-keygen:", err)
		return 1
	}
	fmt.Fprintf(stderr, "api key (shown once; only its hash is stored): %s\n", key)
	return 0
}

func parseExpiry(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("-expires %s: must be in the future", s)
		}
		return now.Add(d).UTC().Truncate(time.Second), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("-expires %q: want a duration (720h) or an RFC 3339 time", s)
	}
	if !t.After(now) {
		return time.Time{}, fmt.Errorf("-expires %s: must be in the future", s)
	}
	return t, nil
}
