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
// # What it does not do
//
// It does not create, configure, authenticate or close the Redis client.
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
// tlsrpt/tlsrpttest conformance suite RunStore runs against it.
//
// This package is pre-v1: its API may change.
//
// [RFC 8460]: https://www.rfc-editor.org/rfc/rfc8460
package redisstore
