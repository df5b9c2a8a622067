// Package cachetest is the conformance suite for implementations of
// cache.Store (MTA-STS, [RFC 8461]), in the manner of testing/fstest: one call runs every
// behaviour package mtasts relies on against a store.
//
//	func TestMyStore(t *testing.T) {
//		cachetest.RunStore(t, func(t *testing.T) cache.Store {
//			return mystore.New(t.TempDir())
//		})
//	}
//
// Persistent stores pass a Reopen function in Options (RunOptions) so the
// suite also checks that entries, replacements and deletions survive a
// restart and that memos do not; stores that return the *Entry given to
// Put set SamePointer. Run's documentation lists exactly what is required,
// including the behaviour with a cancelled context.
//
// # What it does not do
//
// It does not test eviction (a bounded store must simply hold MaxEntries
// entries), expiry policy (a store may drop expired entries or keep them),
// performance, or crash safety; those are the store's own tests (see
// TestDirSurvivesKill in package cache).
//
// # Security
//
// The suite feeds each store invalid domains that would be path traversal
// for a file-backed store ("../etc", "a/b.example", ".hidden.example") and
// oversize entries, and requires them to be refused without touching other
// entries.
//
// # Testing
//
// Package cache runs the suite against LRU and Dir, and cache/redisstore
// against a real redis-server (with STRICTMX_TEST_REDIS=1).
//
// This package is pre-v1: its API may change before strictmx v1.0.0.
//
// [RFC 8461]: https://www.rfc-editor.org/rfc/rfc8461
package cachetest
