package boltstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"sync"
	"time"

	"github.com/strictmx/strictmx/tlsrpt"
	"github.com/strictmx/strictmx/tlsrpt/internal/counters"
	"github.com/strictmx/strictmx/tlsrpt/internal/lease"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Store is a durable tlsrpt.Store in one bbolt file, for a single machine.
//
// Every Add is one bbolt transaction, committed with fsync, that also
// records the batch's id: counts survive a restart or a kill -9 up to the
// last Add that returned, a crash during an Add loses that batch whole,
// never half of it, and a batch retried with the same id is applied once.
// Batch Adds with a Flusher (its Interval is the flush interval). Locks are
// in-process: one Store file serves one process (bbolt itself refuses a
// second opener).
//
// When the file system is full, or fails writes, Add returns the error
// and the file keeps what earlier Adds stored. A file system that is
// read-only shows at Open, which fails: Linux does not make a file system
// read-only while a file on it is open for writing.
type Store struct {
	// Now is the clock for lock expiry and for forgetting applied batch
	// ids; nil means time.Now.
	Now func() time.Time

	db    *bolt.DB
	mu    sync.Mutex
	locks lease.Table[tlsrpt.Key]
}

// The file's buckets. Counters are keyed by the SHA-256 of their name
// (package counters), with the name kept in the value, so that no name,
// however long its policy (a 64 KiB MTA-STS policy is valid), exceeds
// bbolt's key size limit.
var (
	boltCounts   = []byte("counts")   // bucket of buckets: keyName -> sha256(counter name) -> count (8 bytes) + name
	boltStates   = []byte("states")   // keyName -> state
	boltBatches  = []byte("batches")  // batch id -> when applied (8 bytes, Unix ns)
	boltBatchAge = []byte("batchage") // when applied (8 bytes) + batch id -> nothing, oldest first
)

// A counter's value is its count, big-endian, then its name. Files written
// before counters were keyed by hash have the name as key and the count
// alone as value; Load reads both, so such a file needs no migration.
const countLen = 8

// maxPrune bounds how many forgotten batch ids one Add removes, so that
// the first Add after a long pause stays small.
const maxPrune = 1024

// boltOpenTimeout bounds the wait for another process's file lock.
const boltOpenTimeout = 5 * time.Second

// Open opens (creating if needed) the bbolt file at path.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: boltOpenTimeout})
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{boltCounts, boltStates, boltBatches, boltBatchAge} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: init %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the file. Later calls fail with ErrStoreClosed.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Store) wrap(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("%w: %w", tlsrpt.ErrStoreClosed, err)
	}
	return fmt.Errorf("boltstore: bolt: %w", err)
}

// Add implements Store: one transaction for the whole batch and its id.
// An aggregate the store cannot keep is left out of it (see tlsrpt.Store).
func (s *Store) Add(ctx context.Context, id tlsrpt.BatchID, aggs []*tlsrpt.Aggregate) error {
	if id.IsZero() {
		return tlsrpt.ErrNoBatchID
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(aggs) == 0 {
		return nil
	}
	var bad []error
	byKey := map[tlsrpt.Key][]*tlsrpt.Aggregate{}
	var keys []tlsrpt.Key // in batch order
	for _, a := range aggs {
		if err := tlsrpt.CheckStorable(a); err != nil {
			bad = append(bad, err)
			continue
		}
		if byKey[a.Key] == nil {
			keys = append(keys, a.Key)
		}
		byKey[a.Key] = append(byKey[a.Key], a)
	}
	now := s.now()
	var left []error // what the transaction left out
	err := s.db.Update(func(tx *bolt.Tx) error {
		left = nil
		if err := prune(tx, now); err != nil {
			return err
		}
		batches := tx.Bucket(boltBatches)
		if batches.Get(id[:]) != nil {
			bad = nil // applied before, with its errors
			return nil
		}
		root := tx.Bucket(boltCounts)
		for _, k := range keys {
			m, err := tlsrpt.Merge(byKey[k]...)
			if err == nil {
				err = addCounters(root, m)
			}
			if errors.Is(err, tlsrpt.ErrUnstorable) {
				left = append(left, err)
				continue
			}
			if err != nil {
				return err
			}
		}
		var at [countLen]byte
		binary.BigEndian.PutUint64(at[:], uint64(now.UnixNano()))
		if err := batches.Put(id[:], at[:]); err != nil {
			return err
		}
		return tx.Bucket(boltBatchAge).Put(append(at[:], id[:]...), nil)
	})
	if err != nil {
		return s.wrap(err)
	}
	return errors.Join(append(bad, left...)...)
}

// addCounters adds m's counters under its key, all or, with an error
// wrapping ErrUnstorable, none of them.
func addCounters(root *bolt.Bucket, m *tlsrpt.Aggregate) error {
	cs := counters.Encode(m)
	if len(cs) == 0 {
		return nil
	}
	name := []byte(counters.KeyName(m.Key))
	b := root.Bucket(name)
	type put struct{ k, v []byte }
	puts := make([]put, 0, len(cs))
	for _, c := range cs {
		h := sha256.Sum256([]byte(c.Name))
		var cur int64
		if b != nil {
			if v := b.Get(h[:]); v != nil {
				n, stored, err := decodeCounter(h[:], v)
				if err == nil && stored != c.Name {
					err = fmt.Errorf("%w: two counter names with one hash", tlsrpt.ErrCorruptStore)
				}
				if err != nil {
					return fmt.Errorf("%w: %s: %w", tlsrpt.ErrUnstorable, m.Key, err)
				}
				cur = n
			}
		}
		sum := cur + c.N
		if sum < 0 { // counts are >= 0 (CheckStorable): wrapped around
			return fmt.Errorf("%w: %s: a count would overflow", tlsrpt.ErrUnstorable, m.Key)
		}
		v := make([]byte, countLen, countLen+len(c.Name))
		binary.BigEndian.PutUint64(v, uint64(sum))
		puts = append(puts, put{h[:], append(v, c.Name...)})
	}
	if b == nil {
		var err error
		if b, err = root.CreateBucket(name); err != nil {
			return err
		}
	}
	for _, p := range puts {
		if err := b.Put(p.k, p.v); err != nil {
			return err
		}
	}
	return nil
}

// decodeCounter reads a stored counter: its count and name.
func decodeCounter(k, v []byte) (int64, string, error) {
	switch {
	case len(v) == countLen: // written before counters were keyed by hash
		return int64(binary.BigEndian.Uint64(v)), string(k), nil
	case len(v) > countLen:
		name := v[countLen:]
		if h := sha256.Sum256(name); !bytes.Equal(h[:], k) {
			return 0, "", fmt.Errorf("%w: counter name does not match its key", tlsrpt.ErrCorruptStore)
		}
		return int64(binary.BigEndian.Uint64(v)), string(name), nil
	}
	return 0, "", fmt.Errorf("%w: counter value of %d bytes", tlsrpt.ErrCorruptStore, len(v))
}

// prune forgets batch ids applied more than tlsrpt.BatchIDRetention
// before now, at most maxPrune of them.
func prune(tx *bolt.Tx, now time.Time) error {
	cutoff := uint64(now.Add(-tlsrpt.BatchIDRetention).UnixNano())
	var old [][]byte
	c := tx.Bucket(boltBatchAge).Cursor()
	for k, _ := c.First(); k != nil && len(old) < maxPrune; k, _ = c.Next() {
		if len(k) != countLen+len(tlsrpt.BatchID{}) || binary.BigEndian.Uint64(k) >= cutoff {
			break
		}
		old = append(old, k)
	}
	for _, k := range old {
		if err := tx.Bucket(boltBatches).Delete(k[countLen:]); err != nil {
			return err
		}
		if err := tx.Bucket(boltBatchAge).Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Load implements Store.
func (s *Store) Load(ctx context.Context, k tlsrpt.Key) (*tlsrpt.Aggregate, error) {
	var cs []counters.Counter
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(boltCounts).Bucket([]byte(counters.KeyName(k)))
		if b == nil {
			return nil
		}
		return b.ForEach(func(key, v []byte) error {
			n, name, err := decodeCounter(key, v)
			if err != nil {
				return err
			}
			cs = append(cs, counters.Counter{Name: name, N: n})
			return nil
		})
	})
	if err != nil {
		if errors.Is(err, tlsrpt.ErrCorruptStore) {
			return nil, fmt.Errorf("%w (%s)", err, k)
		}
		return nil, s.wrap(err)
	}
	return counters.Decode(k, cs)
}

// keysPage is how many names of a bucket one read transaction of Keys
// looks at.
const keysPage = 1000

// Keys implements Store: the counts bucket, then the states bucket
// without the names that have counts, in pages, each page one read
// transaction that resumes after the name where the last one stopped, so
// that no transaction stays open while the caller works.
func (s *Store) Keys(ctx context.Context) iter.Seq2[tlsrpt.Key, error] {
	return func(yield func(tlsrpt.Key, error) bool) {
		page := make([]tlsrpt.Key, 0, keysPage)
		for _, bucket := range [][]byte{boltCounts, boltStates} {
			states := bytes.Equal(bucket, boltStates)
			var after []byte // the last name looked at
			for done := false; !done; {
				if err := ctx.Err(); err != nil {
					yield(tlsrpt.Key{}, fmt.Errorf("boltstore: keys: %w", err))
					return
				}
				page = page[:0]
				err := s.db.View(func(tx *bolt.Tx) error {
					counts := tx.Bucket(boltCounts)
					c := tx.Bucket(bucket).Cursor()
					name, _ := c.First()
					if after != nil {
						if name, _ = c.Seek(after); bytes.Equal(name, after) {
							name, _ = c.Next()
						}
					}
					for i := 0; i < keysPage; i++ {
						if name == nil {
							done = true
							return nil
						}
						after = append(after[:0], name...)
						if !states || counts.Bucket(name) == nil {
							k, err := counters.ParseKeyName(string(name))
							if err != nil {
								return err
							}
							page = append(page, k)
						}
						name, _ = c.Next()
					}
					return nil
				})
				if err != nil {
					yield(tlsrpt.Key{}, s.wrap(err))
					return
				}
				for _, k := range page {
					if !yield(k, nil) {
						return
					}
				}
			}
		}
	}
}

// State implements Store.
func (s *Store) State(ctx context.Context, k tlsrpt.Key) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(boltStates).Get([]byte(counters.KeyName(k))); v != nil {
			out = append([]byte{}, v...)
		}
		return nil
	})
	return out, s.wrap(err)
}

// SetState implements Store.
func (s *Store) SetState(ctx context.Context, k tlsrpt.Key, state []byte) error {
	return s.wrap(s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(boltStates).Put([]byte(counters.KeyName(k)), state)
	}))
}

// Delete implements Store.
func (s *Store) Delete(ctx context.Context, k tlsrpt.Key) error {
	return s.wrap(s.db.Update(func(tx *bolt.Tx) error {
		name := []byte(counters.KeyName(k))
		if tx.Bucket(boltCounts).Bucket(name) != nil {
			if err := tx.Bucket(boltCounts).DeleteBucket(name); err != nil {
				return err
			}
		}
		return tx.Bucket(boltStates).Delete(name)
	}))
}

// Lock implements Store (in-process).
func (s *Store) Lock(ctx context.Context, k tlsrpt.Key, owner string, ttl time.Duration) (bool, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.locks.Take(k, owner, ttl, now), nil
}

// Unlock implements Store.
func (s *Store) Unlock(ctx context.Context, k tlsrpt.Key, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.locks.Release(k, owner)
	return nil
}
