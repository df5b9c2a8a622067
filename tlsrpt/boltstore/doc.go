// Package boltstore is a durable tlsrpt.Store in one bbolt file, for a
// sender on one machine that must not lose or double TLS-RPT ([RFC 8460])
// counts across restarts.
//
//	store, err := boltstore.Open("/var/lib/strictmx/tlsrpt.db")
//	if err != nil { ... }
//	defer store.Close()
//	go (&tlsrpt.Flusher{Collector: &collector, Store: store}).Run(ctx)
//
// Every Add is one bbolt transaction committed with fsync, so a batch is
// stored whole or not at all, together with its batch id, so a retried
// batch is stored once; the Scheduler of tlsrpt/reporter keeps its
// progress in the same file. Counts are kept as named counters, in the
// encoding tlsrpt/redisstore uses too, keyed by a hash of their name: a
// policy of any valid size (an MTA-STS policy may be 64 KiB) fits, and
// an aggregate the store cannot keep is left out of its batch and named in
// an error wrapping tlsrpt.ErrUnstorable while the rest is stored.
//
// # What it does not do
//
// It serves one process: bbolt refuses a second opener, and Lock is
// in-process. A fleet of senders shares counts with tlsrpt/redisstore.
//
// # Security
//
// Stored data is read back bounded and checked: a damaged file gives
// tlsrpt.ErrCorruptStore for the affected (domain, day), never a panic.
//
// # Testing
//
// The tlsrpt/tlsrpttest conformance suite RunStore runs against it, and a
// test kills a child process with SIGKILL in the middle of flushes and
// checks that no flush is torn or counted twice (skipped under -short).
// Disk faults are tested on a small tmpfs the test mounts (as root; the
// tests skip otherwise): a full file system makes Add fail and keeps what
// was stored, and once there is room again the counts kept meanwhile are
// stored exactly once; a read-only one makes Open fail.
//
// This package is pre-v1: its API may change.
//
// [RFC 8460]: https://www.rfc-editor.org/rfc/rfc8460
package boltstore
