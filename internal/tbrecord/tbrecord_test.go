package tbrecord_test

import (
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/internal/tbrecord"
)

func TestRun(t *testing.T) {
	var order []string
	res := tbrecord.Run(t, func(tb testing.TB) {
		tb.Cleanup(func() { order = append(order, "first") })
		tb.Cleanup(func() { order = append(order, "second") })
		tb.Logf("note %d", 1)
		tb.Fatalf("broken: %s", "yes")
		order = append(order, "after Fatal") // never reached
	})
	if !res.Failed || res.Skipped || !strings.Contains(res.Log, "note 1") || !strings.Contains(res.Log, "broken: yes") {
		t.Fatalf("Fatal: %+v", res)
	}
	if strings.Join(order, ",") != "second,first" {
		t.Fatalf("cleanups ran as %v, want last first, and nothing after Fatal", order)
	}

	if res := tbrecord.Run(t, func(tb testing.TB) { tb.Log("fine") }); res.Failed || res.Skipped {
		t.Fatalf("passing func: %+v", res)
	}
	if res := tbrecord.Run(t, func(tb testing.TB) { tb.Skip("later") }); res.Failed || !res.Skipped {
		t.Fatalf("Skip: %+v", res)
	}
	res = tbrecord.Run(t, func(tb testing.TB) {
		tb.Error("one")
		if !tb.Failed() {
			panic("Failed false after Error")
		}
		tb.Error("two")
	})
	if !res.Failed || !strings.Contains(res.Log, "one\ntwo") {
		t.Fatalf("Error keeps going: %+v", res)
	}
}
