package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/strictmx/strictmx/cache"
	"github.com/strictmx/strictmx/cache/cachetest"
	"github.com/strictmx/strictmx/cache/redisstore"
	"github.com/strictmx/strictmx/internal/redistest"
	"github.com/strictmx/strictmx/internal/testclock"
)

// newClient starts a redis-server (or skips, see internal/redistest) and
// returns a client for it, closed at the end of the test.
func newClient(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: redistest.Start(t)})
	t.Cleanup(func() { c.Close() })
	return c
}

var prefixes atomic.Int64

func uniquePrefix() string { return "test:" + strconv.FormatInt(prefixes.Add(1), 10) + ":" }

func TestConformance(t *testing.T) {
	client := newClient(t)
	for _, tc := range []struct {
		name       string
		localTTL   time.Duration
		memorySize int
	}{
		{"Defaults", 0, 0},
		// Every Get re-reads Redis, exercising the re-read path.
		{"NoLocalTTL", -1, 0},
		// A memory tier of one entry: most Gets in the suite are cold.
		{"TinyMemory", 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cachetest.RunStoreOptions(t,
				func(*testing.T) cache.Store {
					return &redisstore.Store{Client: client, Prefix: uniquePrefix(),
						LocalTTL: tc.localTTL, MemorySize: tc.memorySize}
				},
				cachetest.Options{
					SamePointer: true,
					Reopen: func(_ *testing.T, s cache.Store) cache.Store {
						return &redisstore.Store{Client: client, Prefix: s.(*redisstore.Store).Prefix}
					},
				})
		})
	}
}

func newClock() *testclock.Clock { return testclock.New(time.Now()) }

func entry(dom, id string, clk *testclock.Clock) *cache.Entry {
	return &cache.Entry{Domain: dom, ID: id, Policy: "version: STSv1\nmode: enforce\nmx: mx." + dom + "\nmax_age: 86400\n# " + id,
		Fetched: clk.Now(), Expires: clk.Now().Add(24 * time.Hour)}
}

func TestDefaultPrefixAndExpiry(t *testing.T) {
	client := newClient(t)
	ctx := t.Context()
	clk := newClock()
	s := &redisstore.Store{Client: client, Now: clk.Now}
	e := entry("example.com", "1", clk)
	e.Expires = clk.Now().Add(time.Hour)
	if err := s.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	ttl, err := client.PTTL(ctx, "strictmx:mtasts:example.com").Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl > time.Hour || ttl < time.Hour-time.Minute {
		t.Fatalf("Redis TTL %v, want just under 1h (Expires - Now)", ttl)
	}
	data, err := client.Get(ctx, "strictmx:mtasts:example.com").Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := cache.UnmarshalEntry(data); err != nil || got.ID != "1" {
		t.Fatalf("stored value decodes to %v, %v", got, err)
	}

	// Expires beyond what a time.Duration holds still gets a Redis expiry.
	far := entry("far.example", "1", clk)
	far.Expires = time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.Put(ctx, far); err != nil {
		t.Fatal(err)
	}
	if ttl, err := client.PTTL(ctx, "strictmx:mtasts:far.example").Result(); err != nil || ttl < 365*24*time.Hour {
		t.Fatalf("Redis TTL of a far-future entry: %v, %v; want a positive expiry of years", ttl, err)
	}
	if got, err := s.Get(ctx, "far.example"); got != far || err != nil {
		t.Fatalf("Get of a far-future entry = %v, %v; want the same pointer", got, err)
	}

	// An entry that has already expired replaces by deleting: the key
	// holds no entry any more (a tombstone, with an expiry).
	old := entry("example.com", "2", clk)
	old.Expires = clk.Now().Add(-time.Second)
	if err := s.Put(ctx, old); err != nil {
		t.Fatal(err)
	}
	if v, err := client.Get(ctx, "strictmx:mtasts:example.com").Bytes(); err == nil {
		if _, err := cache.UnmarshalEntry(v); err == nil {
			t.Fatalf("key of an expired entry holds an entry")
		}
	}
	if ttl, err := client.PTTL(ctx, "strictmx:mtasts:example.com").Result(); err != nil || ttl == -1 {
		t.Fatalf("key of an expired entry: PTTL %v, %v; want an expiry or no key", ttl, err)
	}
	if _, err := s.Get(ctx, "example.com"); !errors.Is(err, cache.ErrCacheMiss) {
		t.Fatalf("Get after Put of an expired entry: %v, want a miss", err)
	}
}

// Two senders on one Redis converge within LocalTTL, and an unchanged
// entry keeps its pointer (and memo) across the re-read.
func TestFleetConverges(t *testing.T) {
	client := newClient(t)
	ctx := t.Context()
	clk := newClock()
	prefix := uniquePrefix()
	a := &redisstore.Store{Client: client, Prefix: prefix, Now: clk.Now}
	b := &redisstore.Store{Client: client, Prefix: prefix, Now: clk.Now, LocalTTL: 10 * time.Second}
	get := func(s *redisstore.Store) *cache.Entry {
		t.Helper()
		e, err := s.Get(ctx, "example.com")
		if errors.Is(err, cache.ErrCacheMiss) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return e
	}

	e1 := entry("example.com", "1", clk)
	if err := a.Put(ctx, e1); err != nil {
		t.Fatal(err)
	}
	b1 := get(b)
	if b1 == nil || b1.ID != "1" || b1 == e1 {
		t.Fatalf("b read %+v, want a decoded copy of id 1", b1)
	}
	b1.SetMemo("parsed")

	clk.Advance(11 * time.Second)
	if got := get(b); got != b1 || got.Memo() != "parsed" {
		t.Fatalf("re-read of an unchanged entry gave %p (memo %v), want %p with its memo", got, got.Memo(), b1)
	}

	e2 := entry("example.com", "2", clk)
	if err := a.Put(ctx, e2); err != nil {
		t.Fatal(err)
	}
	if got := get(a); got != e2 {
		t.Fatalf("a.Get = %p, want the entry it was given %p", got, e2)
	}
	clk.Advance(9 * time.Second)
	if got := get(b); got != b1 {
		t.Fatalf("within LocalTTL, b gave id %s, want its memory copy of id 1", got.ID)
	}
	clk.Advance(2 * time.Second)
	if got := get(b); got == nil || got.ID != "2" {
		t.Fatalf("after LocalTTL, b gave %+v, want id 2", got)
	}

	if err := a.Delete(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	if get(b) == nil {
		t.Fatal("b saw the Delete before LocalTTL passed")
	}
	clk.Advance(11 * time.Second)
	if got := get(b); got != nil {
		t.Fatalf("after LocalTTL, b still has %+v after a Delete", got)
	}
}

// An entry past its Expires is not served from memory.
func TestMemoryTierHonoursExpires(t *testing.T) {
	client := newClient(t)
	ctx := t.Context()
	clk := newClock()
	s := &redisstore.Store{Client: client, Prefix: uniquePrefix(), Now: clk.Now, LocalTTL: time.Hour}
	e := entry("example.com", "1", clk)
	e.Expires = clk.Now().Add(time.Minute)
	if err := s.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	// Redis still has the key (its clock has not moved); our clock has.
	if err := client.Del(ctx, s.Prefix+"example.com").Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "example.com"); got != e || err != nil {
		t.Fatalf("before expiry: %v, %v", got, err)
	}
	clk.Advance(time.Minute)
	if got, err := s.Get(ctx, "example.com"); !errors.Is(err, cache.ErrCacheMiss) {
		t.Fatalf("after Expires: %v, %v; want a miss", got, err)
	}
}

func TestCorruptValues(t *testing.T) {
	client := newClient(t)
	ctx := t.Context()
	var logs bytes.Buffer
	s := &redisstore.Store{Client: client, Prefix: uniquePrefix(), Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	other, err := cache.MarshalEntry(&cache.Entry{Domain: "other.example", ID: "1", Policy: "x"})
	if err != nil {
		t.Fatal(err)
	}
	for dom, v := range map[string]string{
		"garbage.example":   "garbage",
		"empty.example":     "",
		"misplaced.example": string(other),
		"future.example":    "\x02" + string(other[1:]), // a later encoding version
	} {
		if err := client.Set(ctx, s.Prefix+dom, v, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		if e, err := s.Get(ctx, dom); !errors.Is(err, cache.ErrCacheMiss) {
			t.Errorf("Get(%s) of a corrupt value: %v, %v; want a miss", dom, e, err)
		}
		if !strings.Contains(logs.String(), "domain="+dom) {
			t.Errorf("corrupt value of %s not logged", dom)
		}
		// Put overwrites it.
		e := &cache.Entry{Domain: dom, ID: "1", Expires: time.Now().Add(time.Hour)}
		if err := s.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
		if got, err := (&redisstore.Store{Client: client, Prefix: s.Prefix}).Get(ctx, dom); err != nil || got.ID != "1" {
			t.Errorf("after Put over a corrupt value: %v, %v", got, err)
		}
	}
}

// When Redis cannot be reached at re-read time, the held entry is served
// and the failure logged once per LocalTTL.
func TestRedisDownServesMemory(t *testing.T) {
	client := newClient(t)
	ctx := t.Context()
	clk := newClock()
	var logs bytes.Buffer
	s := &redisstore.Store{Client: client, Prefix: uniquePrefix(), Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	e := entry("example.com", "1", clk)
	if err := s.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	defer dead.Close()
	s.Client = dead // Redis "goes away"; no Get is running concurrently
	clk.Advance(redisstore.DefaultLocalTTL)
	for range 3 {
		if got, err := s.Get(ctx, "example.com"); got != e || err != nil {
			t.Fatalf("Get with Redis down = %v, %v; want the held entry", got, err)
		}
	}
	if n := strings.Count(logs.String(), "cannot re-read"); n != 1 {
		t.Fatalf("%d warnings, want 1; log:\n%s", n, logs.String())
	}
	if _, err := s.Get(ctx, "absent.example"); err == nil || errors.Is(err, cache.ErrCacheMiss) {
		t.Fatalf("cold Get with Redis down: %v, want a Redis error", err)
	}
}

func TestNoClient(t *testing.T) {
	var s redisstore.Store
	ctx := t.Context()
	if _, err := s.Get(ctx, "example.com"); !errors.Is(err, redisstore.ErrNoClient) {
		t.Errorf("Get: %v", err)
	}
	if err := s.Put(ctx, &cache.Entry{Domain: "example.com"}); !errors.Is(err, redisstore.ErrNoClient) {
		t.Errorf("Put: %v", err)
	}
	if err := s.Delete(ctx, "example.com"); !errors.Is(err, redisstore.ErrNoClient) {
		t.Errorf("Delete: %v", err)
	}
}

func TestMemoryTierAllocs(t *testing.T) {
	s := &redisstore.Store{Client: newClient(t), Prefix: uniquePrefix()}
	ctx := context.Background()
	if err := s.Put(ctx, &cache.Entry{Domain: "example.com", ID: "1", Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = s.Get(ctx, "example.com") }); n != 0 {
		t.Errorf("memory-tier hit: %v allocs, want 0", n)
	}
}

func BenchmarkRedisGetMemoryTier(b *testing.B) {
	cachetest.BenchStore(b, &redisstore.Store{Client: newClient(b), Prefix: uniquePrefix()})
}

// A caller waiting behind a slow Redis round trip for the same domain
// gives up when its own ctx ends.
func TestWaitHonoursContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan net.Conn, 1)
	go func() { // a "Redis" that reads requests and never answers
		c, err := l.Accept()
		if err != nil {
			return
		}
		got <- c
		_, _ = io.Copy(io.Discard, c)
	}()
	client := redis.NewClient(&redis.Options{Addr: l.Addr().String(), Protocol: 2, MaxRetries: -1,
		ContextTimeoutEnabled: true, DisableIdentity: true})
	defer client.Close()
	s := &redisstore.Store{Client: client}

	doneA := make(chan error, 1)
	go func() {
		_, err := s.Get(t.Context(), "example.com")
		doneA <- err
	}()
	conn := <-got // A holds the domain's lock and waits for Redis

	ctxB, cancelB := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancelB()
	if _, err := s.Get(ctxB, "example.com"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting Get: %v, want context.DeadlineExceeded", err)
	}
	select {
	case err := <-doneA:
		t.Fatalf("the first Get returned (%v) though Redis never answered", err)
	default:
	}
	conn.Close() // Redis goes away
	if err := <-doneA; err == nil || errors.Is(err, cache.ErrCacheMiss) {
		t.Fatalf("first Get after the connection closed: %v, want a Redis error", err)
	}
}

// GetAt answers a memory-tier hit as Get does, at the caller's reading of
// the clock, without allocating; with Now set it reads Now instead.
func TestGetAt(t *testing.T) {
	ctx := context.Background()
	s := &redisstore.Store{Client: newClient(t), Prefix: uniquePrefix()}
	now := time.Now()
	e := &cache.Entry{Domain: "example.com", ID: "1", Policy: "p", Fetched: now, Expires: now.Add(time.Hour)}
	if err := s.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetAt(ctx, "example.com", time.Now()); got != e || err != nil {
		t.Fatalf("GetAt = %p, %v; want %p", got, err, e)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = s.GetAt(ctx, "example.com", time.Now()) }); n != 0 {
		t.Errorf("GetAt memory-tier hit: %v allocs, want 0", n)
	}
	// Past Expires by the caller's reading: never served from memory, and
	// Redis (which expires keys by its own clock) still has the key, so
	// the re-read finds it; the reading, not the store's clock, decided.
	if got, err := s.GetAt(ctx, "example.com", time.Now().Add(2*time.Hour)); got == e || err == nil && !got.Expires.Equal(e.Expires) {
		t.Fatalf("GetAt past Expires returned the memory tier's entry: %p, %v", got, err)
	}

	clk := testclock.New(now)
	sc := &redisstore.Store{Client: newClient(t), Prefix: uniquePrefix(), Now: clk.Now}
	if err := sc.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	if got, err := sc.GetAt(ctx, "example.com", now.Add(2*time.Hour)); got != e || err != nil {
		t.Fatalf("GetAt with Now set = %p, %v; want the entry (Now, not the reading, decides)", got, err)
	}
}

// The Store vouches for an entry in its memory tier (cache.Entry.FreshAt)
// for at most a second at a time, renewed by its Gets, and only on the
// system clock and while the entry is fresh in memory.
func TestVouching(t *testing.T) {
	client := newClient(t)
	ctx := t.Context()
	clk := testclock.New(time.Now())
	for _, tc := range []struct {
		name     string
		store    *redisstore.Store
		vouching bool
	}{
		{"system-clock", &redisstore.Store{Client: client, Prefix: uniquePrefix()}, true},
		{"own-clock", &redisstore.Store{Client: client, Prefix: uniquePrefix(), Now: time.Now}, false},
		{"no-local-ttl", &redisstore.Store{Client: client, Prefix: uniquePrefix(), LocalTTL: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := entry("example.com", "1", clk)
			if err := tc.store.Put(ctx, e); err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			if got := e.FreshAt(cache.Monotonic(now)); got != tc.vouching {
				t.Fatalf("vouched for after Put: %v, want %v", got, tc.vouching)
			}
			if e.FreshAt(cache.Monotonic(now.Add(time.Second + 100*time.Millisecond))) {
				t.Fatal("vouched for more than a second ahead")
			}
			got, err := tc.store.Get(ctx, "example.com")
			if err != nil {
				t.Fatal(err)
			}
			if got.FreshAt(cache.Monotonic(time.Now())) != tc.vouching {
				t.Fatalf("vouched for after Get: %v, want %v", !tc.vouching, tc.vouching)
			}
		})
	}
}
