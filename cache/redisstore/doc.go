// Package redisstore is a cache.Store on Redis, so that a fleet of
// senders shares one MTA-STS ([RFC 8461]) policy cache (RFC 8461, Section 3.3): a
// policy fetched by one host is used by all, and all agree on it.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
//	client := &mtasts.Client{Store: &redisstore.Store{Client: rdb}}
//
// Entries live under Prefix+domain (DefaultPrefix "strictmx:mtasts:") in
// the versioned encoding of package cache, with a Redis expiry at the
// entry's Expires. A memory tier in front answers repeated lookups without
// a round trip; LocalTTL (DefaultLocalTTL, 30 s) bounds how long a host
// serves an entry without re-reading Redis, so a new policy or a purge
// reaches the whole fleet within LocalTTL.
//
// # What it does not do
//
// It does not create, configure, authenticate or close the Redis client,
// and does not enumerate keys. It does not lock across hosts: two hosts
// that fetch the same domain at once both write, and the last Put wins
// (both wrote a policy valid at the time). With Redis down, a host keeps
// serving what its memory tier holds, and cold lookups fail with an error
// that the consumer treats as a miss. Every call returns when its ctx
// ends, whatever the client's timeouts. A Redis that comes back without
// its data does not make a host drop what its memory tier holds: a Delete
// leaves a tombstone, so a key that is simply missing is written back.
//
// # Performance
//
// A memory-tier hit allocates nothing, takes no lock and writes no shared
// memory, so hits scale with cores: about 60 ns on a 2-core machine
// (BenchmarkRedisGetMemoryTier), a read-only index lookup plus one
// monotonic clock read, which GetAt spares a caller that has just read
// the clock.
//
// # Security
//
// Anyone who can write the keys can make the fleet use any policy,
// including mode none: protect Redis as you would the senders' own
// configuration (AUTH, TLS, a private network). Values read back are
// bounded and checked (cache.UnmarshalEntry, plus a check that the entry
// is for the key's domain); anything else is logged and treated as a miss,
// never a panic.
//
// # Testing
//
// Tests run against a real redis-server started on 127.0.0.1 by
// internal/redistest; they are skipped unless STRICTMX_TEST_REDIS=1, and
// fail if it is set and redis-server (Debian package redis-server) is
// missing. The suite cache/cachetest runs with the default settings, with
// every Get re-reading Redis, and with a one-entry memory tier. Fault
// tests stall the server (SIGSTOP) under a client that ignores contexts,
// and restart it without its data.
//
// This package is pre-v1: its API may change before strictmx v1.0.0.
//
// [RFC 8461]: https://www.rfc-editor.org/rfc/rfc8461
package redisstore
