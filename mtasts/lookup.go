package mtasts

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync/atomic"
	"time"

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
	// unexpired policy is used instead (RFC 8461, Section 5.1). Failure
	// says how the refresh failed.
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
	// ErrMultipleRecords or ErrDNSTemporary). Nil on a clean result.
	Err error
}

// Mode returns the policy's mode, or ModeNone when there is no policy.
func (r *Result) Mode() Mode {
	if r.Policy == nil {
		return ModeNone
	}
	return r.Policy.Mode
}

// state is what the Client keeps in a cache entry's memo: the parsed
// policy and the Result that a cache hit returns, built once.
type state struct {
	result    *Result
	lastCheck atomic.Int64 // unix nanoseconds of the last id check
	hits      atomic.Int64 // Lookups served, for Run's ordering
	jitter    time.Duration
}

type backoff struct {
	id    string
	until time.Time
	err   error
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
// "No MTA-STS" and every remote failure are Results, not errors. The error
// is for the caller's problems: an invalid domain (ErrInvalidDomain) or the
// end of ctx.
func (c *Client) Lookup(ctx context.Context, domainName string) (*Result, error) {
	d, err := c.start(domainName)
	if err != nil {
		return nil, err
	}
	now := c.nowUnix()
	e, err := c.store.Get(ctx, d)
	if err != nil && !errors.Is(err, cache.ErrCacheMiss) {
		c.log.Warn("mtasts: cache get failed", "domain", d, "err", err)
		e = nil
	}
	if e != nil && now < e.Expires.UnixNano() {
		if st := c.stateOf(e); st != nil {
			st.hits.Add(1)
			if h := c.Hooks.CacheHit; h != nil {
				h(d)
			}
			if !e.Negative() && c.claimRecheck(st, now) {
				c.discoverShared(ctx, d, discoverIfNew) // in the background
			}
			return st.result, nil
		}
	}
	if h := c.Hooks.CacheMiss; h != nil {
		h(d)
	}
	return wait(ctx, c.discoverShared(ctx, d, discoverIfNew))
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
	return wait(ctx, c.discoverShared(ctx, d, discoverIfNew))
}

// Refresh looks domain's record up and fetches its policy now, even when
// the cached policy is fresh and its id unchanged (a publisher may change a
// policy without changing the id). On failure the cached policy is kept.
func (c *Client) Refresh(ctx context.Context, domainName string) (*Result, error) {
	d, err := c.start(domainName)
	if err != nil {
		return nil, err
	}
	return wait(ctx, c.discoverShared(ctx, d, discoverForce))
}

// Purge forgets everything cached about domain: the policy, "no record",
// and a fetch failure's back-off.
func (c *Client) Purge(ctx context.Context, domainName string) error {
	d, err := c.start(domainName)
	if err != nil {
		return err
	}
	c.backoff.Remove(d)
	c.tracked.Remove(d)
	return c.store.Delete(ctx, d)
}

// discoverShared runs discover for d in mode how once for all concurrent
// callers asking the same. The work is detached from the cancellation of
// the ctx that started it and bounded by the fetch timeout.
func (c *Client) discoverShared(ctx context.Context, d string, how discoverMode) <-chan singleflight.Result {
	return c.flight.DoChan(strconv.Itoa(int(how))+" "+d, func() (any, error) {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.fetchTimeout())
		defer cancel()
		return c.discover(wctx, d, how), nil
	})
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
	last := st.lastCheck.Load()
	if now-last < int64(c.recheckInterval()) {
		return false
	}
	return st.lastCheck.CompareAndSwap(last, now)
}

// stateOf returns the entry's memo, building it (parsing the policy) for an
// entry that has none, such as one read from disk or Redis. It returns nil
// for an entry whose policy no longer parses.
func (c *Client) stateOf(e *cache.Entry) *state {
	if st, ok := e.Memo().(*state); ok {
		return st
	}
	st := &state{result: &Result{Domain: e.Domain, Err: ErrNoRecord}}
	if !e.Negative() {
		p, err := ParsePolicy([]byte(e.Policy))
		if err != nil {
			c.log.Warn("mtasts: cached policy does not parse; ignoring it", "domain", e.Domain, "err", err)
			return nil
		}
		st.result = &Result{Domain: e.Domain, Policy: p, ID: e.ID, Source: SourceCache, Fetched: e.Fetched, Expires: e.Expires}
	}
	st.lastCheck.Store(e.Fetched.UnixNano())
	e.SetMemo(st)
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
	var old *state
	var oldEntry *cache.Entry
	if e, err := c.store.Get(ctx, d); err == nil && now.Before(e.Expires) && !e.Negative() {
		if st := c.stateOf(e); st != nil {
			old, oldEntry = st, e
			st.lastCheck.Store(now.UnixNano())
		}
	}

	rec, ttl, err := c.lookupRecord(ctx, d)
	if err != nil {
		if old != nil {
			// RFC 8461, Section 5.1: a record that disappears or breaks does
			// not withdraw a cached policy; this can be a downgrade attack.
			c.log.Warn("mtasts: record check failed; keeping the cached policy", "domain", d, "policy_id", old.result.ID, "err", err)
			return old.result
		}
		res := &Result{Domain: d, Err: err}
		if neg := c.negativeTTL(); !errors.Is(err, ErrDNSTemporary) && neg > 0 {
			// Spec section 4: "no record" is kept for NegativeTTL, or for the
			// DNS's own negative-caching time when that is shorter.
			if ttl > 0 && ttl < neg {
				neg = ttl
			}
			c.put(ctx, &cache.Entry{Domain: d, Fetched: now, Expires: now.Add(neg)}, res)
		}
		c.log.Debug("mtasts: no policy", "domain", d, "err", err)
		return res
	}
	if old != nil && old.result.ID == rec.ID && how == discoverIfNew {
		return old.result
	}

	// RFC 8461, Section 3.3: do not retry a failed fetch of one id for
	// five minutes.
	if b, ok := c.backoff.Get(d); ok && b.id == rec.ID && now.Before(b.until) && how != discoverForce {
		return c.fetchFailed(d, old, fmt.Errorf("%w: %w", ErrFetchBackoff, b.err))
	}
	f := c.fetch(ctx, d)
	p, err := f.Policy, f.Err
	if h := c.Hooks.Fetched; h != nil {
		h(d, f.Duration, err)
	}
	if err != nil {
		c.backoff.Add(d, backoff{id: rec.ID, until: now.Add(FetchBackoff), err: err})
		return c.fetchFailed(d, old, err)
	}
	c.backoff.Remove(d)
	c.log.Debug("mtasts: policy fetched", "domain", d, "policy_id", rec.ID, "mode", p.Mode, "max_age", p.MaxAge)
	return c.keep(ctx, d, rec.ID, p, oldEntry != nil)
}

// keep caches a policy fetched now under id and returns the Result of the
// fetch. replaces says a cached entry exists that a max_age of 0 must
// remove.
func (c *Client) keep(ctx context.Context, d, id string, p *Policy, replaces bool) *Result {
	now := c.now()
	res := &Result{Domain: d, Policy: p, ID: id, Source: SourceFetch, Fetched: now, Expires: now.Add(p.MaxAge)}
	if p.MaxAge == 0 {
		// A max_age of 0 applies to this attempt only: nothing is kept,
		// and the policy it replaces is gone.
		if replaces {
			if err := c.store.Delete(ctx, d); err != nil {
				c.log.Warn("mtasts: cache delete failed", "domain", d, "err", err)
			}
		}
		return res
	}
	e := &cache.Entry{Domain: d, ID: id, Policy: p.Raw, Fetched: now, Expires: res.Expires}
	hit := *res
	hit.Source = SourceCache
	st := c.put(ctx, e, &hit)
	c.tracked.Add(d, st)
	return res
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
	return c.keep(ctx, d, id, p, true), nil
}

// put stores e with its memo: the Result later hits return.
func (c *Client) put(ctx context.Context, e *cache.Entry, hit *Result) *state {
	st := &state{result: hit, jitter: time.Duration(rand.Int64N(int64(time.Minute)))}
	st.lastCheck.Store(e.Fetched.UnixNano())
	e.SetMemo(st)
	if err := c.store.Put(ctx, e); err != nil {
		c.log.Warn("mtasts: cache put failed", "domain", e.Domain, "err", err)
	}
	return st
}

// fetchFailed builds the Result of a failed fetch: the cached policy if
// there is one, otherwise none, with the failure to report.
func (c *Client) fetchFailed(d string, old *state, err error) *Result {
	rt, _ := ResultTypeOf(err)
	if old == nil {
		c.log.Debug("mtasts: policy fetch failed", "domain", d, "err", err)
		return &Result{Domain: d, Failure: rt, Err: err}
	}
	c.log.Warn("mtasts: policy refresh failed; using the cached policy", "domain", d, "policy_id", old.result.ID, "err", err)
	r := *old.result
	r.Source, r.Failure, r.Err = SourceCacheAfterFailure, rt, err
	return &r
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
