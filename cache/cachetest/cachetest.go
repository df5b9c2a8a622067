package cachetest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strictmx/strictmx/cache"
)

// MaxEntries is the most entries the suite keeps in one store at a time. A
// store under test must be able to hold that many without evicting any.
const MaxEntries = 1000

// Options adjusts RunStoreOptions to what a store promises beyond the Store
// contract.
type Options struct {
	// Reopen, if not nil, returns a new Store over the same persistent data
	// as s, as a process restart would see it (for example a new Dir on the
	// same path, or a new Redis store on the same server and prefix). It
	// may close s. When Reopen is set the suite also checks that entries,
	// replacements and deletions survive a reopen and that memos do not.
	Reopen func(t *testing.T, s cache.Store) cache.Store

	// SamePointer requires that Get, while the entry is held in memory,
	// returns the very *Entry given to Put, so that its memo is kept. All
	// strictmx stores promise it; package mtasts relies on it for cache
	// hits that do not allocate.
	SamePointer bool
}

// RunStore tests the store that newStore returns against the Store contract. It
// calls newStore once per subtest, and each call must return an empty store
// that shares nothing with the others. Stores that keep entries in memory
// and return the pointer given to Put should use RunStoreOptions with
// SamePointer; persistent stores should use RunStoreOptions with Reopen.
//
// What RunStore requires beyond the Store documentation:
//   - Get of a domain never stored, deleted or never valid returns an error
//     for which errors.Is(err, cache.ErrCacheMiss) holds, and a nil entry.
//   - Get returns an entry equal in Domain, ID and Policy, and whose Fetched
//     and Expires are Equal (time.Time.Equal: location and monotonic clock
//     reading may differ), to the last one Put for that domain, as long as
//     Expires is in the future. Entries already expired when Put may be
//     returned or may be a miss.
//   - An entry returned by Get is not changed by later calls.
//   - Put of nil, of an entry with an invalid domain (see
//     cache.ValidDomain) or of an entry over the size limits returns an
//     error and stores nothing; a policy of exactly cache.MaxPolicySize
//     octets is stored.
//   - Delete of an absent domain returns nil.
//   - All methods are safe for concurrent use, and concurrent Puts,
//     Gets and Deletes never expose a mix of two entries.
//   - With a cancelled context, each method either does its work and
//     returns nil (an entry, for Get) or returns an error for which
//     errors.Is(err, context.Canceled) holds; Get never reports a miss for
//     a present entry because of the context. Afterwards, with a live
//     context, the store holds either the old or the new state.
func RunStore(t *testing.T, newStore func(t *testing.T) cache.Store) {
	t.Helper()
	RunStoreOptions(t, newStore, Options{})
}

// RunStoreOptions is RunStore with the extra checks that opts asks for.
func RunStoreOptions(t *testing.T, newStore func(t *testing.T) cache.Store, opts Options) {
	t.Helper()
	s := suite{newStore: newStore, opts: opts}
	t.Run("Miss", s.miss)
	t.Run("PutGet", s.putGet)
	t.Run("Replace", s.replace)
	t.Run("Delete", s.delete)
	t.Run("Negative", s.negative)
	t.Run("Expired", s.expired)
	t.Run("Limits", s.limits)
	t.Run("Invalid", s.invalid)
	t.Run("ManyDomains", s.manyDomains)
	t.Run("Concurrent", s.concurrent)
	t.Run("CancelledContext", s.cancelled)
	t.Run("Memo", s.memo)
	t.Run("Vouching", s.vouching)
	if opts.Reopen != nil {
		t.Run("Reopen", s.reopen)
	}
}

type suite struct {
	newStore func(t *testing.T) cache.Store
	opts     Options
}

// base is a fixed instant in the future of any test run, so entries are
// unexpired whatever the store's clock says, with a nanosecond part and a
// non-UTC zone that persistent stores must keep (up to Equal).
var base = time.Date(2999, 3, 4, 5, 6, 7, 891011121, time.FixedZone("UTC+2", 2*3600))

// entry builds a positive entry whose policy names its domain and id, so a
// mix of two entries is detectable.
func entry(dom, id string) *cache.Entry {
	return &cache.Entry{
		Domain:  dom,
		ID:      id,
		Policy:  policyFor(dom, id),
		Fetched: time.Now().Add(-time.Minute), // has a monotonic clock reading
		Expires: base,
	}
}

func policyFor(dom, id string) string {
	return "version: STSv1\nmode: enforce\nmx: mx1." + dom + "\nmx: *." + dom + "\nmax_age: 604800\n# id " + id + "\n"
}

// fields returns a copy of e's exported fields.
func fields(e *cache.Entry) *cache.Entry {
	return &cache.Entry{Domain: e.Domain, ID: e.ID, Policy: e.Policy, Fetched: e.Fetched, Expires: e.Expires}
}

// equal reports how got differs from want, or "" if it does not.
func equal(got, want *cache.Entry) string {
	switch {
	case got == nil:
		return "nil entry"
	case got.Domain != want.Domain:
		return fmt.Sprintf("Domain %q, want %q", got.Domain, want.Domain)
	case got.ID != want.ID:
		return fmt.Sprintf("ID %q, want %q", got.ID, want.ID)
	case got.Policy != want.Policy:
		return fmt.Sprintf("Policy %.40q..., want %.40q...", got.Policy, want.Policy)
	case !got.Fetched.Equal(want.Fetched):
		return fmt.Sprintf("Fetched %v, want %v", got.Fetched, want.Fetched)
	case !got.Expires.Equal(want.Expires):
		return fmt.Sprintf("Expires %v, want %v", got.Expires, want.Expires)
	}
	return ""
}

func mustPut(t *testing.T, s cache.Store, e *cache.Entry) {
	t.Helper()
	if err := s.Put(t.Context(), e); err != nil {
		t.Fatalf("Put(%s): %v", e.Domain, err)
	}
}

func mustGet(t *testing.T, s cache.Store, want *cache.Entry) *cache.Entry {
	t.Helper()
	got, err := s.Get(t.Context(), want.Domain)
	if err != nil {
		t.Fatalf("Get(%s): %v", want.Domain, err)
	}
	if d := equal(got, want); d != "" {
		t.Fatalf("Get(%s): %s", want.Domain, d)
	}
	if s, w := got.Negative(), want.Negative(); s != w {
		t.Fatalf("Get(%s).Negative() = %v, want %v", want.Domain, s, w)
	}
	return got
}

func mustMiss(t *testing.T, s cache.Store, dom string) {
	t.Helper()
	got, err := s.Get(t.Context(), dom)
	if !errors.Is(err, cache.ErrCacheMiss) || got != nil {
		t.Fatalf("Get(%q) = %v, %v; want nil, ErrCacheMiss", dom, got, err)
	}
}

func (s *suite) miss(t *testing.T) {
	st := s.newStore(t)
	mustMiss(t, st, "example.com")
	mustPut(t, st, entry("example.com", "1"))
	mustMiss(t, st, "example.net")
	mustMiss(t, st, "mail.example.com")
}

func (s *suite) putGet(t *testing.T) {
	st := s.newStore(t)
	want := entry("example.com", "20260101")
	put := fields(want) // the store owns want now; keep our own copy
	mustPut(t, st, want)
	got := mustGet(t, st, put)
	if s.opts.SamePointer && got != want {
		t.Errorf("Get returned a different *Entry than the one given to Put")
	}
	mustGet(t, st, put) // a second Get (a memory-tier hit) agrees
}

func (s *suite) replace(t *testing.T) {
	st := s.newStore(t)
	old := entry("example.com", "1")
	mustPut(t, st, old)
	got := mustGet(t, st, old)
	snapshot := fields(got)
	mode := entry("example.com", "2")
	mode.Policy = "version: STSv1\nmode: none\nmax_age: 86400\n"
	mustPut(t, st, mode)
	mustGet(t, st, mode)
	if d := equal(got, snapshot); d != "" {
		t.Errorf("an entry returned by Get changed after a later Put: %s", d)
	}
	// Replacing with an entry that has an earlier Expires is honoured too.
	earlier := entry("example.com", "3")
	earlier.Expires = base.Add(-time.Hour)
	mustPut(t, st, earlier)
	mustGet(t, st, earlier)
}

func (s *suite) delete(t *testing.T) {
	st := s.newStore(t)
	if err := st.Delete(t.Context(), "absent.example"); err != nil {
		t.Fatalf("Delete of an absent domain: %v", err)
	}
	a, b := entry("a.example", "1"), entry("b.example", "1")
	mustPut(t, st, a)
	mustPut(t, st, b)
	mustGet(t, st, a)
	if err := st.Delete(t.Context(), "a.example"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	mustMiss(t, st, "a.example")
	mustGet(t, st, b)
	if err := st.Delete(t.Context(), "a.example"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	mustPut(t, st, a)
	mustGet(t, st, a)
}

func (s *suite) negative(t *testing.T) {
	st := s.newStore(t)
	neg := &cache.Entry{Domain: "no-sts.example", Fetched: time.Now(), Expires: base}
	mustPut(t, st, neg)
	if got := mustGet(t, st, neg); !got.Negative() {
		t.Fatalf("negative entry came back positive: %+v", got)
	}
	// A negative entry is replaced by a positive one and back.
	pos := entry("no-sts.example", "1")
	mustPut(t, st, pos)
	mustGet(t, st, pos)
	mustPut(t, st, neg)
	mustGet(t, st, neg)
}

func (s *suite) expired(t *testing.T) {
	st := s.newStore(t)
	old := entry("example.com", "1")
	mustPut(t, st, old)
	e := entry("example.com", "2")
	e.Fetched = time.Now().Add(-48 * time.Hour)
	e.Expires = time.Now().Add(-24 * time.Hour)
	mustPut(t, st, e)
	got, err := st.Get(t.Context(), e.Domain)
	switch {
	case errors.Is(err, cache.ErrCacheMiss):
	case err != nil:
		t.Fatalf("Get of an expired entry: %v", err)
	default:
		if d := equal(got, e); d != "" {
			t.Fatalf("Get after Put of an expired entry: %s (the older entry must not come back)", d)
		}
	}
	zero := &cache.Entry{Domain: "zero.example"} // zero times: expired long ago
	mustPut(t, st, zero)
	got, err = st.Get(t.Context(), zero.Domain)
	if err == nil {
		if d := equal(got, zero); d != "" {
			t.Fatalf("Get of an entry with zero times: %s", d)
		}
	} else if !errors.Is(err, cache.ErrCacheMiss) {
		t.Fatalf("Get of an entry with zero times: %v", err)
	}
}

func (s *suite) limits(t *testing.T) {
	st := s.newStore(t)
	long := strings.Repeat(strings.Repeat("a", 63)+".", 3) + strings.Repeat("b", 61)
	big := entry(long, strings.Repeat("Z", cache.MaxIDLength))
	big.Policy = strings.Repeat("p", cache.MaxPolicySize)
	mustPut(t, st, big)
	mustGet(t, st, big)

	over := entry("over.example", "1")
	over.Policy = strings.Repeat("p", cache.MaxPolicySize+1)
	if err := st.Put(t.Context(), over); err == nil {
		t.Fatalf("Put of a %d-octet policy succeeded", len(over.Policy))
	}
	mustMiss(t, st, "over.example")
}

func (s *suite) invalid(t *testing.T) {
	st := s.newStore(t)
	if err := st.Put(t.Context(), nil); err == nil {
		t.Errorf("Put(nil) succeeded")
	}
	for _, dom := range []string{
		"", ".", "..", "../etc", "a/b.example", "/etc", ".hidden.example",
		"Example.com", "example.com.", "a..b", "exa mple.com", "ex\x00ample.com",
		"192.0.2.1", "[::1]", strings.Repeat("a.", 127) + "com",
	} {
		if err := st.Put(t.Context(), entry(dom, "1")); err == nil {
			t.Errorf("Put with domain %q succeeded", dom)
		}
		if got, err := st.Get(t.Context(), dom); err == nil || got != nil {
			t.Errorf("Get(%q) = %v, %v; want an error", dom, got, err)
		}
		_ = st.Delete(t.Context(), dom) // may fail; must not panic
	}
	// Nothing above may have touched a valid neighbour.
	mustMiss(t, st, "etc")
	mustMiss(t, st, "hidden.example")
}

func (s *suite) manyDomains(t *testing.T) {
	st := s.newStore(t)
	entries := make([]*cache.Entry, MaxEntries)
	for i := range entries {
		entries[i] = entry("d"+strconv.Itoa(i)+".example", strconv.Itoa(i))
		mustPut(t, st, entries[i])
	}
	for i, e := range entries {
		want := fields(e)
		if i%3 == 0 {
			if err := st.Delete(t.Context(), e.Domain); err != nil {
				t.Fatal(err)
			}
			mustMiss(t, st, e.Domain)
			continue
		}
		mustGet(t, st, want)
	}
}

func (s *suite) concurrent(t *testing.T) {
	st := s.newStore(t)
	const (
		workers = 8
		ops     = 300
		domains = 10
	)
	ctx := t.Context()
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range ops {
				dom := "c" + strconv.Itoa((w+i)%domains) + ".example"
				var err error
				switch i % 5 {
				case 0:
					err = st.Put(ctx, entry(dom, strconv.Itoa(w*ops+i)))
				case 1:
					if i%10 == 1 {
						err = st.Delete(ctx, dom)
					} else {
						err = st.Put(ctx, &cache.Entry{Domain: dom, Fetched: base, Expires: base})
					}
				default:
					var e *cache.Entry
					e, err = st.Get(ctx, dom)
					switch {
					case errors.Is(err, cache.ErrCacheMiss):
						err = nil
					case err != nil:
					case e == nil:
						err = fmt.Errorf("Get(%s) returned a nil entry and no error", dom)
					case e.Domain != dom:
						err = fmt.Errorf("Get(%s) returned an entry for %s", dom, e.Domain)
					case e.Negative() && e.Policy != "",
						!e.Negative() && e.Policy != policyFor(dom, e.ID):
						err = fmt.Errorf("Get(%s) returned a mix of entries: id %q, policy %q", dom, e.ID, e.Policy)
					}
				}
				if err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}

func (s *suite) cancelled(t *testing.T) {
	st := s.newStore(t)
	present := entry("present.example", "1")
	mustPut(t, st, present)
	mustGet(t, st, present)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ok := func(op string, err error) {
		t.Helper()
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v; want nil or context.Canceled", op, err)
		}
	}
	got, err := st.Get(ctx, present.Domain)
	ok("Get", err)
	if err == nil {
		if d := equal(got, present); d != "" {
			t.Errorf("Get with a cancelled context: %s", d)
		}
	}
	_, err = st.Get(ctx, "absent.example")
	if !errors.Is(err, cache.ErrCacheMiss) {
		ok("Get of an absent domain", err)
	}
	next := entry("present.example", "2")
	ok("Put", st.Put(ctx, next))
	ok("Delete", st.Delete(ctx, "other.example"))

	// Either state is fine; a mix or a broken store is not.
	got, err = st.Get(t.Context(), present.Domain)
	if err != nil {
		t.Fatalf("Get after a cancelled Put: %v", err)
	}
	if equal(got, present) != "" && equal(got, next) != "" {
		t.Fatalf("after a cancelled Put, Get returned neither the old nor the new entry: %+v", got)
	}
	ok("Delete", st.Delete(ctx, present.Domain))
	if _, err := st.Get(t.Context(), present.Domain); err != nil && !errors.Is(err, cache.ErrCacheMiss) {
		t.Fatalf("Get after a cancelled Delete: %v", err)
	}
}

func (s *suite) memo(t *testing.T) {
	st := s.newStore(t)
	e := entry("memo.example", "1")
	e.SetMemo("parsed")
	mustPut(t, st, e)
	got := mustGet(t, st, e)
	if s.opts.SamePointer {
		if got != e {
			t.Fatalf("Get returned a different *Entry than the one given to Put")
		}
		if got.Memo() != "parsed" {
			t.Fatalf("memo lost: %v", got.Memo())
		}
	}
	// A memo set on the returned entry is seen by the next Get of the same
	// entry, when the store returns the same pointer.
	got.SetMemo("again")
	if again := mustGet(t, st, e); again == got && again.Memo() != "again" {
		t.Fatalf("memo on a shared entry = %v", again.Memo())
	}
}

// vouching checks what a Store that vouches for its entries
// (cache.Entry.SetFreshUntil) must keep to: an entry it vouches for is what
// its Get returns, and one it replaced, deleted or evicted is no longer
// vouched for. A Store that never vouches passes.
func (s *suite) vouching(t *testing.T) {
	st := s.newStore(t)
	vouched := func(e *cache.Entry) bool { return e.FreshAt(cache.Monotonic(time.Now())) }
	// get is Get, or GetAt on the system clock for a GetterAt: what
	// package mtasts calls, and where a Store without a clock vouches.
	get := func(d string) (*cache.Entry, error) {
		if g, ok := st.(cache.GetterAt); ok {
			return g.GetAt(t.Context(), d, time.Now())
		}
		return st.Get(t.Context(), d)
	}
	check := func(e *cache.Entry, what string) {
		t.Helper()
		if !vouched(e) {
			return
		}
		if got, err := st.Get(t.Context(), e.Domain); err != nil || got != e {
			t.Fatalf("%s: the entry is vouched for, but Get returns %v, %v", what, got, err)
		}
	}
	mustGetNow := func(want *cache.Entry) *cache.Entry {
		t.Helper()
		got, err := get(want.Domain)
		if err != nil {
			t.Fatalf("Get(%s): %v", want.Domain, err)
		}
		if d := equal(got, want); d != "" {
			t.Fatalf("Get(%s): %s", want.Domain, d)
		}
		return got
	}
	a := entry("a.example", "1")
	mustPut(t, st, a)
	got := mustGetNow(a)
	check(got, "after Put")
	b := entry("a.example", "2")
	mustPut(t, st, b)
	if vouched(got) {
		t.Fatal("an entry replaced by a Put is still vouched for")
	}
	got = mustGetNow(b)
	check(got, "after a second Put")
	if err := st.Delete(t.Context(), "a.example"); err != nil {
		t.Fatal(err)
	}
	if vouched(got) {
		t.Fatal("a deleted entry is still vouched for")
	}
	// However many entries the store holds or evicts, one vouched for is
	// the one Get returns.
	entries := make([]*cache.Entry, MaxEntries)
	for i := range entries {
		entries[i] = entry("d"+strconv.Itoa(i)+".example", strconv.Itoa(i))
		mustPut(t, st, entries[i])
		if _, err := get(entries[i].Domain); err != nil {
			t.Fatal(err)
		}
	}
	for i, e := range entries {
		check(e, "entry "+strconv.Itoa(i)+" of "+strconv.Itoa(MaxEntries))
	}
}

func (s *suite) reopen(t *testing.T) {
	st := s.newStore(t)
	kept := entry("kept.example", "1")
	kept.SetMemo("parsed")
	replaced := entry("replaced.example", "1")
	gone := entry("gone.example", "1")
	neg := &cache.Entry{Domain: "neg.example", Fetched: time.Now(), Expires: base}
	for _, e := range []*cache.Entry{kept, replaced, gone, neg} {
		mustPut(t, st, e)
	}
	replaced2 := entry("replaced.example", "2")
	mustPut(t, st, replaced2)
	if err := st.Delete(t.Context(), gone.Domain); err != nil {
		t.Fatal(err)
	}

	st = s.opts.Reopen(t, st)
	got := mustGet(t, st, kept)
	if got.Memo() != nil {
		t.Errorf("memo survived a reopen: %v", got.Memo())
	}
	mustGet(t, st, replaced2)
	mustGet(t, st, neg)
	mustMiss(t, st, gone.Domain)

	// The reopened store is fully usable.
	more := entry("more.example", "1")
	mustPut(t, st, more)
	if err := st.Delete(t.Context(), kept.Domain); err != nil {
		t.Fatal(err)
	}
	st = s.opts.Reopen(t, st)
	mustGet(t, st, more)
	mustMiss(t, st, kept.Domain)
}
