package mtasts

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// recordResolver answers every TXT query with one `_mta-sts` record and
// counts the queries.
type recordResolver struct{ queries atomic.Int64 }

func (r *recordResolver) LookupTXT(context.Context, string) ([]string, error) {
	r.queries.Add(1)
	return []string{"v=STSv1; id=id1"}, nil
}

// The Client has one notion of now (see Lookup). Here the system's wall
// clock has stepped an hour back since the Client's first use, which the
// test injects by moving the wall time the Client read then (the step is
// the difference between that reading plus the monotonic time elapsed and
// the system's wall time now). A policy cached after the step, with a
// max_age shorter than the step, must still be a hit: before, misses read
// time.Now while hits read the monotonic clock, so every hit on it saw it
// expired and became a discovery with a DNS query.
func TestWallClockStepOneNotionOfNow(t *testing.T) {
	const step = time.Hour
	res := &recordResolver{}
	c := &Client{Resolver: res}
	c.init()
	c.epochUnix += int64(step) // the wall clock now reads an hour earlier

	ctx := context.Background()
	body := "version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 1800\n"
	before := c.nowUnix()
	pre, err := c.Preload(ctx, "example.test", "id1", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	after := c.nowUnix()
	if f := pre.Fetched.UnixNano(); f < before || f > after {
		t.Errorf("Fetched %v is not the Client's now (between %v and %v)", pre.Fetched, time.Unix(0, before), time.Unix(0, after))
	}
	for range 3 {
		r, err := c.Lookup(ctx, "example.test")
		if err != nil {
			t.Fatal(err)
		}
		if r.Source != SourceCache || r.Policy == nil || !r.Fetched.Equal(pre.Fetched) || !r.Expires.Equal(pre.Expires) {
			t.Fatalf("Lookup after the step: %+v; want the preloaded policy from the cache", r)
		}
	}
	if n := res.queries.Load(); n != 0 {
		t.Errorf("%d TXT queries for a cached policy after the wall-clock step; want 0", n)
	}
}

// A hit reads the clock once, through nowUnix, and nothing else: Now is
// called once per Lookup when it is set.
func TestLookupHitReadsClockOnce(t *testing.T) {
	var reads atomic.Int64
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := &Client{Resolver: &recordResolver{}, RecheckInterval: time.Hour,
		Now: func() time.Time { reads.Add(1); return base }}
	ctx := context.Background()
	body := "version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 1800\n"
	if _, err := c.Preload(ctx, "example.test", "id1", []byte(body)); err != nil {
		t.Fatal(err)
	}
	reads.Store(0)
	for range 5 {
		if r, err := c.Lookup(ctx, "example.test"); err != nil || r.Source != SourceCache {
			t.Fatalf("Lookup: %+v, %v", r, err)
		}
	}
	if n := reads.Load(); n != 5 {
		t.Errorf("5 hits read the clock %d times; want 5", n)
	}
}
