package tlsrpt_test

import (
	"context"
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
