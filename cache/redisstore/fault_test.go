package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/strictmx/strictmx/cache"
	"github.com/strictmx/strictmx/cache/redisstore"
	"github.com/strictmx/strictmx/internal/redistest"
)

// TestStalledRedis: with Redis stalled (SIGSTOP) and a client that ignores
// contexts (ContextTimeoutEnabled false) and waits long for replies, every
// call returns soon after its ctx ends, and the memory tier is still
// served, stale entries included.
func TestStalledRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("stalls Redis for seconds")
	}
	srv := redistest.NewServer(t, nil)
	for _, retries := range []int{-1, 0} { // off, and go-redis's default
		client := redis.NewClient(&redis.Options{Addr: srv.Addr, ReadTimeout: 5 * time.Second,
			WriteTimeout: 5 * time.Second, MaxRetries: retries})
		t.Cleanup(func() { client.Close() })
		ctx := t.Context()
		clk := newClock()
		s := &redisstore.Store{Client: client, Prefix: uniquePrefix(), Now: clk.Now}
		stale := entry("stale.example", "1", clk)
		if err := s.Put(ctx, stale); err != nil {
			t.Fatal(err)
		}
		clk.Advance(redisstore.DefaultLocalTTL + time.Second) // the next Get re-reads
		fresh := entry("fresh.example", "1", clk)
		if err := s.Put(ctx, fresh); err != nil {
			t.Fatal(err)
		}

		srv.Pause(t)
		const timeout, slack = 200 * time.Millisecond, time.Second
		slowest := map[string]time.Duration{}
		call := func(name string, f func(ctx context.Context) error) error {
			t.Helper()
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			start := time.Now()
			err := f(ctx)
			took := time.Since(start)
			if took > timeout+slack {
				t.Errorf("retries=%d: %s returned %v after its %v context ended", retries, name, took-timeout, timeout)
			}
			slowest[name] = max(slowest[name], took)
			return err
		}
		for range 3 {
			for _, want := range []*cache.Entry{fresh, stale} {
				var got *cache.Entry
				err := call("Get "+want.Domain, func(ctx context.Context) (err error) {
					got, err = s.Get(ctx, want.Domain)
					return err
				})
				if got != want || err != nil {
					t.Errorf("retries=%d: Get(%s) with Redis stalled = %v, %v; want the held entry", retries, want.Domain, got, err)
				}
			}
			err := call("Get of a domain not held", func(ctx context.Context) error {
				_, err := s.Get(ctx, "cold.example")
				return err
			})
			if err == nil || errors.Is(err, cache.ErrCacheMiss) {
				t.Errorf("retries=%d: cold Get with Redis stalled: %v, want an error that is not a miss", retries, err)
			}
			if err := call("Put", func(ctx context.Context) error { return s.Put(ctx, entry("new.example", "1", clk)) }); err == nil {
				t.Errorf("retries=%d: Put with Redis stalled succeeded", retries)
			}
			if err := call("Delete", func(ctx context.Context) error { return s.Delete(ctx, "gone.example") }); err == nil {
				t.Errorf("retries=%d: Delete with Redis stalled succeeded", retries)
			}
		}
		t.Logf("retries=%d: slowest calls with a %v context: %v", retries, timeout, slowest)
		srv.Resume(t)
		// Redis is back: the calls that were waiting on it finish, and
		// the store reads and writes again.
		if err := s.Put(ctx, entry("new.example", "2", clk)); err != nil {
			t.Fatalf("retries=%d: Put after the stall: %v", retries, err)
		}
		if got, err := s.Get(ctx, "new.example"); err != nil || got.ID != "2" {
			t.Fatalf("retries=%d: Get after the stall: %v, %v", retries, got, err)
		}
	}
}

// TestRestartWithoutPersistence: a Redis that comes back empty does not
// make the memory tier drop the unexpired entries it holds: they are
// served and written back. A Delete made through a store still deletes
// everywhere.
func TestRestartWithoutPersistence(t *testing.T) {
	srv := redistest.NewServer(t, nil)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { client.Close() })
	ctx := t.Context()
	clk := newClock()
	prefix := uniquePrefix()
	a := &redisstore.Store{Client: client, Prefix: prefix, Now: clk.Now}
	b := &redisstore.Store{Client: client, Prefix: prefix, Now: clk.Now}
	domains := []string{"a.example", "b.example", "c.example"}
	held := map[string]*cache.Entry{}
	for _, d := range domains {
		held[d] = entry(d, "1", clk)
		if err := a.Put(ctx, held[d]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Get(ctx, "c.example"); err != nil { // b holds c too
		t.Fatal(err)
	}

	srv.Restart(t, false)
	if err := client.Ping(ctx).Err(); err != nil { // the pool reconnects
		t.Logf("first command after the restart: %v", err)
	}
	for round := range 2 { // each round re-reads every entry
		clk.Advance(redisstore.DefaultLocalTTL + time.Second)
		for _, d := range domains[:2] {
			if got, err := a.Get(ctx, d); got != held[d] || err != nil {
				t.Fatalf("round %d: Get(%s) after Redis came back empty = %v, %v; want the held entry", round, d, got, err)
			}
		}
	}
	// The entries are in Redis again, for the rest of the fleet.
	for _, d := range domains[:2] {
		fresh := &redisstore.Store{Client: client, Prefix: prefix}
		if got, err := fresh.Get(ctx, d); err != nil || got.ID != "1" {
			t.Errorf("a new store's Get(%s) = %v, %v; want the entry written back", d, got, err)
		}
	}

	// A Delete through a store is not undone by another store that
	// holds the entry.
	if err := a.Delete(ctx, "c.example"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(redisstore.DefaultLocalTTL + time.Second)
	for range 2 {
		if got, err := b.Get(ctx, "c.example"); !errors.Is(err, cache.ErrCacheMiss) {
			t.Fatalf("b.Get after a.Delete = %v, %v; want a miss", got, err)
		}
	}
	if got, err := a.Get(ctx, "c.example"); !errors.Is(err, cache.ErrCacheMiss) {
		t.Fatalf("a.Get after its own Delete = %v, %v; want a miss", got, err)
	}
}
