package redisstore

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/redis/go-redis/v9"

	"github.com/strictmx/strictmx/cache"
)

// Defaults for the zero values of Store's fields.
const (
	// DefaultPrefix starts every key the store writes.
	DefaultPrefix = "strictmx:mtasts:"
	// DefaultLocalTTL is how long an entry is served from the memory tier
	// before the next Get re-reads it from Redis.
	DefaultLocalTTL = 30 * time.Second
	// DefaultMemorySize bounds the memory tier, in entries.
	DefaultMemorySize = cache.DefaultLRUSize
)

// maxTTL caps the Redis expiry of an entry whose Expires is further away
// (the entry keeps its own Expires). MTA-STS lifetimes are capped at about
// a year (RFC 8461, Section 3.2), so only a caller's test data reaches it; it
// also keeps the millisecond rounding below from overflowing.
const maxTTL = 10 * 365 * 24 * time.Hour

// ErrNoClient is returned by every method of a Store whose Client is nil:
// set Client before use.
var ErrNoClient = errors.New("redisstore: Store.Client is nil")

// Store is a cache.Store on Redis, so that a fleet of senders shares one
// MTA-STS cache: a policy one sender fetched is used by all.
//
// Each entry is one Redis string at Prefix+domain holding the versioned
// encoding of package cache (cache.MarshalEntry), with a Redis expiry at
// the entry's Expires: Redis drops expired entries by itself. Put of an
// entry that has already expired deletes the key instead.
//
// A memory tier (an LRU of entries) sits in front of Redis. A Get of an
// entry read or written by this Store less than LocalTTL ago, and not yet
// expired, is answered from memory without a round trip and without
// allocating, and returns the same *Entry as before (so package mtasts'
// memo of the parsed policy is kept). After LocalTTL the next Get re-reads
// the key; if the entry is unchanged the held *Entry is kept. So a change
// made by another sender (a new policy, a Delete) is seen everywhere within
// LocalTTL. While one re-read of a domain is in flight, other Gets of it
// are answered from memory; when the re-read fails for a reason other than
// the caller's context, the held entry is served for another LocalTTL and
// a warning logged.
//
// The zero value is not usable: set Client. Other fields may stay zero. A
// Store must not be copied after first use. The Store does not close
// Client.
type Store struct {
	// Client talks to Redis: a *redis.Client, *redis.ClusterClient or
	// failover client. Required. Set ContextTimeoutEnabled in its options
	// so that a caller's ctx deadline also bounds the Redis round trip;
	// otherwise go-redis applies only its own read and write timeouts.
	Client redis.UniversalClient

	// Prefix starts every key; empty means DefaultPrefix. Use distinct
	// prefixes for stores that must not share entries.
	Prefix string

	// MemorySize bounds the memory tier, in entries; zero or negative
	// means DefaultMemorySize. It is read once, at first use.
	MemorySize int

	// LocalTTL bounds how long an entry is served from memory without
	// re-reading Redis; zero means DefaultLocalTTL. A negative value makes
	// every Get read Redis.
	LocalTTL time.Duration

	// Now returns the current time; nil means time.Now. It is used for
	// LocalTTL, for an entry's expiry in the memory tier and for the Redis
	// expiry set by Put (Expires minus Now). Redis itself expires keys by
	// its own clock.
	Now func() time.Time

	// Logger receives warnings about corrupt values and failed re-reads.
	// Nil means discard.
	Logger *slog.Logger

	once  sync.Once
	start time.Time // Now() at first use; clock readings count from it
	mem   *lru.Cache[string, *held]
	seed  maphash.Seed
	// locks, striped by domain, order Redis writes and memory updates.
	// Each is a one-slot channel so a caller waiting for it can give up
	// when its ctx ends.
	locks [64]chan struct{}
}

// held is an entry in the memory tier.
type held struct {
	e *cache.Entry
	// freshUntil is the clock reading (see Store.clock) until which e may
	// be served without a re-read: the earlier of LocalTTL after it was
	// read or written, and e.Expires.
	freshUntil atomic.Int64
	refreshing atomic.Bool  // a re-read is in flight
	promoted   atomic.Int64 // clock reading of the last LRU promotion
}

// promoteEvery bounds how often a hit updates the memory tier's LRU order.
// An update takes the LRU's write lock; doing it at most once a second per
// entry keeps hot entries from contending on it, and the order stays
// right to within a second.
const promoteEvery = int64(time.Second)

// lookupMem finds domain in the memory tier, promoting it in the LRU order
// at most once per promoteEvery.
func (s *Store) lookupMem(domain string, now int64) (*held, bool) {
	h, ok := s.mem.Peek(domain)
	if !ok {
		return nil, false
	}
	if last := h.promoted.Load(); now-last >= promoteEvery && h.promoted.CompareAndSwap(last, now) {
		s.mem.Get(domain)
	}
	return h, true
}

func (s *Store) newHeld(e *cache.Entry, c int64) *held {
	h := &held{e: e}
	s.renew(h, c)
	return h
}

// renew makes h fresh for LocalTTL from clock reading c.
func (s *Store) renew(h *held, c int64) {
	until := addSat(c, int64(s.localTTL()))
	exp := addSat(c, int64(h.e.Expires.Sub(s.at(c))))
	h.freshUntil.Store(min(until, exp))
}

// addSat returns a+b, saturated at the int64 limits.
func addSat(a, b int64) int64 {
	switch r := a + b; {
	case b > 0 && r < a:
		return math.MaxInt64
	case b < 0 && r > a:
		return math.MinInt64
	default:
		return r
	}
}

func (s *Store) init() {
	s.once.Do(func() {
		size := s.MemorySize
		if size <= 0 {
			size = DefaultMemorySize
		}
		var err error
		if s.mem, err = lru.New[string, *held](size); err != nil {
			panic("redisstore: golang-lru refused a positive size: " + err.Error())
		}
		s.seed = maphash.MakeSeed()
		s.start = s.now()
		for i := range s.locks {
			s.locks[i] = make(chan struct{}, 1)
		}
	})
}

func (s *Store) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// clock returns the time since s.start in nanoseconds. With the default
// Now it reads only the monotonic clock, which is cheaper than time.Now and
// is all that a memory-tier hit needs.
func (s *Store) clock() int64 {
	if s.Now == nil {
		return int64(time.Since(s.start))
	}
	return int64(s.Now().Sub(s.start))
}

// at returns the time of clock reading c.
func (s *Store) at(c int64) time.Time { return s.start.Add(time.Duration(c)) }

func (s *Store) localTTL() time.Duration {
	if s.LocalTTL == 0 {
		return DefaultLocalTTL
	}
	return s.LocalTTL
}

func (s *Store) key(domain string) string {
	if s.Prefix == "" {
		return DefaultPrefix + domain
	}
	return s.Prefix + domain
}

func (s *Store) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// lock takes domain's lock, or gives up when ctx ends. Release it with
// unlock.
func (s *Store) lock(ctx context.Context, op, domain string) (chan struct{}, error) {
	l := s.locks[maphash.String(s.seed, domain)%uint64(len(s.locks))]
	select {
	case l <- struct{}{}:
		return l, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("redisstore: %s %s: %w", op, domain, ctx.Err())
	}
}

func unlock(l chan struct{}) { <-l }

// fresh reports whether h may be served at clock reading c without a
// re-read.
func (s *Store) fresh(h *held, c int64) bool { return c < h.freshUntil.Load() }

// Get returns the entry for domain, from memory when it is fresh there (see
// Store), else from Redis. A domain that is not valid (cache.ValidDomain),
// absent, or whose value does not decode is a miss; a corrupt value is
// logged and left for the next Put to overwrite. Redis errors, including
// ctx's, are returned wrapped.
func (s *Store) Get(ctx context.Context, domain string) (*cache.Entry, error) {
	s.init()
	now := s.clock()
	if h, ok := s.lookupMem(domain, now); ok {
		if s.fresh(h, now) || !h.refreshing.CompareAndSwap(false, true) {
			return h.e, nil
		}
		defer h.refreshing.Store(false)
		return s.reread(ctx, domain, h, now)
	}
	if s.Client == nil {
		return nil, ErrNoClient
	}
	if !cache.ValidDomain(domain) {
		return nil, cache.ErrCacheMiss
	}
	l, err := s.lock(ctx, "get", domain)
	if err != nil {
		return nil, err
	}
	defer unlock(l)
	if h, ok := s.mem.Get(domain); ok && s.fresh(h, now) { // filled while we waited
		return h.e, nil
	}
	e, err := s.read(ctx, domain)
	if err != nil {
		return nil, err
	}
	s.mem.Add(domain, s.newHeld(e, now))
	return e, nil
}

// reread refreshes h from Redis once it is no longer fresh.
func (s *Store) reread(ctx context.Context, domain string, h *held, now int64) (*cache.Entry, error) {
	l, err := s.lock(ctx, "get", domain)
	if err != nil {
		return h.e, nil // the caller gave up; the next Get tries again
	}
	defer unlock(l)
	if cur, ok := s.mem.Peek(domain); ok && cur != h {
		return cur.e, nil // a Put or a cold Get replaced h while we waited
	} else if !ok {
		// Deleted or evicted while we waited: read it as a cold Get would.
		e, err := s.read(ctx, domain)
		if err != nil {
			return nil, err
		}
		s.mem.Add(domain, s.newHeld(e, now))
		return e, nil
	}
	e, err := s.read(ctx, domain)
	switch {
	case errors.Is(err, cache.ErrCacheMiss):
		s.mem.Remove(domain)
		return nil, err
	case err != nil && ctx.Err() != nil:
		return h.e, nil // the caller gave up; the next Get tries again
	case err != nil:
		s.logger().Warn("redisstore: cannot re-read entry; serving it from memory",
			"domain", domain, "local_ttl", s.localTTL(), "err", err)
		s.renew(h, now)
		return h.e, nil
	case sameFields(e, h.e):
		s.renew(h, now)
		return h.e, nil
	}
	s.mem.Add(domain, s.newHeld(e, now))
	return e, nil
}

func sameFields(a, b *cache.Entry) bool {
	return a.Domain == b.Domain && a.ID == b.ID && a.Policy == b.Policy &&
		a.Fetched.Equal(b.Fetched) && a.Expires.Equal(b.Expires)
}

// read fetches and decodes domain's value; corrupt values are a miss.
func (s *Store) read(ctx context.Context, domain string) (*cache.Entry, error) {
	data, err := s.Client.Get(ctx, s.key(domain)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, cache.ErrCacheMiss
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: get %s: %w", domain, err)
	}
	e, err := cache.UnmarshalEntry(data)
	if err == nil && e.Domain != domain {
		err = &cache.CorruptError{Version: data[0], Reason: "entry for " + e.Domain + " under the key of " + domain}
	}
	if err != nil {
		s.logger().Warn("redisstore: ignoring corrupt entry", "domain", domain, "key", s.key(domain), "err", err)
		return nil, cache.ErrCacheMiss
	}
	return e, nil
}

// Put writes e to Redis with an expiry at e.Expires (or deletes the key if
// e has already expired), then keeps e in memory. It fails with an error
// wrapping cache.ErrInvalidEntry if e does not pass Validate. After a failed
// Put, Redis holds the old entry, the new one or none, and the next Get
// reads Redis.
func (s *Store) Put(ctx context.Context, e *cache.Entry) error {
	s.init()
	data, err := cache.MarshalEntry(e)
	if err != nil {
		return err
	}
	if s.Client == nil {
		return ErrNoClient
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: put %s: %w", e.Domain, err)
	}
	l, err := s.lock(ctx, "put", e.Domain)
	if err != nil {
		return err
	}
	defer unlock(l)
	now := s.clock()
	ttl := e.Expires.Sub(s.at(now))
	s.mem.Remove(e.Domain)
	if ttl <= 0 {
		err = s.Client.Del(ctx, s.key(e.Domain)).Err()
	} else {
		// Redis expiries are whole milliseconds. Round up: a key that
		// dies up to 1 ms late is harmless, and 0 would mean no expiry.
		ttl = (min(ttl, maxTTL) + time.Millisecond - 1).Truncate(time.Millisecond)
		err = s.Client.Set(ctx, s.key(e.Domain), data, ttl).Err()
	}
	if err != nil {
		return fmt.Errorf("redisstore: put %s: %w", e.Domain, err)
	}
	if ttl > 0 {
		s.mem.Add(e.Domain, s.newHeld(e, now))
	}
	return nil
}

// Delete removes domain's entry from memory and from Redis. It is not an
// error when there is none, nor when domain is not valid. Other Stores on
// the same Redis see the deletion within their LocalTTL.
func (s *Store) Delete(ctx context.Context, domain string) error {
	s.init()
	s.mem.Remove(domain)
	if s.Client == nil {
		return ErrNoClient
	}
	if !cache.ValidDomain(domain) {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: delete %s: %w", domain, err)
	}
	l, err := s.lock(ctx, "delete", domain)
	if err != nil {
		return err
	}
	defer unlock(l)
	s.mem.Remove(domain)
	if err := s.Client.Del(ctx, s.key(domain)).Err(); err != nil {
		return fmt.Errorf("redisstore: delete %s: %w", domain, err)
	}
	return nil
}
