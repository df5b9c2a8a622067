package cache_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/strictmx/strictmx/cache"
	"github.com/strictmx/strictmx/cache/cachetest"
)

func TestLRUConformance(t *testing.T) {
	cachetest.RunStoreOptions(t, func(*testing.T) cache.Store { return cache.NewLRU(cachetest.MaxEntries) },
		cachetest.Options{SamePointer: true})
}

func TestLRUZeroValueConformance(t *testing.T) {
	cachetest.RunStoreOptions(t, func(*testing.T) cache.Store { return new(cache.LRU) },
		cachetest.Options{SamePointer: true})
}

func TestLRUEvicts(t *testing.T) {
	ctx := t.Context()
	l := cache.NewLRU(3)
	for i := range 5 {
		d := "d" + strconv.Itoa(i) + ".example"
		if err := l.Put(ctx, &cache.Entry{Domain: d, ID: "1"}); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			// Touch d0 so d1 is the least recently used.
			if _, err := l.Get(ctx, "d0.example"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if l.Len() != 3 {
		t.Fatalf("Len = %d, want 3", l.Len())
	}
	for d, want := range map[string]bool{"d0.example": true, "d1.example": false, "d2.example": false, "d3.example": true, "d4.example": true} {
		_, err := l.Get(ctx, d)
		if (err == nil) != want {
			t.Errorf("Get(%s): %v, want present=%v", d, err, want)
		}
	}
}

// The LRU leaves expiry to its consumer.
func TestLRUKeepsExpired(t *testing.T) {
	l := cache.NewLRU(0)
	e := &cache.Entry{Domain: "example.com", ID: "1", Expires: time.Unix(1, 0)}
	if err := l.Put(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	if got, err := l.Get(t.Context(), "example.com"); got != e || err != nil {
		t.Fatalf("Get = %p, %v; want %p", got, err, e)
	}
}

func TestLRUGetAllocs(t *testing.T) {
	l := cache.NewLRU(0)
	ctx := context.Background()
	if err := l.Put(ctx, &cache.Entry{Domain: "example.com", ID: "1"}); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = l.Get(ctx, "example.com") }); n != 0 {
		t.Errorf("Get hit: %v allocs, want 0", n)
	}
}

func BenchmarkLRUGet(b *testing.B) { cachetest.BenchStore(b, cache.NewLRU(0)) }

// gmailPolicy is the shape of the policy gmail.com serves (seen in the
// wild, 2025): one of the larger common policies.
const gmailPolicy = "version: STSv1\r\nmode: enforce\r\nmx: gmail-smtp-in.l.google.com\r\nmx: *.gmail-smtp-in.l.google.com\r\nmax_age: 86400\r\n"
