package mtasts_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strictmx/strictmx/cache"
	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/mtaststest"
)

var errStoreDown = errors.New("test store: down")

// flakyStore is a cache.Store whose Put and Get fail on demand, as a
// Redis that is down or a full disk would.
type flakyStore struct {
	cache.Store
	failPut atomic.Bool // Put returns errStoreDown and stores nothing
	failGet atomic.Bool // Get returns errStoreDown
	missGet atomic.Bool // Get reports a miss
}

func (s *flakyStore) Get(ctx context.Context, domain string) (*cache.Entry, error) {
	switch {
	case s.failGet.Load():
		return nil, errStoreDown
	case s.missGet.Load():
		return nil, cache.ErrCacheMiss
	}
	return s.Store.Get(ctx, domain)
}

func (s *flakyStore) Put(ctx context.Context, e *cache.Entry) error {
	if s.failPut.Load() {
		return errStoreDown
	}
	return s.Store.Put(ctx, e)
}

// countFetches makes c count its policy fetches.
func countFetches(c *mtasts.Client) *atomic.Int64 {
	var n atomic.Int64
	c.Hooks.Fetched = func(string, time.Duration, error) { n.Add(1) }
	return &n
}

// RFC 8461, Section 10.2: the policy cache is what resists an attacker who
// blocks discovery, so a policy the Client has fetched stays usable until it
// expires whatever its Store does: 200 lookups during a store outage make
// one fetch, and a SERVFAIL on `_mta-sts` afterwards does not lose the
// policy.
func TestStoreOutageKeepsPolicy(t *testing.T) {
	tests := []struct {
		name  string
		store func(t *testing.T) (cache.Store, func())
	}{
		{"Put and Get fail", func(*testing.T) (cache.Store, func()) {
			s := &flakyStore{Store: cache.NewLRU(0)}
			return s, func() { s.failPut.Store(true); s.failGet.Store(true) }
		}},
		{"Put fails, Get misses", func(*testing.T) (cache.Store, func()) {
			s := &flakyStore{Store: cache.NewLRU(0)}
			return s, func() { s.failPut.Store(true); s.missGet.Store(true) }
		}},
		{"store loses every entry", func(*testing.T) (cache.Store, func()) {
			s := &flakyStore{Store: cache.NewLRU(0)}
			return s, func() { s.missGet.Store(true) }
		}},
		{"Dir on a read-only directory", func(t *testing.T) (cache.Store, func()) {
			path := filepath.Join(t.TempDir(), "sts")
			d, err := cache.NewDir(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, 0o500); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(path, 0o700) })
			if f, err := os.CreateTemp(path, "probe"); err == nil {
				f.Close()
				os.Remove(f.Name())
				t.Skip("the directory is still writable (running as root?)")
			}
			return d, func() {}
		}},
		{"Dir whose directory is gone", func(t *testing.T) (cache.Store, func()) {
			path := filepath.Join(t.TempDir(), "sts")
			d, err := cache.NewDir(path)
			if err != nil {
				t.Fatal(err)
			}
			// An unmounted disk, say: the path is now a file, so every
			// Put and every file read fails (not a miss).
			if err := os.RemoveAll(path); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return d, func() {}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, d, c, clk := setup(t)
			store, outage := tt.store(t)
			c.Store = store
			fetches := countFetches(c)
			outage()
			for i := range 200 {
				r := lookup(t, c)
				if r.Policy == nil || r.ID != "id1" {
					t.Fatalf("lookup %d during the outage: %+v", i, r)
				}
			}
			if n := fetches.Load(); n != 1 {
				t.Fatalf("200 lookups during the outage made %d fetches; want 1", n)
			}

			// An attacker now blocks discovery: the policy stays.
			d.DNSFault(mtaststest.DNSServFail)
			clk.Advance(time.Hour)
			if r := checkID(t, c); r.Policy == nil || r.ID != "id1" || r.Mode() != mtasts.ModeEnforce {
				t.Fatalf("id check with SERVFAIL: %+v", r)
			}
			if r := lookup(t, c); r.Policy == nil || r.ID != "id1" {
				t.Fatalf("lookup with SERVFAIL: %+v", r)
			}
			if n := fetches.Load(); n != 1 {
				t.Fatalf("%d fetches; want 1", n)
			}

			// Until it expires, and no longer.
			clk.Advance(86400*time.Second - time.Hour)
			if r := lookup(t, c); r.Policy != nil {
				t.Fatalf("lookup after max_age: %+v; want no policy", r)
			}
		})
	}
}

// When the store keeps serving an older entry after a Put of a newer policy
// failed, the Client uses the newer policy it holds: no fetch at every id
// check, and no return to the old policy.
func TestFailedPutDoesNotRevert(t *testing.T) {
	_, d, c, clk := setup(t)
	store := &flakyStore{Store: cache.NewLRU(0)}
	c.Store = store
	fetches := countFetches(c)
	lookup(t, c) // id1, stored
	store.failPut.Store(true)
	d.Record("id2").Policy(mtasts.ModeTesting, 86400, "mx2.example.test")
	if r := checkID(t, c); r.ID != "id2" || r.Source != mtasts.SourceFetch {
		t.Fatalf("CheckID after a new id: %+v", r)
	}
	for i := range 20 {
		clk.Advance(mtasts.DefaultRecheckInterval)
		if r := checkID(t, c); r.ID != "id2" || r.Mode() != mtasts.ModeTesting {
			t.Fatalf("id check %d: %+v; want id2", i, r)
		}
		if r := lookup(t, c); r.ID != "id2" || r.Source != mtasts.SourceCache {
			t.Fatalf("lookup %d: %+v; want id2 from the cache", i, r)
		}
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d fetches; want 2", n)
	}

	// A policy with max_age 0 withdraws the one it replaces, the one the
	// Client holds in memory included.
	d.Record("id3").Policy(mtasts.ModeEnforce, 0, "mx3.example.test")
	clk.Advance(mtasts.DefaultRecheckInterval)
	if r := checkID(t, c); r.ID != "id3" || r.Source != mtasts.SourceFetch {
		t.Fatalf("CheckID after max_age 0: %+v", r)
	}
	d.Record("id4").Status(500)
	if r := lookup(t, c); r.Policy != nil {
		t.Fatalf("lookup after a max_age 0 policy: %+v; want no policy", r)
	}
}

// A "no record" entry that the store keeps after a Put of a newly found
// policy failed does not hide that policy.
func TestFailedPutAfterNoRecord(t *testing.T) {
	s, _, c, _ := setup(t)
	store := &flakyStore{Store: cache.NewLRU(0)}
	c.Store = store
	d := s.Domain("late.test")
	if r, err := c.Lookup(context.Background(), d.Name()); err != nil || !errors.Is(r.Err, mtasts.ErrNoRecord) {
		t.Fatalf("before the record: %+v, %v", r, err)
	}
	d.Record("1").Policy(mtasts.ModeEnforce, 86400, "mx.late.test")
	store.failPut.Store(true)
	if r, err := c.CheckID(context.Background(), d.Name()); err != nil || r.Policy == nil {
		t.Fatalf("CheckID after the record appeared: %+v, %v", r, err)
	}
	d.DNSFault(mtaststest.DNSServFail)
	if r, err := c.Lookup(context.Background(), d.Name()); err != nil || r.Policy == nil || r.ID != "1" {
		t.Fatalf("Lookup: %+v, %v; want the policy, not the stored \"no record\"", r, err)
	}
}
