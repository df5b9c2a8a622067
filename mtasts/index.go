package mtasts

import (
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// indexShards is the number of shards of an index. A write rebuilds one
// shard, about DefaultCacheSize/indexShards members when the index is
// full.
const indexShards = 1024

// index is a bounded table of the Client's, by domain: the states of the
// domains it holds (*state), and, with a Store, the entries the Store
// vouches for (*vouched). It holds at most size members, the least
// recently used evicted first.
//
// Reads take no lock. Each shard is a table that is never changed once
// published; a write, under mu, publishes a rebuilt table for its shard.
// Members are keyed by the domain's seeded hash, which picks the shard, the
// bucket in the shard's table and a one-byte tag, so a read hashes the name
// once and compares the domain of a member only when its tag matches. A
// domain whose hash collides with a held one's replaces it, as an eviction
// would. Recency and eviction are golang-lru's (simplelru, keyed by the
// same hash), changed only under mu together with the tables: a member is
// in its shard's table exactly when its hash is in the LRU, whose eviction
// callback takes it out of the table, so an evicted member is gone from
// the shards by the time add returns, and the LRU never holds more than
// size.
//
// The tables hold a pointer and a tag byte per member, and an offset per
// four members: about 10 bytes a member, where a map would take 25.
type index[M member] struct {
	seed maphash.Seed
	// mask is applied to every hash; tests narrow it to make hashes
	// collide.
	mask   uint64
	shards [indexShards]atomic.Pointer[table[M]]

	mu  sync.Mutex
	lru *simplelru.LRU[uint64, struct{}] // guarded by mu
}

// table is one shard of an index: its members grouped by bucket, and in
// meta the bounds of the buckets in states followed by the members'
// tags, four to a word. Bucket b is states[meta[b]:meta[b+1]]; a table of
// n members has (n+3)/4 buckets.
type table[M member] struct {
	states []M
	meta   []uint32
}

// member is what an index holds: a pointer to something kept for the
// domain key returns, which promote says when to make the most recently
// used.
type member interface {
	comparable
	key() string
	promote(now int64) bool
}

// statesPerBucket is the mean length of a bucket, the scan a read does.
const statesPerBucket = 4

func (t *table[M]) buckets() int { return (len(t.states) + statesPerBucket - 1) / statesPerBucket }

// span returns where h's bucket is in t.states, and where the tags start
// in t.meta.
func (t *table[M]) span(h uint64) (lo, hi, tags uint32) {
	nb := t.buckets()
	b := bucketOf(h, nb)
	return t.meta[b], t.meta[b+1], uint32(nb + 1)
}

// tag returns the tag of t.states[i], the tags starting at t.meta[tags].
func (t *table[M]) tag(tags, i uint32) uint8 {
	return uint8(t.meta[tags+i/4] >> (i % 4 * 8))
}

// bucketOf returns h's bucket among n: the high 32 bits of h scaled to n
// (the shard is h's low bits, the tag bits 16 to 23).
func bucketOf(h uint64, n int) int { return int((h >> 32) * uint64(n) >> 32) }

func tagOf(h uint64) uint8 { return uint8(h >> 16) }

func newIndex[M member](size int) *index[M] {
	x := &index[M]{seed: maphash.MakeSeed(), mask: ^uint64(0)}
	// NewLRU fails only for a size below 1.
	x.lru, _ = simplelru.NewLRU(max(size, 1), func(h uint64, _ struct{}) {
		var zero M
		x.rebuild(h, zero, false) // under mu: every LRU call is
	})
	return x
}

func (x *index[M]) hash(d string) uint64 { return maphash.String(x.seed, d) & x.mask }

func (x *index[M]) shard(h uint64) *atomic.Pointer[table[M]] {
	return &x.shards[h%indexShards]
}

// get returns the member held for d, or the zero M.
func (x *index[M]) get(d string) (m M) {
	h := x.hash(d)
	t := x.shard(h).Load()
	if t == nil {
		return m
	}
	lo, hi, tags := t.span(h)
	for i, tag := lo, tagOf(h); i < hi; i++ {
		if t.tag(tags, i) == tag && t.states[i].key() == d {
			return t.states[i]
		}
	}
	return m
}

// slot returns the member held under hash h, whatever its domain, or the
// zero M. The caller holds mu.
func (x *index[M]) slot(h uint64) (m M) {
	t := x.shard(h).Load()
	if t == nil {
		return m
	}
	lo, hi, tags := t.span(h)
	for i, tag := lo, tagOf(h); i < hi; i++ {
		if t.tag(tags, i) == tag && x.hash(t.states[i].key()) == h {
			return t.states[i]
		}
	}
	return m
}

// touch records a hit on m at now (Unix nanoseconds), making it the most
// recently used if it is held and was not yet promoted in now's period
// (see state.promote).
func (x *index[M]) touch(m M, now int64) {
	if m.promote(now) {
		x.bump(m)
	}
}

// bump makes m the most recently used if it is held: touch after m's
// promote said so.
func (x *index[M]) bump(m M) {
	h := x.hash(m.key())
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.slot(h) == m {
		x.lru.Get(h) // moves it to the front
	}
}

// add makes m the member held for its domain, the most recently used,
// evicting the least recently used beyond size.
func (x *index[M]) add(m M) {
	h := x.hash(m.key())
	x.mu.Lock()
	defer x.mu.Unlock()
	// m's domain, or one whose hash collides, is replaced; Add evicts
	// the oldest beyond size.
	if x.slot(h) != m {
		x.rebuild(h, m, true)
	}
	x.lru.Add(h, struct{}{})
}

// remove drops the member held for d, if it is only or only is the zero
// M.
func (x *index[M]) remove(d string, only M) {
	var zero M
	x.mu.Lock()
	defer x.mu.Unlock()
	cur := x.get(d)
	if cur == zero || only != zero && cur != only {
		return
	}
	x.lru.Remove(x.hash(d)) // the callback takes it out of its table
}

// held returns how many members the index holds.
func (x *index[M]) held() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.lru.Len()
}

// members returns the held members, most recently used first.
func (x *index[M]) members() []M {
	x.mu.Lock()
	defer x.mu.Unlock()
	keys := x.lru.Keys() // oldest first
	list := make([]M, 0, len(keys))
	for _, h := range slices.Backward(keys) {
		list = append(list, x.slot(h))
	}
	return list
}

// rebuild publishes a new table for h's shard in which the member held
// under h, if any, is replaced by m (add), or dropped (!add). The caller
// holds mu.
func (x *index[M]) rebuild(h uint64, m M, add bool) {
	sh := x.shard(h)
	old := sh.Load()
	n := 0
	if old != nil {
		n = len(old.states)
	}
	keep := make([]M, 0, n+1)
	hashes := make([]uint64, 0, n+1)
	if old != nil {
		for _, o := range old.states {
			if oh := x.hash(o.key()); oh != h {
				keep = append(keep, o)
				hashes = append(hashes, oh)
			}
		}
	}
	if add {
		keep = append(keep, m)
		hashes = append(hashes, h)
	}
	if len(keep) == 0 {
		sh.Store(nil)
		return
	}
	// A counting sort by bucket, into arrays sized exactly.
	n = len(keep)
	t := &table[M]{states: make([]M, n)}
	nb := t.buckets()
	t.meta = make([]uint32, nb+1+(n+3)/4)
	for _, kh := range hashes {
		t.meta[bucketOf(kh, nb)+1]++
	}
	for b := range nb {
		t.meta[b+1] += t.meta[b] // bucket b+1 starts where b ends
	}
	next := slices.Clone(t.meta[:nb]) // where each bucket is filled to
	tags := uint32(nb + 1)
	for i, kh := range hashes {
		b := bucketOf(kh, nb)
		j := next[b]
		next[b]++
		t.states[j] = keep[i]
		t.meta[tags+j/4] |= uint32(tagOf(kh)) << (j % 4 * 8)
	}
	sh.Store(t)
}
