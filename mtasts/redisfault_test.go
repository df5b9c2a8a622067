package mtasts_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/strictmx/strictmx/cache/redisstore"
	"github.com/strictmx/strictmx/internal/redistest"
	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/mtaststest"
)

// TestLookupsUnderRedisFaults runs Lookups against a Client whose Store is
// a real, faulty Redis: stalled (SIGSTOP), killed, and restarted without
// its data. Every Lookup stays within its context, keeps the policy (no
// downgrade, even when the `_mta-sts` lookup then fails) and no Lookup
// fetches the policy again (no fetch storm).
func TestLookupsUnderRedisFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills redis-server")
	}
	srv := redistest.NewServer(t, nil)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second})
	t.Cleanup(func() { rdb.Close() })

	s := mtaststest.NewServer(t)
	d := s.Domain("example.test").Record("1").Policy(mtasts.ModeEnforce, 86400, "mx1.example.test")
	c := s.Client()
	// Every Get reads Redis, so that each Lookup meets the fault.
	c.Store = &redisstore.Store{Client: rdb, LocalTTL: -1}
	if r, err := c.Lookup(t.Context(), d.Name()); err != nil || r.Policy == nil {
		t.Fatalf("first Lookup: %+v, %v", r, err)
	}

	const ctxTimeout = 200 * time.Millisecond
	lookups := func(phase string, n int) {
		t.Helper()
		for i := range n {
			ctx, cancel := context.WithTimeout(t.Context(), ctxTimeout)
			start := time.Now()
			r, err := c.Lookup(ctx, d.Name())
			took := time.Since(start)
			cancel()
			if err != nil || r.Policy == nil || r.Policy.Mode != mtasts.ModeEnforce {
				t.Fatalf("%s, lookup %d: %+v, %v; want the enforce policy", phase, i, r, err)
			}
			// Bounded by its context, with slack for a loaded machine.
			if took > ctxTimeout+time.Second {
				t.Fatalf("%s, lookup %d took %v with a %v context", phase, i, took, ctxTimeout)
			}
		}
	}

	srv.Pause(t)
	lookups("redis stopped", 200)
	srv.Resume(t)

	srv.Kill(t)
	lookups("redis killed", 200)
	srv.Restart(t, false)
	lookups("redis back without its data", 200)

	// The record lookup fails now: the policy the Client holds stays.
	s.DNSFault(d.RecordName(), mtaststest.DNSServFail)
	lookups("_mta-sts SERVFAIL", 20)

	if n := d.Fetches(); n != 1 {
		t.Errorf("%d policy fetches for 620 Lookups during store faults; want 1", n)
	}
}
