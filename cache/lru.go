package cache

import (
	"context"
	"sync"
	"time"
)

// DefaultLRUSize is the number of entries an LRU keeps when its Size is zero
// or negative. At about 1 KiB per entry for a typical policy (see the package
// documentation) that is on the order of 100 MiB at most.
const DefaultLRUSize = 100_000

// LRU is a Store that keeps entries in process memory, evicting the least
// recently used entry when it holds Size entries. (A Client of package
// mtasts with no Store needs none: it keeps policies in its own memory.)
//
// Get returns the very *Entry that was given to Put (no copy), so a memo set
// on it is seen by later Gets, and a hit does not allocate. LRU leaves
// expiry to the consumer: it returns an entry whatever its Expires, until
// the entry is replaced, deleted or evicted. It ignores ctx.
//
// The zero value is ready to use with DefaultLRUSize. An LRU must not be
// copied after first use.
type LRU struct {
	// Size is the maximum number of entries; zero or negative means
	// DefaultLRUSize. It is read once, at first use.
	Size int

	once sync.Once
	m    *entries
}

var _ GetterAt = (*LRU)(nil)

// NewLRU returns an LRU that holds at most size entries (DefaultLRUSize if
// size <= 0).
func NewLRU(size int) *LRU {
	l := &LRU{Size: size}
	l.entries()
	return l
}

func (l *LRU) entries() *entries {
	l.once.Do(func() { l.m = newEntries(l.Size) })
	return l.m
}

// Get returns the entry for domain or ErrCacheMiss.
func (l *LRU) Get(_ context.Context, domain string) (*Entry, error) {
	if e, ok := l.entries().Get(domain); ok {
		return e, nil
	}
	return nil, ErrCacheMiss
}

// GetAt is Get at now (GetterAt), a reading of the system clock: it also
// vouches for the entry it returns for a second (Entry.SetFreshUntil),
// until a Put replaces it, a Delete removes it or it is evicted.
func (l *LRU) GetAt(_ context.Context, domain string, now time.Time) (*Entry, error) {
	if e, ok := l.entries().GetAt(domain, Monotonic(now)); ok {
		return e, nil
	}
	return nil, ErrCacheMiss
}

// Put stores e, replacing any entry for e.Domain. It fails with an error
// wrapping ErrInvalidEntry if e does not pass Validate.
func (l *LRU) Put(_ context.Context, e *Entry) error {
	if err := e.Validate(); err != nil {
		return err
	}
	l.entries().Add(e.Domain, e, 0)
	return nil
}

// Delete removes the entry for domain, if any.
func (l *LRU) Delete(_ context.Context, domain string) error {
	l.entries().Remove(domain)
	return nil
}

// Len returns the number of entries held.
func (l *LRU) Len() int { return l.entries().Len() }
