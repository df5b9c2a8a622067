package redisstore

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/strictmx/strictmx/internal/detach"
	"github.com/strictmx/strictmx/tlsrpt"
	"github.com/strictmx/strictmx/tlsrpt/internal/counters"
)

// DefaultPrefix prefixes every key a Store uses when Prefix is
// empty.
const DefaultPrefix = "strictmx:tlsrpt:"

// redisRetention bounds how long counts and state live in Redis if no
// instance ever reports or deletes them.
const redisRetention = 8 * 24 * time.Hour

// maxInFlight bounds the Redis calls of one Store that run at once,
// counting those whose caller has given up (see do).
const maxInFlight = 64

// Store is a tlsrpt.Store in Redis shared by a fleet of senders: every
// instance adds into one set of counters, and the send lock (SET NX PX)
// lets exactly one instance send each (domain, day) report.
//
// Add is one Lua script, so a batch is applied whole, and it applies a
// batch id at most once: the script checks and sets a marker key for the
// id, which expires after tlsrpt.BatchIDRetention, in the same atomic
// step as the HINCRBYs. A batch retried after a timeout, a stall or a
// restart of Redis (with its data) is therefore counted once; a Redis that
// comes back without its data has lost the counts and the markers
// together, so a retry is counted once there too.
//
// Every call is bounded by its ctx, whatever the client's options
// (ContextTimeoutEnabled, read timeouts): a call whose ctx ends returns
// ctx's error at once, and its Redis round trip finishes in the
// background, at most 64 of them per Store at a time.
//
// Keys: <prefix>c:<day>/<domain> (hash of counters), <prefix>s:<...>
// (state), <prefix>l:<...> (lock), <prefix>b:<batch id> (applied batch),
// <prefix>keys (set of key names). Counts and state expire after eight
// days if never deleted. On Redis Cluster, Prefix must hold a hash tag,
// such as "{strictmx:tlsrpt:}", so that all keys share one slot (a batch is
// one script); without one, calls fail with tlsrpt.ErrConfig.
//
// A Store must not be copied after first use.
type Store struct {
	// Client is the Redis client; required (a nil Client gives errors
	// wrapping tlsrpt.ErrConfig).
	Client redis.UniversalClient
	// Prefix for all keys; empty means DefaultPrefix.
	Prefix string

	once  sync.Once
	calls chan struct{} // one slot per Redis call in flight
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

// do runs f, which talks to Redis, and returns its result, or ctx's
// error as soon as ctx ends: go-redis bounds a round trip by ctx only
// with ContextTimeoutEnabled, else by its own read and write timeouts,
// which may be long or off. f goes on in the background after its caller
// gave up, holding one of maxInFlight slots; a caller waits for a slot
// no longer than its ctx.
func do[T any](ctx context.Context, s *Store, op string, f func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	if s.Client == nil {
		return zero, fmt.Errorf("redisstore: Store.Client is nil: %w", tlsrpt.ErrConfig)
	}
	if _, ok := s.Client.(*redis.ClusterClient); ok && !hashTagged(s.prefix()) {
		return zero, fmt.Errorf("redisstore: on Redis Cluster, Prefix needs a hash tag, such as %q: %w",
			"{"+DefaultPrefix+"}", tlsrpt.ErrConfig)
	}
	s.once.Do(func() { s.calls = make(chan struct{}, maxInFlight) })
	select {
	case s.calls <- struct{}{}:
	case <-ctx.Done():
		return zero, redisErr(op, ctx.Err())
	}
	v, err, _ := detach.Call(ctx, func() { <-s.calls }, func() (T, error) { return f(ctx) })
	return v, redisErr(op, err)
}

// hashTagged reports whether keys that begin with prefix all hash to one
// Redis Cluster slot: prefix holds a non-empty {hash tag}.
func hashTagged(prefix string) bool {
	_, rest, ok := strings.Cut(prefix, "{")
	i := strings.IndexByte(rest, '}')
	return ok && i > 0
}

// addScript applies one batch.
//
// KEYS[1] is the batch's marker, KEYS[2] the set of key names, KEYS[3..]
// the counter hashes. ARGV[1] is the marker's expiry and ARGV[2] the
// counters' (ms); then, for each counter hash, its key name, the number n
// of its counters and n (name, increment) pairs.
//
// A Lua script runs atomically but is not rolled back when a command in
// it fails, so it first checks, reading only, what could make an HINCRBY
// fail (a key that is not a hash, a value that is not an integer, an
// overflow; Lua numbers are doubles, so the overflow test keeps a margin
// below 2^63), leaves those hashes out, and only then writes. It returns
// {1, (index, kind, reason)...} naming the hashes left out (index 1 is
// KEYS[3]), or {0} when the batch was applied before.
var addScript = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 1 then
  return {0}
end
local t = redis.call("TYPE", KEYS[2]).ok
if t ~= "set" and t ~= "none" then
  return redis.error_reply("index " .. KEYS[2] .. " holds a " .. t)
end
local out = {1}
local good = {}
local a = 3
for i = 3, #KEYS do
  local name, n = ARGV[a], tonumber(ARGV[a + 1])
  local first = a + 2
  a = first + 2 * n
  local kind, why
  local kt = redis.call("TYPE", KEYS[i]).ok
  if kt ~= "hash" and kt ~= "none" then
    kind, why = "corrupt", "counters held in a " .. kt
  elseif kt == "hash" then
    for j = first, a - 1, 2 do
      local cur = redis.call("HGET", KEYS[i], ARGV[j])
      if cur then
        if #cur > 20 or not (cur == "0" or string.match(cur, "^%-?[1-9]%d*$")) then
          kind, why = "corrupt", "a counter is not an integer"
          break
        end
        if tonumber(cur) + tonumber(ARGV[j + 1]) > 9.2e18 then
          kind, why = "overflow", "a count would overflow"
          break
        end
      end
    end
  end
  if kind then
    out[#out + 1] = i - 2
    out[#out + 1] = kind
    out[#out + 1] = why
  else
    good[#good + 1] = {i, first, a - 1, name}
  end
end
for _, g in ipairs(good) do
  for j = g[2], g[3], 2 do
    redis.call("HINCRBY", KEYS[g[1]], ARGV[j], ARGV[j + 1])
  end
  redis.call("PEXPIRE", KEYS[g[1]], ARGV[2])
  redis.call("SADD", KEYS[2], g[4])
end
redis.call("SET", KEYS[1], "1", "PX", ARGV[1])
return out`)

// Add implements Store with addScript: one round trip per batch.
func (s *Store) Add(ctx context.Context, id tlsrpt.BatchID, aggs []*tlsrpt.Aggregate) error {
	if id.IsZero() {
		return tlsrpt.ErrNoBatchID
	}
	if len(aggs) == 0 {
		return nil
	}
	var bad []error
	byKey := map[tlsrpt.Key][]*tlsrpt.Aggregate{}
	var order []tlsrpt.Key // in batch order
	for _, a := range aggs {
		if err := tlsrpt.CheckStorable(a); err != nil {
			bad = append(bad, err)
			continue
		}
		if byKey[a.Key] == nil {
			order = append(order, a.Key)
		}
		byKey[a.Key] = append(byKey[a.Key], a)
	}
	keys := []string{s.prefix() + "b:" + id.String(), s.prefix() + "keys"}
	args := []any{tlsrpt.BatchIDRetention.Milliseconds(), redisRetention.Milliseconds()}
	var sent []tlsrpt.Key
	for _, k := range order {
		m, err := tlsrpt.Merge(byKey[k]...)
		if err != nil { // cannot happen: one Key
			bad = append(bad, fmt.Errorf("%w: %s: %w", tlsrpt.ErrUnstorable, k, err))
			continue
		}
		cs := counters.Encode(m)
		if len(cs) == 0 {
			continue
		}
		sent = append(sent, k)
		keys = append(keys, s.key("c", k))
		args = append(args, counters.KeyName(k), len(cs))
		for _, c := range cs {
			args = append(args, c.Name, c.N)
		}
	}
	if len(sent) == 0 {
		return errors.Join(bad...)
	}
	res, err := do(ctx, s, "add", func(ctx context.Context) ([]any, error) {
		return addScript.Run(ctx, s.Client, keys, args...).Slice()
	})
	if err != nil {
		return err
	}
	if len(res) == 0 {
		return fmt.Errorf("redisstore: redis add: empty reply")
	}
	if res[0] == int64(0) {
		return nil // applied before
	}
	for i := 1; i+2 < len(res); i += 3 {
		n, _ := res[i].(int64)
		kind, _ := res[i+1].(string)
		why, _ := res[i+2].(string)
		if n < 1 || int(n) > len(sent) {
			return fmt.Errorf("redisstore: redis add: bad reply %v", res)
		}
		err := fmt.Errorf("%w: %s: %s", tlsrpt.ErrUnstorable, sent[n-1], why)
		if kind == "corrupt" {
			err = fmt.Errorf("%w: %s: %w: %s", tlsrpt.ErrUnstorable, sent[n-1], tlsrpt.ErrCorruptStore, why)
		}
		bad = append(bad, err)
	}
	return errors.Join(bad...)
}

// Load implements Store.
func (s *Store) Load(ctx context.Context, k tlsrpt.Key) (*tlsrpt.Aggregate, error) {
	m, err := do(ctx, s, "load", func(ctx context.Context) (map[string]string, error) {
		return s.Client.HGetAll(ctx, s.key("c", k)).Result()
	})
	if err != nil {
		return nil, err
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

// keysPage is the COUNT of one SSCAN of Keys: about how many key names
// one round trip reads.
const keysPage = 1000

// Keys implements Store with SSCAN over the set of key names, one page per
// round trip and a second, pipelined, round trip that checks which of the
// page's keys still have counts or state: names whose counts and state
// have both expired are removed from the set. As SSCAN does, it yields a
// key twice when the set changes under it.
func (s *Store) Keys(ctx context.Context) iter.Seq2[tlsrpt.Key, error] {
	return func(yield func(tlsrpt.Key, error) bool) {
		var cursor uint64
		for {
			type page struct {
				keys []tlsrpt.Key
				next uint64
			}
			p, err := do(ctx, s, "keys", func(ctx context.Context) (page, error) {
				names, next, err := s.Client.SScan(ctx, s.prefix()+"keys", cursor, "", keysPage).Result()
				if err != nil {
					return page{}, err
				}
				keys := make([]tlsrpt.Key, 0, len(names))
				var gone []any // names without counts or state
				var exists []*redis.IntCmd
				_, err = s.Client.Pipelined(ctx, func(p redis.Pipeliner) error {
					for _, n := range names {
						k, err := counters.ParseKeyName(n)
						if err != nil {
							gone = append(gone, n)
							continue
						}
						keys = append(keys, k)
						exists = append(exists, p.Exists(ctx, s.key("c", k), s.key("s", k)))
					}
					return nil
				})
				if err != nil {
					return page{}, err
				}
				live := keys[:0]
				for i, k := range keys {
					if exists[i].Val() == 0 {
						gone = append(gone, counters.KeyName(k))
						continue
					}
					live = append(live, k)
				}
				if len(gone) > 0 {
					s.Client.SRem(ctx, s.prefix()+"keys", gone...)
				}
				return page{live, next}, nil
			})
			if err != nil {
				yield(tlsrpt.Key{}, err)
				return
			}
			for _, k := range p.keys {
				if !yield(k, nil) {
					return
				}
			}
			if p.next == 0 {
				return
			}
			cursor = p.next
		}
	}
}

// State implements Store.
func (s *Store) State(ctx context.Context, k tlsrpt.Key) ([]byte, error) {
	return do(ctx, s, "state", func(ctx context.Context) ([]byte, error) {
		b, err := s.Client.Get(ctx, s.key("s", k)).Bytes()
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		return b, err
	})
}

// SetState implements Store.
func (s *Store) SetState(ctx context.Context, k tlsrpt.Key, state []byte) error {
	_, err := do(ctx, s, "set state", func(ctx context.Context) ([]redis.Cmder, error) {
		return s.Client.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, s.key("s", k), state, redisRetention)
			p.SAdd(ctx, s.prefix()+"keys", counters.KeyName(k))
			return nil
		})
	})
	return err
}

// Delete implements Store.
func (s *Store) Delete(ctx context.Context, k tlsrpt.Key) error {
	_, err := do(ctx, s, "delete", func(ctx context.Context) ([]redis.Cmder, error) {
		return s.Client.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Del(ctx, s.key("c", k), s.key("s", k))
			p.SRem(ctx, s.prefix()+"keys", counters.KeyName(k))
			return nil
		})
	})
	return err
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
	ms := max(ttl.Milliseconds(), 1)
	n, err := do(ctx, s, "lock", func(ctx context.Context) (int, error) {
		return lockScript.Run(ctx, s.Client, []string{s.key("l", k)}, owner, ms).Int()
	})
	return n == 1, err
}

// Unlock implements Store.
func (s *Store) Unlock(ctx context.Context, k tlsrpt.Key, owner string) error {
	_, err := do(ctx, s, "unlock", func(ctx context.Context) (struct{}, error) {
		err := unlockScript.Run(ctx, s.Client, []string{s.key("l", k)}, owner).Err()
		if errors.Is(err, redis.Nil) {
			err = nil
		}
		return struct{}{}, err
	})
	return err
}
