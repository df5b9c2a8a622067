package mtasts_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/strictmx/strictmx/cache"
	"github.com/strictmx/strictmx/cache/redisstore"
	"github.com/strictmx/strictmx/internal/redistest"
	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/mtaststest"
)

// vouchingStore is an LRU that vouches for the entry each Get returns for
// span (cache.Entry.SetFreshUntil), withdraws that when a Put or Delete
// replaces it, and counts its Gets.
type vouchingStore struct {
	lru  *cache.LRU
	span time.Duration
	gets atomic.Int64
	mu   sync.Mutex // orders Puts and Deletes with their withdrawals
}

func newVouchingStore(span time.Duration) *vouchingStore {
	return &vouchingStore{lru: cache.NewLRU(0), span: span}
}

func (s *vouchingStore) Get(ctx context.Context, d string) (*cache.Entry, error) {
	s.gets.Add(1)
	e, err := s.lru.Get(ctx, d)
	if err == nil && s.span > 0 {
		e.SetFreshUntil(cache.Monotonic(time.Now().Add(s.span)))
	}
	return e, err
}

func (s *vouchingStore) withdraw(ctx context.Context, d string) {
	if old, err := s.lru.Get(ctx, d); err == nil {
		old.SetFreshUntil(0)
	}
}

func (s *vouchingStore) Put(ctx context.Context, e *cache.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.withdraw(ctx, e.Domain)
	return s.lru.Put(ctx, e)
}

func (s *vouchingStore) Delete(ctx context.Context, d string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.withdraw(ctx, d)
	return s.lru.Delete(ctx, d)
}

// vouchingClient returns a Client of a harness serving domainName's
// policy, with a vouchingStore of span as its Store.
func vouchingClient(t *testing.T, span time.Duration) (*mtasts.Client, *vouchingStore) {
	s := mtaststest.NewServer(t)
	s.Domain(domainName).Record("id1").Policy(mtasts.ModeEnforce, 86400, "mx1.example.test")
	store := newVouchingStore(span)
	c := s.Client()
	c.Store = store
	c.RecheckInterval = time.Hour
	return c, store
}

// While a Store vouches for the entry it returned, a Lookup's hit on it
// does not call the Store; once it stops (a Put replaced the entry), the
// next Lookup asks it again and gets the new policy.
func TestVouchedEntrySkipsStore(t *testing.T) {
	ctx := t.Context()
	c, store := vouchingClient(t, time.Hour)
	if r, err := c.Lookup(ctx, domainName); err != nil || r.Source != mtasts.SourceFetch {
		t.Fatalf("first Lookup: %+v, %v", r, err)
	}
	if r, err := c.Lookup(ctx, domainName); err != nil || r.Source != mtasts.SourceCache {
		t.Fatalf("second Lookup: %+v, %v", r, err) // from the Store, which vouches
	}
	before := store.gets.Load()
	for range 10 {
		if r, err := c.Lookup(ctx, domainName); err != nil || r.Source != mtasts.SourceCache || !r.Policy.Match("mx1.example.test") {
			t.Fatalf("Lookup: %+v, %v", r, err)
		}
	}
	if n := store.gets.Load() - before; n != 0 {
		t.Fatalf("%d Gets for hits on a vouched entry, want none", n)
	}

	// Another sender writes a new policy into the Store: the entry the
	// Client holds is no longer vouched for.
	body := "version: STSv1\nmode: testing\nmx: mx2.example.test\nmax_age: 86400\n"
	e := &cache.Entry{Domain: domainName, ID: "id2", Policy: body, Fetched: time.Now(), Expires: time.Now().Add(time.Hour)}
	if err := store.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	r, err := c.Lookup(ctx, domainName)
	if err != nil || r.ID != "id2" || r.Mode() != mtasts.ModeTesting {
		t.Fatalf("Lookup after the Store's entry changed: %+v, %v", r, err)
	}
	if store.gets.Load() == before {
		t.Fatal("the Store was not asked after it stopped vouching")
	}

	// Purge forgets the vouched entry too.
	if err := c.Purge(ctx, domainName); err != nil {
		t.Fatal(err)
	}
	before = store.gets.Load()
	if r, err := c.Lookup(ctx, domainName); err != nil || r.Source != mtasts.SourceFetch || store.gets.Load() == before {
		t.Fatalf("Lookup after Purge: %+v, %v (Gets %d -> %d)", r, err, before, store.gets.Load())
	}
}

// A vouched entry is asked for again once the vouching ends; a Store that
// never vouches is asked on every Lookup, and so is one whose Client has
// its own clock (the Store vouches on the system clock).
func TestVouchingEndsOrAbsent(t *testing.T) {
	for _, tc := range []struct {
		name     string
		span     time.Duration
		ownClock bool
		perHit   bool // a Get per Lookup
	}{
		{"expired", -time.Second, false, true},
		{"never", 0, false, true},
		{"client-clock", time.Hour, true, true},
		{"vouched", time.Hour, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			c, store := vouchingClient(t, tc.span)
			if tc.ownClock {
				c.Now = time.Now
			}
			for range 2 {
				if _, err := c.Lookup(ctx, domainName); err != nil {
					t.Fatal(err)
				}
			}
			before := store.gets.Load()
			for range 5 {
				if r, err := c.Lookup(ctx, domainName); err != nil || r.Source != mtasts.SourceCache {
					t.Fatalf("Lookup: %+v, %v", r, err)
				}
			}
			if got, want := store.gets.Load()-before, int64(5); tc.perHit && got != want || !tc.perHit && got != 0 {
				t.Fatalf("%d Gets for 5 hits", got)
			}
		})
	}
}

// Two Clients sharing one redisstore.Store: a policy one of them fetches
// replaces, for the other, the entry the Store vouched for at once, not a
// second later.
func TestVouchedRedisSharedStore(t *testing.T) {
	addr := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	ctx := t.Context()
	store := &redisstore.Store{Client: rdb, Prefix: "vouch:" + t.Name() + ":"}
	s := mtaststest.NewServer(t)
	s.Domain(domainName).Record("id1").Policy(mtasts.ModeEnforce, 86400, "mx1.example.test")
	a, b := s.Client(), s.Client()
	a.Store, b.Store = store, store
	a.RecheckInterval, b.RecheckInterval = time.Hour, time.Hour
	if r, err := a.Lookup(ctx, domainName); err != nil || r.Source != mtasts.SourceFetch {
		t.Fatalf("a: %+v, %v", r, err)
	}
	for range 3 {
		if r, err := b.Lookup(ctx, domainName); err != nil || r.Source != mtasts.SourceCache || r.ID != "id1" {
			t.Fatalf("b: %+v, %v", r, err)
		}
	}
	body := "version: STSv1\nmode: testing\nmx: mx2.example.test\nmax_age: 86400\n"
	if _, err := a.Preload(ctx, domainName, "id2", []byte(body)); err != nil {
		t.Fatal(err)
	}
	if r, err := b.Lookup(ctx, domainName); err != nil || r.ID != "id2" {
		t.Fatalf("b after a's new policy: %+v, %v", r, err)
	}
	if err := a.Purge(ctx, domainName); err != nil {
		t.Fatal(err)
	}
	if r, err := b.Lookup(ctx, domainName); err != nil || r.ID != "id1" || r.Source != mtasts.SourceFetch {
		t.Fatalf("b after a's Purge: %+v, %v", r, err) // b fetches it again
	}
}

// Concurrent Lookups that each find a memo-less entry in the Store agree
// on one state for it: the same Result.
func TestStoreEntryOneState(t *testing.T) {
	ctx := t.Context()
	s := mtaststest.NewServer(t)
	c := s.Client()
	lru := cache.NewLRU(0)
	c.Store = lru
	body := "version: STSv1\nmode: enforce\nmx: mx1.example.test\nmax_age: 86400\n"
	if err := lru.Put(ctx, &cache.Entry{Domain: domainName, ID: "id1", Policy: body, Fetched: time.Now(), Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	results := make([]*mtasts.Result, 8)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range results {
		wg.Go(func() {
			<-start
			r, err := c.Lookup(ctx, domainName)
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		})
	}
	close(start)
	wg.Wait()
	for _, r := range results[1:] {
		if r != results[0] {
			t.Fatalf("two Results for one entry: %p and %p", r, results[0])
		}
	}
}
