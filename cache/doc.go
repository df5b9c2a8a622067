// Package cache stores MTA-STS ([RFC 8461]) policies between lookups: the Store
// interface that package mtasts consumes, the Entry it stores, a versioned
// encoding of entries for stores outside the process, and two stores:
// [LRU], in memory, and [Dir], on disk. Package cache/redisstore adds a
// Store on Redis shared by a fleet of senders, and cache/cachetest is the
// conformance suite every Store, including third-party ones, should pass.
//
// RFC 8461, Section 3.2 lets a sender keep a policy for its max_age, and
// RFC 8461, Section 5.1 has it use the cached policy while it is valid; the
// cache is what makes MTA-STS resist an attacker who blocks policy
// discovery (RFC 8461, Section 10.2). The decisions (when an entry is
// fresh, when to re-check the id, what to keep after a failed refresh)
// belong to package mtasts; a Store only keeps entries.
//
// # What it does not do
//
// A Store never parses a policy, never fetches, and does not decide expiry:
// LRU and Dir return an entry whatever its Expires (Dir.Prune removes old
// files); redisstore lets Redis expire keys at Expires. Stores do not
// enumerate their entries. Dir is for one process per directory; share a
// cache between hosts with redisstore. Dir does not share a directory with
// anything else: it refuses one that is not its own (ErrForeignDir) rather
// than read, replace or delete files it did not write.
//
// # Usage
//
//	// In memory (an mtasts.Client with a nil Store keeps its own instead):
//	store := cache.NewLRU(0)
//
//	// On disk, surviving restarts:
//	store, err := cache.NewDir("/var/lib/mysender/mta-sts")
//	if errors.Is(err, cache.ErrForeignDir) { ... } // another program's files
//	if err != nil { ... }
//
//	client := &mtasts.Client{Store: store}
//
// A Store used directly:
//
//	e, err := store.Get(ctx, "example.com")
//	switch {
//	case errors.Is(err, cache.ErrCacheMiss): // look the policy up
//	case err != nil: // the store failed; treat as a miss and log
//	default: // e.Policy, e.ID, e.Expires; e must not be modified
//	}
//
// # Entries and memos
//
// Entry holds the policy text exactly as fetched, its id, and when it was
// fetched and expires. Its memo (Entry.Memo, Entry.SetMemo) lets the
// consumer keep a decoded form next to it; memory stores and the memory
// tiers of Dir and redisstore return the *Entry given to Put, so the memo
// survives and a cache hit neither decodes nor allocates. Memos are never
// persisted.
//
// # Vouching
//
// A Store whose entries are in memory can vouch for the entry it returned
// (Entry.SetFreshUntil): until a time on the monotonic clock (Monotonic,
// which no wall-clock step moves), a Get of its domain returns that very
// *Entry without I/O, unless the Store withdraws first, which it does as
// soon as a Put, Delete, eviction or expiry makes that false. A consumer
// holding the entry may skip Get until then (Entry.FreshAt): package
// mtasts does, so that a hit through a Store's memory costs what a hit in
// its own memory does. LRU, Dir (for entries in its memory tier) and
// redisstore vouch for a second at a time, from their GetAt (which tells
// them the time), so that their recency order stays right to within a
// second; redisstore never past LocalTTL. A Store with its own clock
// does not vouch. cachetest checks that a Store that vouches withdraws in
// time.
//
// # Encoding
//
// MarshalEntry and UnmarshalEntry use a fixed-width binary layout that
// starts with a version byte (EncodingVersion) and ends with a CRC-32C.
// Data of another version, truncated, padded or damaged is refused with a
// *CorruptError (errors.Is ErrCorrupt); stores treat it as a miss, so a
// format change costs at most one refetch per domain.
//
// # Performance
//
// A hit in LRU, or in the memory tier of Dir, takes one mutex and
// allocates nothing (about 45 ns on a 2-core Xeon, BenchmarkLRUGet). Over
// 100,000 entries with a Gmail-sized policy an LRU holds about 380 bytes
// per entry (TestLRUMemoryPerEntry), before the consumer's memo.
//
// # Security
//
// Entries are size-bounded (MaxDomainLength, MaxIDLength, MaxPolicySize)
// on the way in and out; a decoder reads at most MaxEncodedSize bytes of a
// file, and garbage never panics (FuzzUnmarshalEntry). Dir uses the domain
// as a file name only after ValidDomain has accepted it (lower-case LDH, so
// no '/', no leading '.', no "..") and creates its directory with mode
// 0700: it must be writable only by the sender, since whoever can write
// it chooses the policies (and could plant a FIFO or a symlink). A Dir
// write is atomic and durable (temporary file, fsync, rename,
// fsync of the directory), so a crash leaves old or new entries, never a
// torn one; a lost cache would reopen the window RFC 8461, Section 10.2
// describes. An entry returned by Get is shared: modifying it is a bug.
//
// Dir deletes files (corrupt entries, Prune, stale temporary files) and
// replaces them, so it works only in a directory it owns, marked by a
// DirMarker file that it writes into a new or empty directory. Pointed at a
// directory without the marker that holds anything but entries and
// temporary files of this package (another MTA's cache, which may name its
// files after domains too, or a mistyped path such as /var/lib), NewDir
// fails with ErrForeignDir and a Dir made without NewDir fails every call
// that would touch a file with it, logging a warning once; nothing in the
// directory changes. An unmarked directory holding only this package's
// files, as strictmx versions without the marker left them, is adopted.
//
// # Testing
//
// Every store here passes cache/cachetest. TestDirForeignDirUntouched points
// a Dir at a directory of another MTA's cache and checks that no file
// changes. TestDirSurvivesKill re-executes
// the test binary, kills it with SIGKILL in the middle of a stream of Puts
// and checks every completed Put and every file. The memory figure comes
// from `go test -run TestLRUMemoryPerEntry -v ./cache/`; benchmarks from
// `go test -run '^$' -bench . ./cache/`.
//
// This package is pre-v1: its API may change before strictmx v1.0.0.
//
// [RFC 8461]: https://www.rfc-editor.org/rfc/rfc8461
package cache
