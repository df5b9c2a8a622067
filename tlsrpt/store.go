package tlsrpt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"sync"
	"time"

	"github.com/strictmx/strictmx/internal/domain"
	"github.com/strictmx/strictmx/tlsrpt/internal/lease"
)

// Store keeps the counts of (policy domain, day) aggregates until they are
// reported, and the Scheduler's progress on each report.
//
// Implementations must be safe for concurrent use, including by several
// processes when they share the backing storage (tlsrpt/redisstore). Keys
// hold normalised policy domains. MemoryStore is here; the durable ones
// are tlsrpt/boltstore (one machine) and tlsrpt/redisstore (a fleet of
// senders). Package tlsrpttest has a conformance suite, RunStore.
type Store interface {
	// Add adds the counts of aggs, one batch identified by id, to what
	// is stored under their keys. It applies a batch at most once: an
	// Add with an id already applied (within BatchIDRetention) changes
	// nothing and returns nil. So a caller whose Add failed retries the
	// same batch with the same id, and each session is counted exactly
	// once whatever the failure was: an Add that the store applied
	// although the caller saw a timeout, a stall, a crash or a restart
	// of the store is not applied again. Ids must not be reused for
	// other counts, and Add does not modify aggs, so that a retry passes
	// the same batch.
	//
	// A batch is applied whole, with its id, or not at all; after an
	// error the caller cannot tell which, and retries. The exception is
	// an error wrapping ErrUnstorable: the store left out what it cannot
	// keep (an aggregate that fails CheckStorable, or the batch's counts
	// under a Key whose sum would overflow or whose stored counters are
	// damaged), stored the rest, and the error names what it left out;
	// the batch is applied and must not be retried. One domain's data can
	// thus never stop another's. An empty batch is a no-op; the zero id
	// gives ErrNoBatchID.
	Add(ctx context.Context, id BatchID, aggs []*Aggregate) error
	// Load returns the sum of everything added under k, in canonical
	// form, or nil and no error when nothing is.
	Load(ctx context.Context, k Key) (*Aggregate, error)
	// Keys returns an iterator over the keys with counts or state, in
	// any order: a Scheduler's pass over the Store. It yields at least
	// once every key that has counts or state from the start to the end
	// of the iteration (a key may come twice, as Redis's SSCAN gives
	// it); a key added or removed meanwhile may come or not. The
	// iteration's memory does not grow with the number of keys (a store
	// reads them in pages), and it holds no lock while it yields, so that
	// the loop may call the Store's other methods. An error, ctx's
	// included, is yielded once with the zero Key and ends the iteration.
	Keys(ctx context.Context) iter.Seq2[Key, error]
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

// BatchIDRetention is how long, at least, a Store remembers the id of a
// batch it applied: twice MaxBatchRetry, the longest a Flusher retries a
// batch, so that no retry reaches a store that has forgotten it.
const BatchIDRetention = 2 * MaxBatchRetry

// BatchID identifies one batch of counts given to Store.Add, so that a
// batch retried after an ambiguous failure is applied at most once. Make
// one per batch with NewBatchID; the zero BatchID is not an id.
type BatchID [16]byte

// NewBatchID returns a new random BatchID.
func NewBatchID() BatchID {
	var id BatchID
	rand.Read(id[:]) // never fails (crypto/rand)
	return id
}

// IsZero reports whether id is the zero BatchID.
func (id BatchID) IsZero() bool { return id == BatchID{} }

// String returns id in hexadecimal, 32 characters.
func (id BatchID) String() string { return hex.EncodeToString(id[:]) }

// CheckStorable reports whether a store can keep a: a is not nil, its
// Key's Domain is a normalised domain name (as Collector makes them), and
// no count is negative. The error wraps ErrUnstorable and names a's key.
// Store.Add leaves out the aggregates that fail it.
func CheckStorable(a *Aggregate) error {
	if a == nil {
		return fmt.Errorf("%w: nil aggregate", ErrUnstorable)
	}
	if d, err := domain.Normalize(a.Domain); err != nil || d != a.Domain {
		return fmt.Errorf("%w: %s/%.80q: not a normalised domain name", ErrUnstorable, a.Day, a.Domain)
	}
	for i := range a.Policies {
		p := &a.Policies[i]
		bad := p.Summary.TotalSuccessfulSessionCount < 0 || p.Summary.TotalFailureSessionCount < 0
		for _, d := range p.FailureDetails {
			bad = bad || d.FailedSessionCount < 0
		}
		if bad {
			return fmt.Errorf("%w: %s: negative session count", ErrUnstorable, a.Key)
		}
	}
	return nil
}

// overflowed reports whether a sum of non-negative counts (a, as
// CheckStorable admits them) wrapped around.
func overflowed(a *Aggregate) bool {
	for i := range a.Policies {
		p := &a.Policies[i]
		if p.Summary.TotalSuccessfulSessionCount < 0 || p.Summary.TotalFailureSessionCount < 0 {
			return true
		}
		for _, d := range p.FailureDetails {
			if d.FailedSessionCount < 0 {
				return true
			}
		}
	}
	return false
}

// MemoryStore is a Store in memory, for tests and short-lived programs.
// Its zero value is ready to use.
type MemoryStore struct {
	// Now is the clock for lock expiry and for forgetting applied batch
	// ids; nil means time.Now.
	Now func() time.Time

	mu      sync.Mutex
	keys    map[Key]*memoryEntry // one entry per key, for counts and state
	locks   lease.Table[Key]
	applied map[BatchID]bool
	order   []appliedBatch // applied ids, oldest first, for pruning
}

// memoryEntry is what a MemoryStore keeps under one key: in one map, so
// that a state costs its bytes and not another map entry.
type memoryEntry struct {
	counts *Aggregate // nil: none
	state  []byte     // nil: none
}

// entry returns k's entry, made if needed. The caller holds s.mu.
func (s *MemoryStore) entry(k Key) *memoryEntry {
	e := s.keys[k]
	if e == nil {
		if s.keys == nil {
			s.keys = map[Key]*memoryEntry{}
		}
		e = &memoryEntry{}
		s.keys[k] = e
	}
	return e
}

type appliedBatch struct {
	id BatchID
	at time.Time
}

func (s *MemoryStore) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Add implements Store.
func (s *MemoryStore) Add(ctx context.Context, id BatchID, aggs []*Aggregate) error {
	if id.IsZero() {
		return ErrNoBatchID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for len(s.order) > 0 && now.Sub(s.order[0].at) > BatchIDRetention {
		delete(s.applied, s.order[0].id)
		s.order = s.order[1:]
	}
	if s.applied[id] || len(aggs) == 0 {
		return nil
	}
	var errs []error
	batch := map[Key][]*Aggregate{}
	var keys []Key // in batch order
	for _, a := range aggs {
		if err := CheckStorable(a); err != nil {
			errs = append(errs, err)
			continue
		}
		if batch[a.Key] == nil {
			keys = append(keys, a.Key)
		}
		batch[a.Key] = append(batch[a.Key], a)
	}
	if s.applied == nil {
		s.applied = map[BatchID]bool{}
	}
	for _, k := range keys {
		var cur *Aggregate
		if e := s.keys[k]; e != nil {
			cur = e.counts
		}
		m, err := Merge(append([]*Aggregate{cur}, batch[k]...)...)
		if err != nil { // cannot happen: one Key
			errs = append(errs, fmt.Errorf("%w: %s: %w", ErrUnstorable, k, err))
			continue
		}
		if overflowed(m) {
			errs = append(errs, fmt.Errorf("%w: %s: a count would overflow", ErrUnstorable, k))
			continue
		}
		s.entry(k).counts = m
	}
	s.applied[id] = true
	s.order = append(s.order, appliedBatch{id, now})
	return errors.Join(errs...)
}

// Load implements Store.
func (s *MemoryStore) Load(ctx context.Context, k Key) (*Aggregate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.keys[k]; e != nil && e.counts != nil {
		return e.counts.Clone(), nil
	}
	return nil, nil
}

// Keys implements Store. It ranges over the store's map holding the lock
// only between yields: Go defines a range over a map that changes
// meanwhile (an entry removed before it is reached is not produced, one
// added may be or not), and the lock orders those changes with the
// range's steps, so a pass takes no memory of its own and yields each
// key once.
func (s *MemoryStore) Keys(ctx context.Context) iter.Seq2[Key, error] {
	return func(yield func(Key, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(Key{}, fmt.Errorf("tlsrpt: keys: %w", err))
			return
		}
		s.mu.Lock()
		n := 0
		for k := range s.keys {
			if n++; n%memoryKeysCheck == 0 && ctx.Err() != nil {
				s.mu.Unlock()
				yield(Key{}, fmt.Errorf("tlsrpt: keys: %w", ctx.Err()))
				return
			}
			s.mu.Unlock()
			more := yield(k, nil) // without the lock, also if yield panics
			s.mu.Lock()
			if !more {
				break
			}
		}
		s.mu.Unlock()
	}
}

// memoryKeysCheck is how many keys MemoryStore.Keys yields between looks
// at its ctx.
const memoryKeysCheck = 1024

// State implements Store.
func (s *MemoryStore) State(ctx context.Context, k Key) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.keys[k]; e != nil && e.state != nil {
		return append([]byte{}, e.state...), nil
	}
	return nil, nil
}

// SetState implements Store.
func (s *MemoryStore) SetState(ctx context.Context, k Key, state []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entry(k).state = append([]byte{}, state...)
	return nil
}

// Delete implements Store.
func (s *MemoryStore) Delete(ctx context.Context, k Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, k)
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
