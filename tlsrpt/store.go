package tlsrpt

import (
	"context"
	"sync"
	"time"

	"github.com/strictmx/strictmx/tlsrpt/internal/lease"
)

// Store keeps the counts of (policy domain, day) aggregates until they are
// reported, and the Scheduler's progress on each report.
//
// Implementations must be safe for concurrent use, including by several
// processes when they share the backing storage (RedisStore). Keys hold
// normalised policy domains. This package has three: MemoryStore,
// BoltStore (one machine, durable) and RedisStore (a fleet of senders).
// Package tlsrpttest has a conformance suite, RunStore.
type Store interface {
	// Add adds the counts of aggs to what is stored under their keys.
	// The whole batch is applied or, on error, nothing of it (so a
	// retried Add does not count twice).
	Add(ctx context.Context, aggs []*Aggregate) error
	// Load returns the sum of everything added under k, in canonical
	// form, or nil and no error when nothing is.
	Load(ctx context.Context, k Key) (*Aggregate, error)
	// Keys lists, in any order, the keys with counts or state.
	Keys(ctx context.Context) ([]Key, error)
	// State returns the state last set for k, or nil and no error.
	State(ctx context.Context, k Key) ([]byte, error)
	// SetState replaces k's state, opaque bytes owned by the Scheduler.
	SetState(ctx context.Context, k Key, state []byte) error
	// Delete removes k's counts and state.
	Delete(ctx context.Context, k Key) error
	// Lock takes the lock on sending k's report for owner, for at most
	// ttl. It reports false when another owner holds an unexpired lock;
	// owner may take its own lock again (and so extend it).
	Lock(ctx context.Context, k Key, owner string, ttl time.Duration) (bool, error)
	// Unlock releases owner's lock on k; it is not an error when owner
	// does not hold it.
	Unlock(ctx context.Context, k Key, owner string) error
}

// MemoryStore is a Store in memory, for tests and short-lived programs.
// Its zero value is ready to use.
type MemoryStore struct {
	// Now is the clock for lock expiry; nil means time.Now.
	Now func() time.Time

	mu     sync.Mutex
	counts map[Key]*Aggregate
	states map[Key][]byte
	locks  lease.Table[Key]
}

func (s *MemoryStore) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Add implements Store.
func (s *MemoryStore) Add(ctx context.Context, aggs []*Aggregate) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counts == nil {
		s.counts = map[Key]*Aggregate{}
	}
	sums := map[Key]*Aggregate{}
	for _, a := range aggs {
		prev := sums[a.Key]
		if prev == nil {
			prev = s.counts[a.Key]
		}
		m, err := Merge(prev, a)
		if err != nil {
			return err
		}
		sums[a.Key] = m
	}
	for k, a := range sums {
		s.counts[k] = a
	}
	return nil
}

// Load implements Store.
func (s *MemoryStore) Load(ctx context.Context, k Key) (*Aggregate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.counts[k]; a != nil {
		return a.Clone(), nil
	}
	return nil, nil
}

// Keys implements Store.
func (s *MemoryStore) Keys(ctx context.Context) ([]Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Key
	for k := range s.counts {
		out = append(out, k)
	}
	for k := range s.states {
		if s.counts[k] == nil {
			out = append(out, k)
		}
	}
	return out, nil
}

// State implements Store.
func (s *MemoryStore) State(ctx context.Context, k Key) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.states[k]; ok {
		return append([]byte{}, b...), nil
	}
	return nil, nil
}

// SetState implements Store.
func (s *MemoryStore) SetState(ctx context.Context, k Key, state []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.states == nil {
		s.states = map[Key][]byte{}
	}
	s.states[k] = append([]byte{}, state...)
	return nil
}

// Delete implements Store.
func (s *MemoryStore) Delete(ctx context.Context, k Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.counts, k)
	delete(s.states, k)
	return nil
}

// Lock implements Store.
func (s *MemoryStore) Lock(ctx context.Context, k Key, owner string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.locks.Take(k, owner, ttl, s.now()), nil
}

// Unlock implements Store.
func (s *MemoryStore) Unlock(ctx context.Context, k Key, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.locks.Release(k, owner)
	return nil
}
