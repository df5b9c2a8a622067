package cache

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// vouchFor is how long LRU and Dir's memory tier vouch for an entry at a
// time (Entry.SetFreshUntil), from the time a GetAt gives: a consumer
// that skips its Gets leaves the recency order as it was, so a GetAt at
// least once a second keeps it right to within a second.
const vouchFor = int64(time.Second)

// entries is the memory of LRU and of Dir's tier: golang-lru's simplelru
// of entries by domain under one lock, vouching for the entries it holds
// when GetAt tells the time (Entry.SetFreshUntil) and withdrawing that
// when an entry is replaced, removed or evicted. Vouching and withdrawing
// both happen under mu, so an entry dropped is never vouched for again.
type entries struct {
	mu  sync.Mutex
	lru *simplelru.LRU[string, *Entry]
}

// newEntries returns an entries of size (DefaultLRUSize if size <= 0).
func newEntries(size int) *entries {
	if size <= 0 {
		size = DefaultLRUSize
	}
	m := &entries{}
	var err error
	m.lru, err = simplelru.NewLRU(size, func(_ string, e *Entry) { e.SetFreshUntil(0) })
	if err != nil {
		panic("cache: golang-lru refused a positive size: " + err.Error())
	}
	return m
}

// Get returns domain's entry, making it the most recently used.
func (m *entries) Get(domain string) (*Entry, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lru.Get(domain)
}

// GetAt is Get at now (a Monotonic reading), vouching for the entry for
// vouchFor.
func (m *entries) GetAt(domain string, now int64) (*Entry, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.lru.Get(domain)
	if ok {
		e.SetFreshUntil(now + vouchFor)
	}
	return e, ok
}

// Peek returns domain's entry without changing the recency order.
func (m *entries) Peek(domain string) (*Entry, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lru.Peek(domain)
}

// Add makes e domain's entry, the most recently used, evicting the least
// recently used beyond the size, and vouches for it for vouchFor from now
// (a Monotonic reading) unless now is 0; the entry it replaces is no
// longer vouched for.
func (m *entries) Add(domain string, e *Entry, now int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.lru.Peek(domain); ok && old != e {
		old.SetFreshUntil(0) // replaced: Add calls no eviction callback
	}
	m.lru.Add(domain, e)
	if now != 0 {
		e.SetFreshUntil(now + vouchFor)
	}
}

// Remove drops domain's entry, if any.
func (m *entries) Remove(domain string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lru.Remove(domain) // the eviction callback withdraws it
}

// Len returns the number of entries held.
func (m *entries) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lru.Len()
}
