package cache

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// ErrCacheMiss is returned by Store.Get when the store holds no entry for a
// domain. Callers treat it as "look the policy up"; any other error from Get
// means the store itself failed.
var ErrCacheMiss = errors.New("cache: miss")

// Store keeps MTA-STS policy entries, one per policy domain.
//
// Keys are policy domains as strictmx normalises them: lower-case A-labels
// with no trailing dot. Implementations must be safe for concurrent use.
// A Store never interprets the policy text; expiry is the consumer's
// decision (a Store may drop an entry once Expires has passed, and may drop
// any entry earlier to bound its size).
//
// Get returns the stored entry or ErrCacheMiss. The returned *Entry is
// shared: callers must not modify it. Put replaces the entry for e.Domain;
// the store takes ownership of e and the caller must not modify it after the
// call. Delete removes the entry for domain and is not an error when there is
// none.
type Store interface {
	Get(ctx context.Context, domain string) (*Entry, error)
	Put(ctx context.Context, e *Entry) error
	Delete(ctx context.Context, domain string) error
}

// GetterAt is implemented by a Store whose Get reads the clock (to expire
// entries from a memory tier, say), so that a caller that has just read
// the time can spare it a second reading. GetAt is Get at now: now is a
// reading of the system clock (time.Now, or a time derived from one with
// Add, so that it carries the monotonic reading), taken by the caller for
// the same call. A Store whose own clock is not the system clock (a test
// clock) ignores now and reads its own. Package mtasts calls GetAt instead
// of Get on a Store that implements it, when its own clock is the
// system's.
type GetterAt interface {
	GetAt(ctx context.Context, domain string, now time.Time) (*Entry, error)
}

// Entry is one cached lookup outcome for a policy domain.
//
// An entry with an empty ID records that the domain has no usable
// `_mta-sts` record (a negative entry); Policy is then empty.
type Entry struct {
	// Domain is the policy domain, normalised.
	Domain string
	// ID is the id= value of the `_mta-sts` TXT record the policy was
	// fetched under; empty for a negative entry.
	ID string
	// Policy is the policy file's body exactly as fetched.
	Policy string
	// Fetched is when the policy (or the absence of a record) was learnt.
	Fetched time.Time
	// Expires is when the entry stops being usable.
	Expires time.Time

	memo atomic.Pointer[memo]
	// freshUntil is set by the Store that returned the entry: see
	// SetFreshUntil.
	freshUntil atomic.Int64
}

type memo struct{ v any }

// Memo returns the value last given to SetMemo, or nil.
//
// A memo is an in-process decoded form of the entry kept by its consumer
// (package mtasts keeps the parsed policy there) so that a hit in a memory
// store costs no decoding. It is never persisted: an entry read back from a
// directory or from Redis starts without one.
func (e *Entry) Memo() any {
	if m := e.memo.Load(); m != nil {
		return m.v
	}
	return nil
}

// SetMemo records v as the entry's memo. It is safe to call concurrently
// with Memo; a later call replaces the value.
func (e *Entry) SetMemo(v any) { e.memo.Store(&memo{v}) }

// LoadOrStoreMemo returns the entry's memo if it has one (loaded true);
// otherwise it records v as the memo and returns v. Of concurrent callers
// on an entry without a memo, exactly one stores its v and all get that
// one, so that consumers building a memo at once agree on it.
func (e *Entry) LoadOrStoreMemo(v any) (actual any, loaded bool) {
	for {
		if m := e.memo.Load(); m != nil {
			return m.v, true
		}
		if e.memo.CompareAndSwap(nil, &memo{v}) {
			return v, false
		}
	}
}

// FreshAt reports whether the Store that returned e vouches that, at now
// (a Monotonic reading), a Get of e.Domain would return e itself without
// any I/O: until the time it last gave SetFreshUntil. A consumer that
// holds e may use it again until then without asking the Store (package
// mtasts does, so that a hit through a Store's memory tier costs what a
// hit in its own memory does). It is false for an entry no Store vouches
// for.
func (e *Entry) FreshAt(now int64) bool {
	u := e.freshUntil.Load()
	return u != 0 && now < u
}

// SetFreshUntil is for Store implementations with entries in memory: it
// records that until until (a Monotonic reading) a Get of e.Domain
// returns e, the very *Entry, without I/O. The Store must call
// SetFreshUntil(0) as soon as that stops being true before until: when a
// Put or Delete replaces or removes e, or it evicts or expires e. It
// should vouch for short spans (a second, say) and renew them on the Gets
// it sees, since a consumer that skips Get leaves the Store's recency
// order as it was at the last Get. A Store whose clock is not the system
// clock (a test clock) does not vouch. An entry belongs to one Store.
func (e *Entry) SetFreshUntil(until int64) { e.freshUntil.Store(until) }

// epoch is the origin of Monotonic: a reading of the system clock, with
// its monotonic reading, taken when the program starts.
var epoch = time.Now()

// Monotonic returns t as nanoseconds since an origin fixed when the
// program starts, on the monotonic clock when t carries a reading of it
// (time.Now, or a time derived from one with Add), so that a step of the
// wall clock moves nothing: the scale on which Stores vouch for entries
// (Entry.SetFreshUntil) and consumers check (Entry.FreshAt). A time
// without a monotonic reading is placed by its wall time.
func Monotonic(t time.Time) int64 { return int64(t.Sub(epoch)) }

// Negative reports whether e records the absence of a policy.
func (e *Entry) Negative() bool { return e.ID == "" }
