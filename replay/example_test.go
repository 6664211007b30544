package replay_test

import (
	"context"
	"fmt"
	"time"

	"github.com/jwtgate/jwtgate/replay"
)

func ExampleMemory() {
	st, err := replay.NewMemory(replay.MemoryConfig{MaxEntries: 1000})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	first, _ := st.Add(ctx, "jti-1|thumbprint", time.Minute)
	again, _ := st.Add(ctx, "jti-1|thumbprint", time.Minute)
	fmt.Println(first, again)
	// Output: true false
}
