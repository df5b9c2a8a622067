package tlsrpt_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/strictmx/strictmx/internal/testclock"
	"github.com/strictmx/strictmx/tlsrpt"
	"github.com/strictmx/strictmx/tlsrpt/tlsrpttest"
)

func TestMemoryStore(t *testing.T) {
	tlsrpttest.RunStore(t, func(t *testing.T) (tlsrpt.Store, func(time.Duration)) {
		c := testclock.New(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
		return &tlsrpt.MemoryStore{Now: c.Now}, c.Advance
	})
}

// TestMemoryStoreForgetsBatches: applied batch ids are remembered for
// BatchIDRetention, then pruned.
func TestMemoryStoreForgetsBatches(t *testing.T) {
	ctx := context.Background()
	c := testclock.New(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
	s := &tlsrpt.MemoryStore{Now: c.Now}
	k := tlsrpt.Key{Domain: "example.net", Day: tlsrpt.DayOf(c.Now())}
	agg := &tlsrpt.Aggregate{Key: k, Policies: []tlsrpt.PolicyResult{{
		Policy: tlsrpt.Policy{Type: tlsrpt.PolicyNoPolicyFound, Domain: k.Domain}, Summary: tlsrpt.Summary{TotalSuccessfulSessionCount: 1}}}}
	id := tlsrpt.NewBatchID()
	add := func(id tlsrpt.BatchID, want int64) {
		t.Helper()
		if err := s.Add(ctx, id, []*tlsrpt.Aggregate{agg}); err != nil {
			t.Fatal(err)
		}
		if a, _ := s.Load(ctx, k); a.Sessions() != want {
			t.Fatalf("%d sessions, want %d", a.Sessions(), want)
		}
	}
	add(id, 1)
	c.Advance(tlsrpt.BatchIDRetention)
	add(id, 1) // still remembered
	c.Advance(time.Second)
	add(id, 2) // forgotten
}

// TestMemoryStoreKeysConcurrentGrowth: while other goroutines add keys,
// set states and delete what they added (the map grows under the
// iteration), Keys yields each key stored throughout exactly once.
func TestMemoryStoreKeysConcurrentGrowth(t *testing.T) {
	ctx := context.Background()
	var s tlsrpt.MemoryStore
	day := tlsrpt.DayOf(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
	batch := func(prefix string, n int) []*tlsrpt.Aggregate {
		var aggs []*tlsrpt.Aggregate
		for i := range n {
			k := tlsrpt.Key{Domain: fmt.Sprintf("%s%05d.example", prefix, i), Day: day}
			aggs = append(aggs, &tlsrpt.Aggregate{Key: k, Policies: []tlsrpt.PolicyResult{{
				Policy: tlsrpt.Policy{Type: tlsrpt.PolicyNoPolicyFound, Domain: k.Domain}, Summary: tlsrpt.Summary{TotalSuccessfulSessionCount: 1}}}})
		}
		return aggs
	}
	const n = 5000
	if err := s.Add(ctx, tlsrpt.NewBatchID(), batch("stay", n)); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				more := batch(fmt.Sprintf("g%d-%d-", g, i), 100)
				s.Add(ctx, tlsrpt.NewBatchID(), more)
				for _, a := range more {
					s.SetState(ctx, a.Key, []byte("x"))
				}
				for _, a := range more[:50] {
					s.Delete(ctx, a.Key)
				}
			}
		})
	}
	seen := map[tlsrpt.Key]int{}
	for k, err := range s.Keys(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		seen[k]++
	}
	close(stop)
	wg.Wait()
	for _, a := range batch("stay", n) {
		if seen[a.Key] != 1 {
			t.Errorf("%s yielded %d times; want once", a.Key, seen[a.Key])
		}
	}
}
