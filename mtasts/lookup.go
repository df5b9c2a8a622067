package mtasts

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/sync/singleflight"

	"github.com/strictmx/strictmx/cache"
	"github.com/strictmx/strictmx/internal/domain"
	"github.com/strictmx/strictmx/tlsrpt"
)

// Source says where a Result's policy came from.
type Source int

const (
	// SourceNone: no policy applies; deliver as if the domain had no
	// MTA-STS.
	SourceNone Source = iota
	// SourceFetch: the policy was fetched for this lookup.
	SourceFetch
	// SourceCache: the policy came from the cache.
	SourceCache
	// SourceCacheAfterFailure: refreshing the policy failed and the cached,
	// unexpired policy is used instead (RFC 8461, Section 3.3). Failure
	// says how the refresh failed; it is empty when the refresh was not
	// started (Err wraps ErrDiscoveryLimit).
	SourceCacheAfterFailure
)

func (s Source) String() string {
	switch s {
	case SourceNone:
		return "none"
	case SourceFetch:
		return "fetch"
	case SourceCache:
		return "cache"
	case SourceCacheAfterFailure:
		return "cache-after-failure"
	}
	return fmt.Sprintf("Source(%d)", int(s))
}

// Result is the outcome of a Lookup. Results are shared between callers:
// treat them, and the Policy in them, as read-only.
type Result struct {
	// Domain is the policy domain, normalised.
	Domain string
	// Policy is the policy to apply, or nil when none applies.
	Policy *Policy
	// ID is the `_mta-sts` id the policy was fetched under.
	ID string
	// Source says where Policy came from.
	Source Source
	// Fetched is when Policy was fetched; Expires when it stops applying.
	// Zero when Policy is nil.
	Fetched, Expires time.Time
	// Failure is the TLS-RPT result type of a failed discovery or fetch
	// (sts-policy-fetch-error, sts-policy-invalid, sts-webpki-invalid), set
	// whether or not a cached policy was used instead; "" when nothing
	// failed that is reported.
	Failure tlsrpt.ResultType
	// Err is the error behind Failure, or the discovery error that left the
	// domain without a policy (wrapping ErrNoRecord, ErrRecordSyntax,
	// ErrMultipleRecords or ErrDNSTemporary), or ErrDiscoveryLimit when the
	// discovery was not started. Nil on a clean result.
	Err error
}

// Mode returns the policy's mode, or ModeNone when there is no policy.
func (r *Result) Mode() Mode {
	if r.Policy == nil {
		return ModeNone
	}
	return r.Policy.Mode
}

// state is what the Client keeps of one domain, in its memory (index)
// and in a cache entry's memo: the Result that a hit returns, parsed
// policy included, built once, and the little a hit needs beside it. It
// is the only copy: a hit returns &result, and the cache entry given to a
// Store (if any) holds the policy text only as the Store needs it.
type state struct {
	result Result
	// next is the state that replaced this one, when the store may still
	// hand this one out: a Put of the newer policy failed, the newer
	// policy had max_age 0 and replaced it with nothing, or the policy is
	// now served as a fallback (failedID).
	next atomic.Pointer[state]
	// clock packs two readings into one word, so that a state takes 144
	// bytes: above clockTouchBits, a Unix time in ticks of about a
	// millisecond, for a policy its last id check and for "no record"
	// when it expires (a policy's expiry is result.Expires); below, the
	// period of about a second of the hit that last made the state the
	// most recently used of its index (see the constants below).
	clock atomic.Int64
}

// vouched is an entry that the Store vouches for (cache.Entry.FreshAt),
// held by the Client so that a hit on it need not ask the Store.
type vouched struct {
	e       *cache.Entry // a memo is set once (stateOf), so:
	st      *state       // e's memo
	touched atomic.Int64 // the promotion period (see state.promote) of the last one
}

// vouchedRef is a vouched entry as a member of an index.
type vouchedRef struct{ *vouched }

func (r vouchedRef) key() string { return r.e.Domain }

func (r vouchedRef) promote(now int64) bool {
	p, last := now>>promoteShift, r.touched.Load()
	return p != last && r.touched.CompareAndSwap(last, p)
}

// heldState and heldVouched are index.get for Lookup's hits, written for
// their types: the generic get compares domains through a call in the
// generic dictionary, which costs a hit a nanosecond or two.
func heldState(x *index[stateRef], d string) *state {
	h := x.hash(d)
	if t := x.shard(h).Load(); t != nil {
		lo, hi, tags := t.span(h)
		for i, tag := lo, tagOf(h); i < hi; i++ {
			if t.tag(tags, i) == tag && t.states[i].result.Domain == d {
				return t.states[i].state
			}
		}
	}
	return nil
}

func heldVouched(x *index[vouchedRef], d string) *vouched {
	h := x.hash(d)
	if t := x.shard(h).Load(); t != nil {
		lo, hi, tags := t.span(h)
		for i, tag := lo, tagOf(h); i < hi; i++ {
			if t.tag(tags, i) == tag && t.states[i].e.Domain == d {
				return t.states[i].vouched
			}
		}
	}
	return nil
}

// stateRef is a state as a member of the Client's memory (an index). A
// struct, not the pointer itself, so that the index is compiled for it
// alone and its calls to key and promote are direct.
type stateRef struct{ *state }

func (r stateRef) key() string { return r.result.Domain }

// The clock word of a state: its high bits a time in ticks of 2^tickShift
// ns (about a millisecond), its low clockTouchBits the period of
// 2^promoteShift ns (about a second) of the last promotion, modulo
// 2^clockTouchBits. Powers of two, so that the hit path only shifts.
const (
	clockTouchBits = 16
	clockTouchMask = 1<<clockTouchBits - 1
	tickShift      = 20
	promoteShift   = 30
)

// newState returns the state of res, a policy or "no record", that
// applies until expires and was last checked at lastCheck (both Unix
// nanoseconds). A policy's expires must be res.Expires.
func newState(res *Result, expires, lastCheck int64) *state {
	st := &state{result: *res}
	t := lastCheck
	if res.Policy == nil {
		t = expires
	}
	st.clock.Store(t >> tickShift << clockTouchBits)
	return st
}

// stamp is the time kept in st.clock, in Unix nanoseconds, rounded down
// to a tick.
func (st *state) stamp() int64 { return st.clock.Load() >> clockTouchBits << tickShift }

// lastCheck returns when st's policy's id was last checked, rounded down
// to a tick (Unix nanoseconds).
func (st *state) lastCheck() int64 { return st.stamp() }

// setLastCheck records an id check of st's policy at now (Unix
// nanoseconds), keeping the promotion period.
func (st *state) setLastCheck(now int64) {
	for {
		w := st.clock.Load()
		if st.clock.CompareAndSwap(w, now>>tickShift<<clockTouchBits|w&clockTouchMask) {
			return
		}
	}
}

// claimCheck sets st's last id check to now and reports true if the last
// one was interval or more before now; exactly one caller per interval
// wins.
func (st *state) claimCheck(now int64, interval time.Duration) bool {
	for {
		w := st.clock.Load()
		if now-w>>clockTouchBits<<tickShift < int64(interval) {
			return false
		}
		if st.clock.CompareAndSwap(w, now>>tickShift<<clockTouchBits|w&clockTouchMask) {
			return true
		}
	}
}

// promote reports whether a hit at now (Unix nanoseconds) should make st
// the most recently used: true for the first hit in each period of about
// a second (2^promoteShift ns), so that hits write no shared memory and
// scale with cores. The eviction order is right to within that.
func (st *state) promote(now int64) bool {
	w := st.clock.Load()
	p := now >> promoteShift & clockTouchMask
	return w&clockTouchMask != p && st.clock.CompareAndSwap(w, w&^clockTouchMask|p)
}

// failedID is the id whose policy could not be fetched when st serves
// the cached policy as a fallback for it, and "" otherwise.
func (st *state) failedID() string {
	if f, ok := st.result.Err.(*fallbackFailure); ok {
		return f.id
	}
	return ""
}

// jitter is how much earlier than its due time Run refreshes d's policy:
// up to a minute, the same for a domain on every pass.
func (c *Client) jitter(d string) time.Duration {
	return time.Duration(maphash.String(c.mem.seed, d) % uint64(time.Minute))
}

// maxStateHops bounds the walk along next; each hop is a policy fetched
// while the store kept returning an older one.
const maxStateHops = 16

// latest returns the newest state that replaced st, or st.
func (st *state) latest() *state {
	for range maxStateHops {
		nx := st.next.Load()
		if nx == nil {
			break
		}
		st = nx
	}
	return st
}

// live reports whether st's result applies at now (Unix nanoseconds).
func (st *state) live(now int64) bool {
	if st.result.Policy == nil {
		return now < st.stamp() // "no record": expires to the tick
	}
	return now < st.result.Expires.UnixNano()
}

// maxFailureText bounds the text a back-off entry keeps of a failed fetch.
const maxFailureText = 256

// fetchClass names, one bit each, the fetch errors a back-off entry keeps
// of the error it summarises, so that errors.Is still finds them.
var fetchClasses = [...]error{ErrPolicyFetch, ErrPolicyInvalid, ErrWebPKI, ErrDialGuard}

// fetchFailure is what the back-off keeps of a failed fetch: which fetch
// errors it wrapped and a bounded copy of its text. Never the error itself,
// which can hold what the policy host sent (its certificate chain, a
// 256 KiB certificate message, in a *tls.CertificateVerificationError).
type fetchFailure struct {
	classes uint8 // bit i set: the error wrapped fetchClasses[i]
	text    string
}

// summarize returns the fetchFailure of err, a failed fetch.
func summarize(err error) fetchFailure {
	var f fetchFailure
	for i, class := range fetchClasses {
		if errors.Is(err, class) {
			f.classes |= 1 << i
		}
	}
	if f.classes == 0 {
		f.classes = 1 // ErrPolicyFetch: every fetch error is one
	}
	text := err.Error()
	if len(text) > maxFailureText {
		text = text[:maxFailureText]
		for len(text) > 0 && !utf8.ValidString(text) {
			text = text[:len(text)-1]
		}
		text += "..."
	}
	f.text = strings.Clone(text) // not a slice of the whole text
	return f
}

func (f *fetchFailure) Error() string { return f.text }

// fallbackFailure is the Err of a cached policy served as the fallback
// for a newer id whose policy could not be fetched: the failure, as the
// back-off keeps it, and that id.
type fallbackFailure struct {
	fetchFailure
	id string
}

// Unwrap returns the fetch errors the failed fetch wrapped.
func (f *fetchFailure) Unwrap() []error {
	var errs []error
	for i, class := range fetchClasses {
		if f.classes&(1<<i) != 0 {
			errs = append(errs, class)
		}
	}
	return errs
}

// backoff is the back-off entry of a domain whose fetch failed.
type backoff struct {
	id    string
	until int64 // unix nanoseconds
	fail  fetchFailure
}

// backoffTable holds the back-off entries, at most DefaultCacheSize, oldest
// first. Every entry lasts FetchBackoff, so the oldest is also the first to
// expire, and expired entries are dropped from that end whenever one is
// added (and by Run), so that they last no longer than their deadline.
type backoffTable struct {
	mu  sync.Mutex
	lru *simplelru.LRU[string, backoff]
}

func newBackoffTable(size int) *backoffTable {
	l, _ := simplelru.NewLRU[string, backoff](size, nil)
	return &backoffTable{lru: l}
}

// get returns the unexpired back-off entry of d for id.
func (t *backoffTable) get(d, id string, now int64) (backoff, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b, ok := t.lru.Peek(d) // Peek: the order stays that of the deadlines
	if ok && now >= b.until {
		t.lru.Remove(d)
		ok = false
	}
	return b, ok && b.id == id
}

// add records that the fetch of d under id failed with err at now.
func (t *backoffTable) add(d, id string, now int64, err error) {
	b := backoff{id: id, until: now + int64(FetchBackoff), fail: summarize(err)}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweepLocked(now)
	t.lru.Add(d, b) // a replaced entry moves to the newest end
}

func (t *backoffTable) remove(d string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lru.Remove(d)
}

// sweep drops the entries whose deadline has passed.
func (t *backoffTable) sweep(now int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweepLocked(now)
}

func (t *backoffTable) sweepLocked(now int64) {
	for t.lru.Len() > 0 { // each turn removes an entry or stops
		_, b, _ := t.lru.GetOldest()
		if now < b.until {
			return
		}
		t.lru.RemoveOldest()
	}
}

// Lookup returns the MTA-STS policy that applies to mail for domain now.
//
// A cached, unexpired policy is returned at once; if its `_mta-sts` id is
// due for a re-check (Client.RecheckInterval), the check runs in the
// background, shared by all callers. Otherwise the policy is discovered and
// fetched; concurrent Lookups of one domain share that work, which runs
// detached from any one caller with its own timeout, so a caller whose ctx
// ends gets ctx.Err() and the others are not disturbed.
//
// "Cached" means in the Store, or held by the Client: a policy it fetched
// is used until it expires even when the Store failed to keep it. While a
// Store vouches for the entry it returned (cache.Entry.FreshAt: LRU, Dir
// and redisstore do, a second at a time), hits on it do not call the
// Store, and see its new entry as soon as it has one. When
// MaxDiscoveries are in flight a discovery is not started and the Result,
// at once, has no policy and an Err wrapping ErrDiscoveryLimit.
//
// "No MTA-STS" and every remote failure are Results, not errors. The error
// is for the caller's problems: an invalid domain (ErrInvalidDomain) or the
// end of ctx.
//
// The Client has one notion of now, for hits and misses alike: Client.Now
// if set, otherwise the system's wall time read once, when the Client is
// first used, advanced by the monotonic clock. A cache hit reads the
// monotonic clock once and nothing else; a step of the wall clock after
// first use (an NTP correction, an operator's date) moves no expiry,
// re-check or back-off, and the Fetched and Expires of a Result are on
// that notion too. A Store shared with other processes compares them to
// its own clock, so keep the system clock synchronised.
func (c *Client) Lookup(ctx context.Context, domainName string) (*Result, error) {
	c.init()
	if c.store == nil {
		// A name that the Client's memory holds equals a normalised name,
		// so it is normal: a hit on it needs no normalisation.
		if st := heldState(c.mem, domainName); st != nil {
			now := c.nowUnix()
			if st = st.latest(); st.live(now) {
				return c.hit(ctx, st, now), nil
			}
		}
	} else if c.vouching.Load() {
		// An entry the Store vouches for is what its Get would return, as
		// fromStore would take it; its domain is normal.
		if v := heldVouched(c.vouched, domainName); v != nil {
			now := c.nowUnix()
			if v.e.FreshAt(c.monotonic(now)) {
				if st := v.st.latest(); st.live(now) {
					return c.hit(ctx, st, now), nil
				}
			}
		}
	}
	d, err := c.start(domainName)
	if err != nil {
		return nil, err
	}
	now := c.nowUnix()
	if st := c.usable(ctx, d, now); st != nil {
		return c.hit(ctx, st, now), nil
	}
	if h := c.Hooks.CacheMiss; h != nil {
		h(d)
	}
	return wait(ctx, c.discoverShared(ctx, d, discoverIfNew, true))
}

// hit is Lookup's answer from st, a usable state, at now (Unix
// nanoseconds): its Result, after starting the id re-check if one is due.
func (c *Client) hit(ctx context.Context, st *state, now int64) *Result {
	d := st.result.Domain
	if st.promote(now) { // index.touch, with a direct call on the hit path
		c.mem.bump(stateRef{st})
	}
	if h := c.Hooks.CacheHit; h != nil {
		h(d)
	}
	if st.result.Policy != nil && c.claimRecheck(st, now) {
		c.discoverShared(ctx, d, discoverIfNew, true) // in the background
	}
	return &st.result
}

// usable returns what answers for d at now (unix nanoseconds) without a
// discovery: the store's unexpired entry, or, when the store misses, fails
// or has only an expired entry, the unexpired policy the Client holds in
// memory. RFC 8461, Section 10.2: the cache is what resists an attacker who
// blocks discovery, so a policy once fetched is used until it expires
// whatever the store does. It returns nil when there is neither.
//
// Spec note: RFC 8461, Section 3.3 speaks of "a valid (non-expired)
// previously cached policy" without saying where it is kept. Ours is the
// newest of the Store's entry and the policy the Client holds (by fetch
// time), and a Store's "no record" entry never hides an unexpired policy
// the Client holds: that would be the downgrade the cache exists to stop.
//
// Without a Store, the Client's memory is the store and holds "no record"
// entries too.
func (c *Client) usable(ctx context.Context, d string, now int64) *state {
	if c.store != nil {
		if st := c.fromStore(ctx, d, now); st != nil {
			return st
		}
	}
	if st := c.mem.get(d).state; st != nil {
		if st = st.latest(); st.live(now) {
			return st
		}
	}
	return nil
}

// fromStore returns the Store's unexpired entry for d at now, as a state.
func (c *Client) fromStore(ctx context.Context, d string, now int64) *state {
	var (
		e   *cache.Entry
		err error
	)
	if c.storeAt != nil {
		e, err = c.storeAt.GetAt(ctx, d, c.storeTime(now)) // no second clock read
	} else {
		e, err = c.store.Get(ctx, d)
	}
	switch {
	case err == nil:
		if now < e.Expires.UnixNano() {
			if st := c.stateOf(ctx, e); st != nil {
				if st = st.latest(); st.live(now) {
					c.remember(e, now)
					return st
				}
			}
		}
	case !errors.Is(err, cache.ErrCacheMiss):
		c.log.WarnContext(ctx, "mtasts: cache get failed; using what the client holds", "domain", d, "err", err)
	}
	return nil
}

// remember holds e, which the Store returned at now, while the Store
// vouches for it (cache.Entry.FreshAt), so that Lookup's hits on it skip
// the Store. Only without Client.Now: Stores vouch on the system's
// monotonic clock (cache.Monotonic).
func (c *Client) remember(e *cache.Entry, now int64) {
	if c.vouched == nil || !e.FreshAt(c.monotonic(now)) {
		return
	}
	if v := c.vouched.get(e.Domain).vouched; v != nil && v.e == e {
		// The Store vouches for short spans (cache.Entry.SetFreshUntil),
		// so the hits on e come here often enough to keep its recency.
		c.vouched.touch(vouchedRef{v}, now)
		return
	}
	st, ok := e.Memo().(*state)
	if !ok {
		return
	}
	c.vouched.add(vouchedRef{&vouched{e: e, st: st}})
	c.vouching.Store(true)
}

// usablePolicy is usable without "no record" entries: the cached policy a
// discovery falls back on.
func (c *Client) usablePolicy(ctx context.Context, d string, now int64) *state {
	if st := c.usable(ctx, d, now); st != nil && st.result.Policy != nil {
		return st
	}
	if st := c.mem.get(d).state; st != nil { // behind a "no record" entry of the store
		if st = st.latest(); st.live(now) && st.result.Policy != nil {
			return st
		}
	}
	return nil
}

// start readies the Client and normalises the domain a public method was
// given; an invalid one is the caller's error.
func (c *Client) start(domainName string) (string, error) {
	c.init()
	d, err := domain.Normalize(domainName)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidDomain, err)
	}
	return d, nil
}

// CheckID re-checks domain's `_mta-sts` id now, whatever the re-check
// interval, and fetches the policy if the id changed. Call it before
// treating the failure of every MX under an enforce policy as final
// (RFC 8461, Section 5.1): a new id means a new policy and a new plan.
func (c *Client) CheckID(ctx context.Context, domainName string) (*Result, error) {
	d, err := c.start(domainName)
	if err != nil {
		return nil, err
	}
	return wait(ctx, c.discoverShared(ctx, d, discoverIfNew, true))
}

// Refresh looks domain's record up and fetches its policy now, even when
// the cached policy is fresh and its id unchanged (a publisher may change a
// policy without changing the id). On failure the cached policy is kept.
func (c *Client) Refresh(ctx context.Context, domainName string) (*Result, error) {
	d, err := c.start(domainName)
	if err != nil {
		return nil, err
	}
	return wait(ctx, c.discoverShared(ctx, d, discoverForce, true))
}

// Purge forgets everything cached about domain: the policy, "no record",
// and a fetch failure's back-off.
func (c *Client) Purge(ctx context.Context, domainName string) error {
	d, err := c.start(domainName)
	if err != nil {
		return err
	}
	c.backoff.remove(d)
	c.mem.remove(d, stateRef{})
	if c.vouched != nil {
		c.vouched.remove(d, vouchedRef{})
	}
	if c.store == nil {
		return nil
	}
	return c.store.Delete(ctx, d)
}

// discoverShared runs discover for d in mode how once for all concurrent
// callers asking the same. The work is detached from the cancellation of
// the ctx that started it and bounded by the fetch timeout. A limited
// discovery counts against MaxDiscoveries, and is not started when that
// many are in flight: its callers get the overflow Result at once.
func (c *Client) discoverShared(ctx context.Context, d string, how discoverMode, limited bool) <-chan singleflight.Result {
	return c.flight.DoChan(strconv.Itoa(int(how))+" "+d, func() (any, error) {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.fetchTimeout())
		defer cancel()
		if limited {
			if c.discoveries.Add(1) > int64(c.maxDiscoveries()) {
				c.discoveries.Add(-1)
				return c.overflow(wctx, d), nil
			}
			defer c.discoveries.Add(-1)
		}
		return c.discover(wctx, d, how), nil
	})
}

// overflow is the Result of a discovery of d that was not started because
// MaxDiscoveries are in flight: the policy the Client has for d if any,
// otherwise none, with an error wrapping ErrDiscoveryLimit. Nothing is
// cached and no back-off is set: nothing was asked of the domain.
//
// Spec note: RFC 8461 sets no bound on discoveries. A refused one is
// treated like a fetch that failed on the sender's side (RFC 8461, Section
// 3.3: with no valid cached policy, deliver as though the domain had no
// MTA-STS), but with no TLS-RPT failure (Failure is empty): the domain did
// nothing wrong, and its reports must not say it did.
func (c *Client) overflow(ctx context.Context, d string) *Result {
	if h := c.Hooks.DiscoveryRefused; h != nil {
		h(d)
	}
	err := fmt.Errorf("%w (%d in flight)", ErrDiscoveryLimit, c.maxDiscoveries())
	c.log.DebugContext(ctx, "mtasts: discovery refused", "domain", d, "err", err)
	st := c.usablePolicy(ctx, d, c.nowUnix())
	if st == nil {
		return &Result{Domain: d, Err: err}
	}
	r := st.result
	r.Source, r.Err = SourceCacheAfterFailure, err
	return &r
}

// wait returns the result of shared work, or gives up when ctx ends.
func wait(ctx context.Context, ch <-chan singleflight.Result) (*Result, error) {
	select {
	case r := <-ch:
		return r.Val.(*Result), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// claimRecheck reports whether the caller should start the due id check of
// a cached policy; exactly one caller per interval wins.
func (c *Client) claimRecheck(st *state, now int64) bool {
	return st.claimCheck(now, c.recheckInterval())
}

// stateOf returns the entry's memo, building it (parsing the policy) for an
// entry that has none, such as one read from disk or Redis. It returns nil
// for an entry whose policy no longer parses. A state built for an entry
// that is older than the policy the Client holds for the domain, or that
// says "no record" while the Client holds a policy, is linked to the held
// one, which wins.
func (c *Client) stateOf(ctx context.Context, e *cache.Entry) *state {
	if st, ok := e.Memo().(*state); ok {
		return st
	}
	res := Result{Domain: e.Domain, Err: ErrNoRecord}
	if !e.Negative() {
		p, err := parsePolicy(e.Policy) // e.Policy is immutable: Raw shares it
		if err != nil {
			c.log.WarnContext(ctx, "mtasts: cached policy does not parse; ignoring it", "domain", e.Domain, "err", err)
			return nil
		}
		res = Result{Domain: e.Domain, Policy: p, ID: e.ID, Source: SourceCache, Fetched: e.Fetched, Expires: e.Expires}
	}
	st := newState(&res, e.Expires.UnixNano(), e.Fetched.UnixNano())
	if h := c.mem.get(e.Domain).state; h != nil && h.result.Policy != nil && (e.Negative() || h.result.Fetched.After(e.Fetched) ||
		h.failedID() != "" && h.result.ID == e.ID && h.result.Fetched.Equal(e.Fetched)) { // the entry's policy, as a fallback
		st.next.Store(h)
	}
	// Concurrent hits on a new entry agree on one state, the one that a
	// supersede links and that vouched holds.
	if m, loaded := e.LoadOrStoreMemo(st); loaded {
		if prev, ok := m.(*state); ok {
			return prev
		}
		// Another consumer's memo: st serves this hit only.
	}
	return st
}

// discoverMode says when discover fetches a policy.
type discoverMode int

const (
	discoverIfNew discoverMode = iota // only for an id not cached
	discoverRenew                     // also for the cached id, unless backing off
	discoverForce                     // always
)

// discover is the policy discovery of RFC 8461, Sections 3.3 and 5.1: check
// the record, fetch as how says, and fall back on the cached policy when
// anything fails.
func (c *Client) discover(ctx context.Context, d string, how discoverMode) *Result {
	now := c.now()
	old := c.usablePolicy(ctx, d, now.UnixNano())
	if old != nil {
		old.setLastCheck(now.UnixNano())
	}

	rec, ttl, err := c.lookupRecord(ctx, d)
	if err != nil {
		if old != nil {
			// RFC 8461, Section 3.1: a record that disappears or breaks does
			// not withdraw a cached policy; this can be a downgrade attack.
			c.log.WarnContext(ctx, "mtasts: record check failed; keeping the cached policy", "domain", d, "policy_id", old.result.ID, "err", err)
			return &old.result
		}
		res := &Result{Domain: d, Err: err}
		if neg := c.negativeTTL(); !errors.Is(err, ErrDNSTemporary) && neg > 0 {
			// Spec note: "no record" is kept for NegativeTTL, or for the
			// DNS's own negative-caching time when that is shorter.
			if ttl > 0 && ttl < neg {
				neg = ttl
			}
			c.put(ctx, &cache.Entry{Domain: d, Fetched: now, Expires: now.Add(neg)}, res, false)
		}
		c.log.DebugContext(ctx, "mtasts: no policy", "domain", d, "err", err)
		return res
	}
	if old != nil && old.failedID() != "" && old.result.ID == rec.ID {
		// The record is back at the cached policy's id: it is no longer
		// a fallback.
		clean := old.result
		clean.Source, clean.Failure, clean.Err = SourceCache, "", nil
		old = c.replaceState(ctx, d, old, &clean)
	}
	if old != nil && old.result.ID == rec.ID && how == discoverIfNew {
		return &old.result
	}

	// RFC 8461, Section 3.3: do not retry a failed fetch of one id for
	// five minutes.
	if how != discoverForce {
		if b, ok := c.backoff.get(d, rec.ID, now.UnixNano()); ok {
			return c.fetchFailed(ctx, d, rec.ID, old, fmt.Errorf("%w: %w", ErrFetchBackoff, &b.fail))
		}
	}
	f := c.fetch(ctx, d)
	p, err := f.Policy, f.Err
	if h := c.Hooks.Fetched; h != nil {
		h(d, f.Duration, err)
	}
	if err != nil {
		// The back-off keeps a summary of err: the Result below has err
		// itself, for this caller only.
		c.backoff.add(d, rec.ID, now.UnixNano(), err)
		return c.fetchFailed(ctx, d, rec.ID, old, err)
	}
	c.backoff.remove(d)
	c.log.DebugContext(ctx, "mtasts: policy fetched", "domain", d, "policy_id", rec.ID, "mode", p.Mode, "max_age", p.MaxAge)
	return c.keep(ctx, d, rec.ID, p, old)
}

// keep caches a policy fetched now under id and returns the Result of the
// fetch. old is the cached policy it replaces, if any. The Client holds
// the policy in memory too, so that it stays usable until it expires even
// when the store cannot keep it.
func (c *Client) keep(ctx context.Context, d, id string, p *Policy, old *state) *Result {
	now := c.now()
	res := &Result{Domain: d, Policy: p, ID: id, Source: SourceFetch, Fetched: now, Expires: now.Add(p.MaxAge)}
	if p.MaxAge == 0 {
		// A max_age of 0 applies to this attempt only: nothing is kept,
		// and the policy it replaces is gone, even where the store still
		// has it.
		if old != nil {
			c.mem.remove(d, stateRef{})
			if c.store != nil {
				if err := c.store.Delete(ctx, d); err != nil {
					c.log.WarnContext(ctx, "mtasts: cache delete failed", "domain", d, "err", err)
				}
			}
			c.supersede(ctx, d, old, newState(res, now.UnixNano(), now.UnixNano()))
		}
		return res
	}
	e := &cache.Entry{Domain: d, ID: id, Policy: p.Raw, Fetched: now, Expires: res.Expires}
	hit := *res
	hit.Source = SourceCache
	st := c.put(ctx, e, &hit, true)
	c.supersede(ctx, d, old, st)
	return res
}

// supersede marks old, and whatever the store still hands out for d (the
// entry a failed Put or Delete left, a "no record" entry), as replaced by
// st, so that no Lookup returns them again.
func (c *Client) supersede(ctx context.Context, d string, old, st *state) {
	if old != nil && old != st {
		old.next.Store(st)
	}
	if c.store == nil {
		return
	}
	if e, err := c.store.Get(ctx, d); err == nil {
		if cur, ok := e.Memo().(*state); ok && cur != st && cur != old {
			cur.next.Store(st)
		}
	}
}

// Preload caches a policy obtained some other way (a test, a migration
// from another cache) as if it had just been fetched under the record id.
// The body must parse; errors wrap ErrPolicyInvalid, ErrInvalidDomain or
// ErrRecordSyntax (for an id that is not 1 to 32 letters and digits).
func (c *Client) Preload(ctx context.Context, domainName, id string, body []byte) (*Result, error) {
	d, err := c.start(domainName)
	if err != nil {
		return nil, err
	}
	if !validRecordID(id) {
		return nil, fmt.Errorf("%w: id %.40q", ErrRecordSyntax, id)
	}
	p, err := ParsePolicy(body)
	if err != nil {
		return nil, err
	}
	return c.keep(ctx, d, id, p, c.usablePolicy(ctx, d, c.nowUnix())), nil
}

// put caches e, with the Result later hits return, and returns its state.
// Without a Store that is the Client's memory, and e itself is not kept;
// with one, e goes to the Store with the state as its memo, and the
// Client's memory also holds the state when hold is set (a policy this
// Client fetched).
func (c *Client) put(ctx context.Context, e *cache.Entry, hit *Result, hold bool) *state {
	st := newState(hit, e.Expires.UnixNano(), e.Fetched.UnixNano())
	if c.store == nil {
		c.mem.add(stateRef{st})
		return st
	}
	e.SetMemo(st)
	if err := c.store.Put(ctx, e); err != nil {
		c.log.WarnContext(ctx, "mtasts: cache put failed", "domain", e.Domain, "err", err)
	}
	if hold {
		c.mem.add(stateRef{st})
	}
	return st
}

// fetchFailed builds the Result of a failed fetch of d's policy under id:
// the cached policy if there is one, otherwise none, with the failure to
// report. When the cached policy is kept because a new id's policy failed,
// every later Lookup serves it as that fallback too (SourceCacheAfterFailure,
// with the failure), until a fetch of the new id succeeds or it expires;
// the fallback keeps a summary of err, the Result returned here err itself.
func (c *Client) fetchFailed(ctx context.Context, d, id string, old *state, err error) *Result {
	rt, _ := ResultTypeOf(err)
	if old == nil {
		c.log.DebugContext(ctx, "mtasts: policy fetch failed", "domain", d, "err", err)
		return &Result{Domain: d, Failure: rt, Err: err}
	}
	c.log.WarnContext(ctx, "mtasts: policy refresh failed; using the cached policy", "domain", d, "policy_id", old.result.ID, "err", err)
	if id != old.result.ID && old.failedID() != id {
		fb := old.result
		fb.Source, fb.Failure, fb.Err = SourceCacheAfterFailure, rt, &fallbackFailure{summarize(err), id}
		c.replaceState(ctx, d, old, &fb)
	}
	r := old.result
	r.Source, r.Failure, r.Err = SourceCacheAfterFailure, rt, err
	return &r
}

// replaceState makes res, the same policy as old's, what Lookups of d get
// from now on, and returns its state.
func (c *Client) replaceState(ctx context.Context, d string, old *state, res *Result) *state {
	st := newState(res, res.Expires.UnixNano(), 0)
	st.clock.Store(old.clock.Load()) // the last check and promotion
	c.mem.add(stateRef{st})
	c.supersede(ctx, d, old, st)
	return st
}

// TTLResolver is a Resolver that also says how long an answer may be
// cached (*resolver.Stub is one). The Client uses the TTL of a "no record"
// answer (RFC 2308 negative caching) when it is shorter than NegativeTTL.
type TTLResolver interface {
	Resolver
	LookupTXTWithTTL(ctx context.Context, name string) ([]string, time.Duration, error)
}

// lookupRecord finds and parses the `_mta-sts` record of d, with the TTL of
// the answer when the resolver tells it (0 otherwise).
func (c *Client) lookupRecord(ctx context.Context, d string) (*Record, time.Duration, error) {
	start := time.Now()
	name := "_mta-sts." + d
	var (
		txts []string
		ttl  time.Duration
		err  error
	)
	if tr, ok := c.resolver().(TTLResolver); ok {
		txts, ttl, err = tr.LookupTXTWithTTL(ctx, name)
	} else {
		txts, err = c.resolver().LookupTXT(ctx, name)
	}
	var rec *Record
	if err == nil {
		rec, err = SelectRecord(txts)
	} else {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			err = fmt.Errorf("%w: %w", ErrNoRecord, err)
		} else {
			err = fmt.Errorf("%w: %w", ErrDNSTemporary, err)
		}
	}
	if h := c.Hooks.RecordChecked; h != nil {
		h(d, time.Since(start), err)
	}
	return rec, ttl, err
}
