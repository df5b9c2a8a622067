package boltstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
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
// Every Add is one bbolt transaction, committed with fsync: counts
// survive a restart or a kill -9 up to the last Add that returned, and a
// crash during an Add loses that batch whole, never half of it, so
// nothing is counted twice. Batch Adds with a Flusher (its Interval is the
// flush interval). Locks are in-process: one Store file serves one
// process (bbolt itself refuses a second opener).
type Store struct {
	// Now is the clock for lock expiry; nil means time.Now.
	Now func() time.Time

	db    *bolt.DB
	mu    sync.Mutex
	locks lease.Table[tlsrpt.Key]
}

var (
	boltCounts = []byte("counts") // bucket of buckets: keyName -> counter name -> int64
	boltStates = []byte("states") // keyName -> state
)

// boltOpenTimeout bounds the wait for another process's file lock.
const boltOpenTimeout = 5 * time.Second

// Open opens (creating if needed) the bbolt file at path.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: boltOpenTimeout})
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(boltCounts); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(boltStates)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: init %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the file. Later calls fail with ErrStoreClosed.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) wrap(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("%w: %w", tlsrpt.ErrStoreClosed, err)
	}
	return fmt.Errorf("boltstore: bolt: %w", err)
}

// Add implements Store: one transaction for the whole batch.
func (s *Store) Add(ctx context.Context, aggs []*tlsrpt.Aggregate) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.wrap(s.db.Update(func(tx *bolt.Tx) error {
		root := tx.Bucket(boltCounts)
		for _, a := range aggs {
			b, err := root.CreateBucketIfNotExists([]byte(counters.KeyName(a.Key)))
			if err != nil {
				return err
			}
			for _, c := range counters.Encode(a) {
				name := []byte(c.Name)
				var n int64
				if v := b.Get(name); len(v) == 8 {
					n = int64(binary.BigEndian.Uint64(v))
				}
				var buf [8]byte
				binary.BigEndian.PutUint64(buf[:], uint64(n+c.N))
				if err := b.Put(name, buf[:]); err != nil {
					return err
				}
			}
		}
		return nil
	}))
}

// Load implements Store.
func (s *Store) Load(ctx context.Context, k tlsrpt.Key) (*tlsrpt.Aggregate, error) {
	var cs []counters.Counter
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(boltCounts).Bucket([]byte(counters.KeyName(k)))
		if b == nil {
			return nil
		}
		return b.ForEach(func(name, v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("%w: counter value of %d bytes", tlsrpt.ErrCorruptStore, len(v))
			}
			cs = append(cs, counters.Counter{Name: string(name), N: int64(binary.BigEndian.Uint64(v))})
			return nil
		})
	})
	if err != nil {
		return nil, s.wrap(err)
	}
	return counters.Decode(k, cs)
}

// Keys implements Store.
func (s *Store) Keys(ctx context.Context) ([]tlsrpt.Key, error) {
	seen := map[tlsrpt.Key]bool{}
	var out []tlsrpt.Key
	err := s.db.View(func(tx *bolt.Tx) error {
		for _, bucket := range [][]byte{boltCounts, boltStates} {
			err := tx.Bucket(bucket).ForEach(func(name, _ []byte) error {
				k, err := counters.ParseKeyName(string(name))
				if err != nil {
					return err
				}
				if !seen[k] {
					seen[k] = true
					out = append(out, k)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, s.wrap(err)
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
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
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
