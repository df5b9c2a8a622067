// Package redisstore is a tlsrpt.Store on Redis, for a fleet of senders
// that report TLS-RPT ([RFC 8460]) results together: every instance adds
// into one set of counters, and exactly one instance sends each report.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
//	store := &redisstore.Store{Client: rdb}
//	go (&tlsrpt.Flusher{Collector: &collector, Store: store}).Run(ctx)
//
// It mirrors cache/redisstore, the fleet's shared MTA-STS policy cache: a
// Store with an exported Client and Prefix, keys under DefaultPrefix.
//
// A batch is added by one Lua script that checks and sets a marker for
// the batch's id in the same atomic step as the increments, so a batch
// that a Flusher retries after a timeout, a stall, or a restart of Redis
// is counted once. Every call is bounded by its ctx, whatever the client's
// timeouts.
//
// # What it does not do
//
// It does not create, configure, authenticate or close the Redis client.
// On Redis Cluster it needs a Prefix with a hash tag (one slot for all its
// keys), since a batch is one script.
//
// # Security
//
// Anyone who can write the keys can change what the fleet reports to
// third parties: protect Redis as you would the senders' configuration.
// Values read back are bounded and checked; damaged data gives
// tlsrpt.ErrCorruptStore, never a panic.
//
// # Testing
//
// Tests run against a real redis-server started on 127.0.0.1 by
// internal/redistest; they are skipped unless STRICTMX_TEST_REDIS=1. The
// tlsrpt/tlsrpttest conformance suite RunStore runs against it, and a
// fault suite stalls (SIGSTOP), kills and restarts the server, with and
// without its data, while a sender flushes through a client with short
// timeouts, with and without go-redis retries, and checks that every
// session is counted exactly once (skipped under -short).
//
// This package is pre-v1: its API may change.
//
// [RFC 8460]: https://www.rfc-editor.org/rfc/rfc8460
package redisstore
