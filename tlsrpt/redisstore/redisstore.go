package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/strictmx/strictmx/tlsrpt"
	"github.com/strictmx/strictmx/tlsrpt/internal/counters"
)

// DefaultPrefix prefixes every key a Store uses when Prefix is
// empty.
const DefaultPrefix = "strictmx:tlsrpt:"

// redisRetention bounds how long counts and state live in Redis if no
// instance ever reports or deletes them.
const redisRetention = 8 * 24 * time.Hour

// Store is a tlsrpt.Store in Redis shared by a fleet of senders: every
// instance adds into one set of counters (HINCRBY in a MULTI transaction,
// so a batch is applied whole), and the send lock (SET NX PX) lets exactly
// one instance send each (domain, day) report.
//
// Keys: <prefix>c:<day>/<domain> (hash of counters), <prefix>s:<...>
// (state), <prefix>l:<...> (lock), <prefix>keys (set of key names). Counts
// and state expire after eight days if never deleted.
type Store struct {
	// Client is the Redis client; required.
	Client redis.UniversalClient
	// Prefix for all keys; empty means DefaultPrefix.
	Prefix string
}

func (s *Store) prefix() string {
	if s.Prefix != "" {
		return s.Prefix
	}
	return DefaultPrefix
}

func (s *Store) key(kind string, k tlsrpt.Key) string {
	return s.prefix() + kind + ":" + counters.KeyName(k)
}

func redisErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("redisstore: redis %s: %w", op, err)
}

// Add implements Store.
func (s *Store) Add(ctx context.Context, aggs []*tlsrpt.Aggregate) error {
	if len(aggs) == 0 {
		return nil
	}
	_, err := s.Client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, a := range aggs {
			ck := s.key("c", a.Key)
			for _, c := range counters.Encode(a) {
				p.HIncrBy(ctx, ck, c.Name, c.N)
			}
			p.Expire(ctx, ck, redisRetention)
			p.SAdd(ctx, s.prefix()+"keys", counters.KeyName(a.Key))
		}
		return nil
	})
	return redisErr("add", err)
}

// Load implements Store.
func (s *Store) Load(ctx context.Context, k tlsrpt.Key) (*tlsrpt.Aggregate, error) {
	m, err := s.Client.HGetAll(ctx, s.key("c", k)).Result()
	if err != nil {
		return nil, redisErr("load", err)
	}
	cs := make([]counters.Counter, 0, len(m))
	for name, v := range m {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: counter value %.64q", tlsrpt.ErrCorruptStore, v)
		}
		cs = append(cs, counters.Counter{Name: name, N: n})
	}
	return counters.Decode(k, cs)
}

// Keys implements Store. Names whose counts and state have both expired
// are removed from the index.
func (s *Store) Keys(ctx context.Context) ([]tlsrpt.Key, error) {
	names, err := s.Client.SMembers(ctx, s.prefix()+"keys").Result()
	if err != nil {
		return nil, redisErr("keys", err)
	}
	var out []tlsrpt.Key
	for _, n := range names {
		k, err := counters.ParseKeyName(n)
		if err != nil {
			s.Client.SRem(ctx, s.prefix()+"keys", n)
			continue
		}
		exists, err := s.Client.Exists(ctx, s.key("c", k), s.key("s", k)).Result()
		if err != nil {
			return nil, redisErr("keys", err)
		}
		if exists == 0 {
			s.Client.SRem(ctx, s.prefix()+"keys", n)
			continue
		}
		out = append(out, k)
	}
	return out, nil
}

// State implements Store.
func (s *Store) State(ctx context.Context, k tlsrpt.Key) ([]byte, error) {
	b, err := s.Client.Get(ctx, s.key("s", k)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return b, redisErr("state", err)
}

// SetState implements Store.
func (s *Store) SetState(ctx context.Context, k tlsrpt.Key, state []byte) error {
	_, err := s.Client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.key("s", k), state, redisRetention)
		p.SAdd(ctx, s.prefix()+"keys", counters.KeyName(k))
		return nil
	})
	return redisErr("set state", err)
}

// Delete implements Store.
func (s *Store) Delete(ctx context.Context, k tlsrpt.Key) error {
	_, err := s.Client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, s.key("c", k), s.key("s", k))
		p.SRem(ctx, s.prefix()+"keys", counters.KeyName(k))
		return nil
	})
	return redisErr("delete", err)
}

// lockScript takes the lock with SET NX PX, or extends it when it is
// already ours.
var lockScript = redis.NewScript(`
if redis.call("SET", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then
  return 1
end
if redis.call("GET", KEYS[1]) == ARGV[1] then
  redis.call("PEXPIRE", KEYS[1], ARGV[2])
  return 1
end
return 0`)

// unlockScript deletes the lock only if it is ours.
var unlockScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0`)

// Lock implements Store with SET NX PX in a script, so that only the
// holder can extend its lock; expiry is Redis's clock.
func (s *Store) Lock(ctx context.Context, k tlsrpt.Key, owner string, ttl time.Duration) (bool, error) {
	ms := ttl.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	n, err := lockScript.Run(ctx, s.Client, []string{s.key("l", k)}, owner, ms).Int()
	if err != nil {
		return false, redisErr("lock", err)
	}
	return n == 1, nil
}

// Unlock implements Store.
func (s *Store) Unlock(ctx context.Context, k tlsrpt.Key, owner string) error {
	err := unlockScript.Run(ctx, s.Client, []string{s.key("l", k)}, owner).Err()
	if errors.Is(err, redis.Nil) {
		err = nil
	}
	return redisErr("unlock", err)
}
