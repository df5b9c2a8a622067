package cache_test

import (
	"sync"
	"testing"
	"time"

	"github.com/strictmx/strictmx/cache"
)

// Of concurrent LoadOrStoreMemo calls on an entry without a memo, one
// stores its value and every caller gets that one.
func TestLoadOrStoreMemo(t *testing.T) {
	for range 100 {
		e := &cache.Entry{Domain: "example.com"}
		got := make([]any, 8)
		stored := make([]bool, 8)
		var wg sync.WaitGroup
		for i := range got {
			wg.Go(func() {
				v, loaded := e.LoadOrStoreMemo(new(int))
				got[i], stored[i] = v, !loaded
			})
		}
		wg.Wait()
		n := 0
		for i := range got {
			if got[i] != e.Memo() {
				t.Fatalf("caller %d got %p, the memo is %p", i, got[i], e.Memo())
			}
			if stored[i] {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d callers stored their memo, want 1", n)
		}
	}
	e := &cache.Entry{}
	e.SetMemo("set")
	if v, loaded := e.LoadOrStoreMemo("other"); !loaded || v != "set" {
		t.Fatalf("LoadOrStoreMemo on a memo: %v, %v", v, loaded)
	}
}

func TestFreshAt(t *testing.T) {
	e := &cache.Entry{}
	if e.FreshAt(0) {
		t.Fatal("an entry no Store vouches for is fresh")
	}
	e.SetFreshUntil(100)
	if !e.FreshAt(99) || e.FreshAt(100) {
		t.Fatal("FreshAt: want true before until only")
	}
	e.SetFreshUntil(0)
	if e.FreshAt(-1 << 62) {
		t.Fatal("vouching withdrawn, still fresh")
	}
}

// Monotonic keeps the distance between readings of the monotonic clock,
// and places a time without one by its wall time.
func TestMonotonic(t *testing.T) {
	now := time.Now()
	if d := cache.Monotonic(now.Add(1500*time.Millisecond)) - cache.Monotonic(now); d != int64(1500*time.Millisecond) {
		t.Fatalf("a second and a half apart: %d ns", d)
	}
	if d := cache.Monotonic(now.Round(0)) - cache.Monotonic(now); d < -int64(time.Second) || d > int64(time.Second) {
		t.Fatalf("the wall reading of now is %d ns from its monotonic reading", d)
	}
}
