package domain

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestFirstIDAtSplitsByTime: against the oracle "made before t", for random times and
// random ID bodies, an ID sorts below FirstIDAt(t) exactly when its millisecond is before
// t's.
func TestFirstIDAtSplitsByTime(t *testing.T) {
	r := rand.New(rand.NewPCG(22, 22))
	base := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	for i := range 20000 {
		at := base.Add(time.Duration(r.Int64N(int64(400 * 24 * time.Hour))))
		made := at.Add(time.Duration(r.Int64N(int64(10*time.Millisecond))) - 5*time.Millisecond)
		if i%3 == 0 {
			made = at // the same instant: at or after, never before
		}
		id := DerivedID(PrefixEvent, made, string(rune(i)))
		if i%2 == 0 {
			id = PrefixEvent + "_" + newIDBody(made)
		}
		before := made.UnixMilli() < at.UnixMilli()
		if got := id < FirstIDAt(PrefixEvent, at); got != before {
			t.Fatalf("%s made %s, bound at %s: below %v, want %v", id, made.Format(time.RFC3339Nano), at.Format(time.RFC3339Nano), got, before)
		}
	}
}
