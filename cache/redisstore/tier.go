package redisstore

import (
	"hash/maphash"
	"maps"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// tierShards is the number of shards of a memory tier's read index. A
// write copies one shard, about DefaultMemorySize/tierShards entries when
// the tier is full.
const tierShards = 1024

// tier is the memory tier: a golang-lru LRU of at most size entries, which
// decides evictions, with a read-mostly index in front of it, so that a
// Peek (every hit) takes no lock and writes no shared memory.
//
// Each index shard is a map that is never changed once published; a write
// publishes a changed copy of its shard. The maps are keyed by the
// domain's seeded hash, which also picks the shard, so a Peek hashes the
// name once; the LRU is keyed by domain, and a Peek checks the domain of
// what it finds, so that colliding hashes cost a miss, never a wrong
// entry. Every write to the LRU, and so to the index, is made under mu,
// and the LRU's eviction callback removes the evicted entry from the index
// before the write returns: the index holds only the LRU's entries (all of
// them unless two hashes collide), never more than size.
type tier struct {
	seed   maphash.Seed
	shards [tierShards]atomic.Pointer[map[uint64]*held]

	mu  sync.Mutex
	lru *simplelru.LRU[string, *held]
}

func newTier(size int) *tier {
	t := &tier{seed: maphash.MakeSeed()}
	var err error
	t.lru, err = simplelru.NewLRU(size, func(domain string, h *held) {
		h.e.SetFreshUntil(0) // no longer what a Get returns
		t.publish(domain, h, false)
	})
	if err != nil {
		panic("redisstore: golang-lru refused a positive size: " + err.Error())
	}
	return t
}

func (t *tier) hash(domain string) uint64 { return maphash.String(t.seed, domain) }

func (t *tier) shard(k uint64) *atomic.Pointer[map[uint64]*held] {
	return &t.shards[k%tierShards]
}

// Peek returns domain's entry without touching the recency order.
func (t *tier) Peek(domain string) (*held, bool) {
	k := t.hash(domain)
	if m := t.shard(k).Load(); m != nil {
		if h := (*m)[k]; h != nil && h.e.Domain == domain {
			return h, true
		}
	}
	return nil, false
}

// Get returns domain's entry and makes it the most recently used.
func (t *tier) Get(domain string) (*held, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lru.Get(domain)
}

// Promote makes h the most recently used and vouches for its entry until
// until (cache.Entry.SetFreshUntil), if h is still domain's entry.
// Vouching under mu, like the revocations, means that no entry the tier
// has dropped is vouched for again.
func (t *tier) Promote(domain string, h *held, until int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur, ok := t.lru.Peek(domain); ok && cur == h {
		t.lru.Get(domain)
		h.e.SetFreshUntil(until)
	}
}

// Add makes h, whose entry is domain's, domain's entry, the most recently
// used, vouched for until until, evicting the least recently used entry
// when the tier is full. The entry it replaces is no longer vouched for.
func (t *tier) Add(domain string, h *held, until int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.lru.Peek(domain); ok && old.e != h.e {
		old.e.SetFreshUntil(0) // replaced: Add calls no eviction callback
	}
	t.lru.Add(domain, h) // its eviction callback drops the evicted entry
	t.publish(domain, h, true)
	h.e.SetFreshUntil(until)
}

// Remove drops domain's entry, if any.
func (t *tier) Remove(domain string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lru.Remove(domain) // and its eviction callback, the index entry
}

// Len returns the number of entries in the LRU.
func (t *tier) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lru.Len()
}

// publish replaces domain's shard with a copy in which domain's hash maps
// to h (add), or, when it maps to h, to nothing (!add). A domain whose hash
// collides with another's displaces it from the index; the LRU keeps it,
// and its Peeks miss until it is added again. The caller holds mu.
func (t *tier) publish(domain string, h *held, add bool) {
	k := t.hash(domain)
	sh := t.shard(k)
	old := sh.Load()
	if !add && (old == nil || (*old)[k] != h) {
		return // not the entry the index holds
	}
	var m map[uint64]*held
	if old != nil {
		m = make(map[uint64]*held, len(*old)+1)
		maps.Copy(m, *old)
	} else {
		m = make(map[uint64]*held, 1)
	}
	if add {
		m[k] = h
	} else {
		delete(m, k)
		if len(m) == 0 {
			sh.Store(nil)
			return
		}
	}
	sh.Store(&m)
}
