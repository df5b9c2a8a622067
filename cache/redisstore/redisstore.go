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

	"github.com/redis/go-redis/v9"

	"github.com/strictmx/strictmx/cache"
	"github.com/strictmx/strictmx/internal/detach"
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

// tombstone is the value a Delete (or a Put of an expired entry) leaves
// at a domain's key, so that a missing key and a deleted entry differ: a
// store that holds an unexpired entry writes it back when Redis has lost
// the key (a restart without persistence, an eviction), and drops it when
// the key holds a tombstone. It is never a valid encoding (cache encodings
// begin with their version, EncodingVersion, which is not 0).
const tombstone = "\x00strictmx:deleted"

// tombstoneTTL is how long Redis keeps a tombstone: a year and a day,
// longer than an MTA-STS policy may be cached (max_age is at most 31557600
// seconds, RFC 8461, Section 3.2), so that no store still holds a deleted
// entry to write back when the tombstone goes.
const tombstoneTTL = 366 * 24 * time.Hour

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
// LocalTTL. A hit in the memory tier takes no lock and, with the
// caller's clock reading (GetAt), reads no clock: a read-only index in
// front of the LRU answers it, and the LRU order is updated at most once a
// second per entry. The tier vouches for the entries it holds
// (cache.Entry.SetFreshUntil) a second at a time, never past LocalTTL,
// renewed by the Gets it sees, and withdraws that when it replaces, drops
// or evicts an entry, so package mtasts answers most hits without calling
// the Store. While a re-read of a domain is in flight, or another call on
// its lock stripe, Gets of it are answered from memory; when the re-read
// fails for a reason other than the caller's context, the held entry is
// served for another LocalTTL and a warning logged.
//
// A Delete, and a Put of an entry that has already expired, leave a
// tombstone at the key (kept for a year and a day), so that a key Redis
// has lost (a restart without persistence, an eviction) is not taken for a
// deletion: a re-read that finds no key while the memory tier holds an
// unexpired entry writes the entry back (if the key is still absent) and
// serves it, and one that finds a tombstone drops it.
//
// Every call returns when its ctx ends, whatever the client's options
// (ContextTimeoutEnabled, read timeouts): a Redis round trip that has not
// finished goes on in the background, holding its domain's lock stripe
// until it ends (so that writes stay in order), and applies its outcome
// to the memory tier. Setting ContextTimeoutEnabled also frees those
// round trips when their ctx ends.
//
// The zero value is not usable: set Client. Other fields may stay zero. A
// Store must not be copied after first use. The Store does not close
// Client.
type Store struct {
	// Client talks to Redis: a *redis.Client, *redis.ClusterClient or
	// failover client. Required.
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
	// startMono is cache.Monotonic(start): clock reading c is
	// startMono+c on the scale of cache.Entry.SetFreshUntil.
	startMono int64
	mem       *tier
	seed      maphash.Seed
	// locks, striped by domain, order Redis writes and memory updates.
	// Each is a one-slot channel so a caller waiting for it can give up
	// when its ctx ends.
	locks [64]chan struct{}
}

var _ cache.GetterAt = (*Store)(nil)

// held is an entry in the memory tier.
type held struct {
	e *cache.Entry
	// expiresAt is the clock reading of e.Expires: from then on e is
	// never served, whatever else happens.
	expiresAt int64
	// freshUntil is the clock reading (see Store.clock) until which e may
	// be served without a re-read: the earlier of LocalTTL after it was
	// read or written, and e.Expires.
	freshUntil atomic.Int64
	refreshing atomic.Bool  // a re-read is in flight
	promoted   atomic.Int64 // clock reading of the last LRU promotion
}

// promoteEvery bounds how often a hit updates the memory tier's LRU order.
// An update takes the tier's lock; doing it at most once a second per
// entry keeps hits from writing shared memory, so they scale with cores,
// and the order stays right to within a second.
const promoteEvery = int64(time.Second)

// lookupMem finds domain in the memory tier, promoting it in the LRU order
// at most once per promoteEvery.
func (s *Store) lookupMem(domain string, now int64) (*held, bool) {
	h, ok := s.mem.Peek(domain)
	if !ok {
		return nil, false
	}
	if last := h.promoted.Load(); now-last >= promoteEvery && h.promoted.CompareAndSwap(last, now) {
		s.mem.Promote(domain, h, s.vouchUntil(h, now))
	}
	return h, true
}

// hold makes e, read or written at clock reading c, domain's entry in the
// memory tier, fresh for LocalTTL.
func (s *Store) hold(domain string, e *cache.Entry, c int64) {
	h := &held{e: e, expiresAt: addSat(c, int64(e.Expires.Sub(s.at(c))))}
	h.freshUntil.Store(s.freshFrom(h, c))
	s.mem.Add(domain, h, s.vouchUntil(h, c))
}

// freshFrom is when h, renewed at clock reading c, stops being fresh:
// LocalTTL later, or at its expiry if that is sooner.
func (s *Store) freshFrom(h *held, c int64) int64 {
	return min(addSat(c, int64(s.localTTL())), h.expiresAt)
}

// renew makes h, domain's entry, fresh for LocalTTL from clock reading c.
func (s *Store) renew(domain string, h *held, c int64) {
	h.freshUntil.Store(s.freshFrom(h, c))
	s.mem.Promote(domain, h, s.vouchUntil(h, c))
}

// vouchFor is how long the Store vouches for a held entry at a time
// (cache.Entry.SetFreshUntil): a consumer that skips its Gets leaves the
// LRU order as it was, so a Get at least once a second keeps it right to
// within a second, as promoteEvery does.
const vouchFor = promoteEvery

// vouchUntil returns when the Store's vouching for h (see
// cache.Entry.SetFreshUntil), renewed at clock reading c, ends, as a
// cache.Monotonic reading: vouchFor later, or when h stops being fresh if
// that is sooner; 0, no vouching, when the Store's clock is not the
// system's.
func (s *Store) vouchUntil(h *held, c int64) int64 {
	if s.Now != nil {
		return 0
	}
	return s.startMono + min(h.freshUntil.Load(), addSat(c, int64(vouchFor)))
}

// serve returns h's entry unless it has expired at clock reading c: the
// memory tier keeps serving while Redis is slow or down, never past an
// entry's Expires.
func (s *Store) serve(domain string, h *held, c int64) (*cache.Entry, error) {
	if c >= h.expiresAt {
		s.mem.Remove(domain)
		return nil, cache.ErrCacheMiss
	}
	return h.e, nil
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
		s.mem = newTier(size)
		s.seed = maphash.MakeSeed()
		s.start = s.now()
		s.startMono = cache.Monotonic(s.start)
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
	l := s.stripe(domain)
	select {
	case l <- struct{}{}:
		return l, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("redisstore: %s %s: %w", op, domain, ctx.Err())
	}
}

// stripe returns domain's lock.
func (s *Store) stripe(domain string) chan struct{} {
	return s.locks[maphash.String(s.seed, domain)%uint64(len(s.locks))]
}

func unlock(l chan struct{}) { <-l }

// call runs f, which talks to Redis, holding the domain lock l, which it
// releases when f returns. It returns f's result, or an error wrapping
// ctx's as soon as ctx ends: f then finishes in the background, so at most
// one call per lock stripe outlives its caller, and the round trips and
// memory-tier updates of a domain stay in order.
func call[T any](ctx context.Context, l chan struct{}, op, domain string, f func() (T, error)) (T, error) {
	v, err, finished := detach.Call(ctx, func() { unlock(l) }, f)
	if !finished {
		err = fmt.Errorf("redisstore: %s %s: %w", op, domain, err)
	}
	return v, err
}

// fresh reports whether h may be served at clock reading c without a
// re-read.
func (s *Store) fresh(h *held, c int64) bool { return c < h.freshUntil.Load() }

// Get returns the entry for domain, from memory when it is fresh there (see
// Store), else from Redis. A domain that is not valid (cache.ValidDomain),
// absent, deleted, or whose value does not decode is a miss; a corrupt
// value is logged and left for the next Put to overwrite. Redis errors,
// including ctx's, are returned wrapped.
func (s *Store) Get(ctx context.Context, domain string) (*cache.Entry, error) {
	s.init()
	return s.get(ctx, domain, s.clock())
}

// GetAt is Get at now, a reading of the system clock that the caller has
// just taken (cache.GetterAt): a hit in the memory tier then reads no
// clock. With Now set, the Store reads Now instead.
func (s *Store) GetAt(ctx context.Context, domain string, now time.Time) (*cache.Entry, error) {
	s.init()
	if s.Now != nil {
		return s.get(ctx, domain, s.clock())
	}
	return s.get(ctx, domain, int64(now.Sub(s.start)))
}

func (s *Store) get(ctx context.Context, domain string, now int64) (*cache.Entry, error) {
	if h, ok := s.lookupMem(domain, now); ok && now < h.expiresAt {
		if s.fresh(h, now) || !h.refreshing.CompareAndSwap(false, true) {
			return h.e, nil
		}
		return s.reread(ctx, domain, h, now)
	} else if ok {
		s.mem.Remove(domain) // expired: never served, read as a cold Get
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
	if h, ok := s.mem.Get(domain); ok && s.fresh(h, now) { // filled while we waited
		unlock(l)
		return h.e, nil
	}
	return call(ctx, l, "get", domain, func() (*cache.Entry, error) { return s.readCold(ctx, domain, now) })
}

// readCold reads domain from Redis into the memory tier. The caller holds
// domain's lock.
func (s *Store) readCold(ctx context.Context, domain string, now int64) (*cache.Entry, error) {
	e, what, err := s.read(ctx, domain)
	if err != nil {
		return nil, err
	}
	if what != foundEntry {
		return nil, cache.ErrCacheMiss
	}
	s.hold(domain, e, now)
	return e, nil
}

// reread refreshes h from Redis once it is no longer fresh; the caller
// has set h.refreshing, and whoever finishes the re-read clears it. It
// serves h.e rather than wait: for the lock stripe, when another call
// holds it, and for Redis, once ctx ends.
func (s *Store) reread(ctx context.Context, domain string, h *held, now int64) (*cache.Entry, error) {
	if s.Client == nil {
		h.refreshing.Store(false)
		return s.serve(domain, h, now)
	}
	l := s.stripe(domain)
	select {
	case l <- struct{}{}:
	default:
		h.refreshing.Store(false)
		return s.serve(domain, h, now) // a later Get re-reads
	}
	e, err := call(ctx, l, "get", domain, func() (*cache.Entry, error) {
		defer h.refreshing.Store(false)
		return s.refresh(ctx, domain, h, now)
	})
	if err != nil && ctx.Err() != nil {
		return s.serve(domain, h, now) // the caller gave up; the re-read goes on
	}
	return e, err
}

// refresh is reread's work, under domain's lock.
func (s *Store) refresh(ctx context.Context, domain string, h *held, now int64) (*cache.Entry, error) {
	if cur, ok := s.mem.Peek(domain); ok && cur != h {
		return cur.e, nil // a Put or a cold Get replaced h while we waited
	} else if !ok {
		// Deleted or evicted while we waited: read it as a cold Get would.
		return s.readCold(ctx, domain, now)
	}
	e, what, err := s.read(ctx, domain)
	switch {
	case err != nil && ctx.Err() != nil:
		return s.serve(domain, h, now) // the caller gave up; the next Get tries again
	case err != nil:
		s.logger().Warn("redisstore: cannot re-read entry; serving it from memory",
			"domain", domain, "local_ttl", s.localTTL(), "err", err)
		s.renew(domain, h, now)
		return s.serve(domain, h, now)
	case what == foundNothing && h.e.Expires.After(s.at(now)):
		return s.restore(ctx, domain, h, now)
	case what != foundEntry:
		s.mem.Remove(domain)
		return nil, cache.ErrCacheMiss
	case sameFields(e, h.e):
		s.renew(domain, h, now)
		return s.serve(domain, h, now)
	}
	s.hold(domain, e, now)
	return e, nil
}

// restore writes h's unexpired entry back to Redis, which has lost the key
// (no Delete: that leaves a tombstone), unless another sender wrote the
// key meanwhile, and serves it. Under domain's lock.
//
// Spec note: when a policy fetch fails, RFC 8461, Section 3.3 lets a
// sender go on with "a valid (non-expired) previously cached policy"; a
// cache that forgets an entry before it expires leaves the next delivery
// to a fetch that an attacker can block. So a Redis that comes back empty
// is refilled from the senders' memory tiers rather than trusted.
func (s *Store) restore(ctx context.Context, domain string, h *held, now int64) (*cache.Entry, error) {
	data, err := cache.MarshalEntry(h.e)
	if err != nil { // cannot happen: the entry was stored or read
		s.mem.Remove(domain)
		return nil, cache.ErrCacheMiss
	}
	ok, err := s.Client.SetNX(ctx, s.key(domain), data, redisTTL(h.e.Expires.Sub(s.at(now)))).Result()
	switch {
	case err != nil && ctx.Err() != nil:
		return s.serve(domain, h, now)
	case err != nil:
		s.logger().Warn("redisstore: cannot write back an entry Redis lost; serving it from memory",
			"domain", domain, "local_ttl", s.localTTL(), "err", err)
	case ok:
		s.logger().Debug("redisstore: wrote back an entry Redis lost", "domain", domain)
	default: // another sender wrote the key after our read: take what it wrote
		e, what, err := s.read(ctx, domain)
		switch {
		case err != nil:
			s.renew(domain, h, now)
			return s.serve(domain, h, now)
		case what == foundEntry && !sameFields(e, h.e):
			s.hold(domain, e, now)
			return e, nil
		case what == foundTombstone || what == foundCorrupt:
			s.mem.Remove(domain)
			return nil, cache.ErrCacheMiss
		}
	}
	s.renew(domain, h, now)
	return s.serve(domain, h, now)
}

func sameFields(a, b *cache.Entry) bool {
	return a.Domain == b.Domain && a.ID == b.ID && a.Policy == b.Policy &&
		a.Fetched.Equal(b.Fetched) && a.Expires.Equal(b.Expires)
}

// What read found at a domain's key.
const (
	foundEntry     = iota
	foundNothing   // no key: never stored, expired, or lost by Redis
	foundTombstone // deleted through a Store
	foundCorrupt   // not an entry for the domain (logged)
)

// read fetches and decodes domain's value.
func (s *Store) read(ctx context.Context, domain string) (*cache.Entry, int, error) {
	data, err := s.Client.Get(ctx, s.key(domain)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, foundNothing, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("redisstore: get %s: %w", domain, err)
	}
	if string(data) == tombstone {
		return nil, foundTombstone, nil
	}
	e, err := cache.UnmarshalEntry(data)
	if err == nil && e.Domain != domain {
		err = &cache.CorruptError{Version: data[0], Reason: "entry for " + e.Domain + " under the key of " + domain}
	}
	if err != nil {
		s.logger().Warn("redisstore: ignoring corrupt entry", "domain", domain, "key", s.key(domain), "err", err)
		return nil, foundCorrupt, nil
	}
	return e, foundEntry, nil
}

// redisTTL is the Redis expiry for an entry that expires in ttl (> 0):
// whole milliseconds, rounded up (a key that dies up to 1 ms late is
// harmless, and 0 would mean no expiry), at most maxTTL.
func redisTTL(ttl time.Duration) time.Duration {
	return (min(ttl, maxTTL) + time.Millisecond - 1).Truncate(time.Millisecond)
}

// Put writes e to Redis with an expiry at e.Expires (or, if e has already
// expired, a tombstone as Delete does), then keeps e in memory. It fails
// with an error wrapping cache.ErrInvalidEntry if e does not pass
// Validate. After a failed Put, Redis holds the old entry, the new one or
// none, and so, once the write has ended, does the memory tier.
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
	now := s.clock()
	ttl := e.Expires.Sub(s.at(now))
	s.mem.Remove(e.Domain)
	_, err = call(ctx, l, "put", e.Domain, func() (struct{}, error) {
		var err error
		if ttl <= 0 {
			err = s.Client.Set(ctx, s.key(e.Domain), tombstone, tombstoneTTL).Err()
		} else {
			err = s.Client.Set(ctx, s.key(e.Domain), data, redisTTL(ttl)).Err()
		}
		if err != nil {
			return struct{}{}, fmt.Errorf("redisstore: put %s: %w", e.Domain, err)
		}
		if ttl > 0 {
			s.hold(e.Domain, e, now)
		}
		return struct{}{}, nil
	})
	return err
}

// Delete removes domain's entry from memory and from Redis, where it
// leaves a tombstone. It is not an error when there is none, nor when
// domain is not valid. Other Stores on the same Redis see the deletion
// within their LocalTTL.
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
	s.mem.Remove(domain)
	_, err = call(ctx, l, "delete", domain, func() (struct{}, error) {
		if err := s.Client.Set(ctx, s.key(domain), tombstone, tombstoneTTL).Err(); err != nil {
			return struct{}{}, fmt.Errorf("redisstore: delete %s: %w", domain, err)
		}
		return struct{}{}, nil
	})
	return err
}
