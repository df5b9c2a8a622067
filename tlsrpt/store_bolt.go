package tlsrpt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// BoltStore is a durable Store in one bbolt file, for a single machine.
//
// Every Add is one bbolt transaction, committed with fsync: counts
// survive a restart or a kill -9 up to the last Add that returned, and a
// crash during an Add loses that batch whole, never half of it, so
// nothing is counted twice. Batch Adds with a Flusher (its Interval is the
// flush interval). Locks are in-process: one BoltStore file serves one
// process (bbolt itself refuses a second opener).
type BoltStore struct {
	// Now is the clock for lock expiry; nil means time.Now.
	Now func() time.Time

	db    *bolt.DB
	mu    sync.Mutex
	locks map[Key]memLock
}

var (
	boltCounts = []byte("counts") // bucket of buckets: keyName -> counter name -> int64
	boltStates = []byte("states") // keyName -> state
)

// boltOpenTimeout bounds the wait for another process's file lock.
const boltOpenTimeout = 5 * time.Second

// OpenBolt opens (creating if needed) the bbolt file at path.
func OpenBolt(path string) (*BoltStore, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: boltOpenTimeout})
	if err != nil {
		return nil, fmt.Errorf("tlsrpt: open %s: %w", path, err)
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
		return nil, fmt.Errorf("tlsrpt: init %s: %w", path, err)
	}
	return &BoltStore{db: db}, nil
}

// Close closes the file. Later calls fail with ErrStoreClosed.
func (s *BoltStore) Close() error { return s.db.Close() }

func (s *BoltStore) wrap(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("%w: %w", ErrStoreClosed, err)
	}
	return fmt.Errorf("tlsrpt: bolt: %w", err)
}

// Add implements Store: one transaction for the whole batch.
func (s *BoltStore) Add(ctx context.Context, aggs []*Aggregate) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.wrap(s.db.Update(func(tx *bolt.Tx) error {
		root := tx.Bucket(boltCounts)
		for _, a := range aggs {
			b, err := root.CreateBucketIfNotExists([]byte(keyName(a.Key)))
			if err != nil {
				return err
			}
			for _, c := range a.counters() {
				name := []byte(c.name)
				var n int64
				if v := b.Get(name); len(v) == 8 {
					n = int64(binary.BigEndian.Uint64(v))
				}
				var buf [8]byte
				binary.BigEndian.PutUint64(buf[:], uint64(n+c.n))
				if err := b.Put(name, buf[:]); err != nil {
					return err
				}
			}
		}
		return nil
	}))
}

// Load implements Store.
func (s *BoltStore) Load(ctx context.Context, k Key) (*Aggregate, error) {
	var cs []counter
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(boltCounts).Bucket([]byte(keyName(k)))
		if b == nil {
			return nil
		}
		return b.ForEach(func(name, v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("%w: counter value of %d bytes", ErrCorruptStore, len(v))
			}
			cs = append(cs, counter{string(name), int64(binary.BigEndian.Uint64(v))})
			return nil
		})
	})
	if err != nil {
		return nil, s.wrap(err)
	}
	return aggregateFromCounters(k, cs)
}

// Keys implements Store.
func (s *BoltStore) Keys(ctx context.Context) ([]Key, error) {
	seen := map[Key]bool{}
	var out []Key
	err := s.db.View(func(tx *bolt.Tx) error {
		for _, bucket := range [][]byte{boltCounts, boltStates} {
			err := tx.Bucket(bucket).ForEach(func(name, _ []byte) error {
				k, err := parseKeyName(string(name))
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
func (s *BoltStore) State(ctx context.Context, k Key) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(boltStates).Get([]byte(keyName(k))); v != nil {
			out = append([]byte{}, v...)
		}
		return nil
	})
	return out, s.wrap(err)
}

// SetState implements Store.
func (s *BoltStore) SetState(ctx context.Context, k Key, state []byte) error {
	return s.wrap(s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(boltStates).Put([]byte(keyName(k)), state)
	}))
}

// Delete implements Store.
func (s *BoltStore) Delete(ctx context.Context, k Key) error {
	return s.wrap(s.db.Update(func(tx *bolt.Tx) error {
		name := []byte(keyName(k))
		if tx.Bucket(boltCounts).Bucket(name) != nil {
			if err := tx.Bucket(boltCounts).DeleteBucket(name); err != nil {
				return err
			}
		}
		return tx.Bucket(boltStates).Delete(name)
	}))
}

// Lock implements Store (in-process).
func (s *BoltStore) Lock(ctx context.Context, k Key, owner string, ttl time.Duration) (bool, error) {
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return lockMap(&s.locks, k, owner, ttl, now), nil
}

// Unlock implements Store.
func (s *BoltStore) Unlock(ctx context.Context, k Key, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.locks[k]; ok && l.owner == owner {
		delete(s.locks, k)
	}
	return nil
}
