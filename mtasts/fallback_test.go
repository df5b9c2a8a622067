package mtasts_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/strictmx/strictmx/cache"
	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/tlsrpt"
)

// RFC 8461, Section 3.3 and the cache decisions listed in doc.go: a cached
// policy kept because the policy of a new id cannot be fetched is reported
// as such by every Lookup, not only by the re-check that found it, until a
// fetch of the new id succeeds or the cached policy expires.
func TestLookupReportsCachedFallback(t *testing.T) {
	stores := map[string]func() cache.Store{
		"default": func() cache.Store { return nil },
		// A store that keeps no memo, as one on disk or in Redis.
		"no memo": func() cache.Store { return noMemoStore{cache.NewLRU(16)} },
	}
	for name, newStore := range stores {
		t.Run(name, func(t *testing.T) {
			_, d, c, clk := setup(t)
			c.Store = newStore()
			c.RecheckInterval = time.Minute
			if r := lookup(t, c); r.Source != mtasts.SourceFetch || r.ID != "id1" {
				t.Fatalf("first lookup %+v", r)
			}
			d.Record("id2").Status(http.StatusInternalServerError)
			clk.Advance(2 * time.Minute)
			lookup(t, c)  // starts the background re-check
			checkID(t, c) // and waits for one to end
			for i := range 3 {
				r := lookup(t, c)
				if r.Source != mtasts.SourceCacheAfterFailure || r.Failure != tlsrpt.ResultSTSPolicyFetchError ||
					r.ID != "id1" || r.Policy == nil || !errors.Is(r.Err, mtasts.ErrPolicyFetch) {
					t.Fatalf("lookup %d after the failed refresh: source %s, failure %q, id %s, err %v; want the cached policy, reported as a fallback", i, r.Source, r.Failure, r.ID, r.Err)
				}
				clk.Advance(10 * time.Second)
			}
			// A session under that lookup reports the fallback.
			r := lookup(t, c)
			plan := r.Plan(mxOf("mx1.example.test"), mtasts.PlanOptions{})
			s, ok := r.Session(plan.Hosts[0].Done(nil), clk.Now())
			if !ok || s.ResultType != tlsrpt.ResultSTSPolicyFetchError || s.ReasonCode != tlsrpt.ReasonCachedPolicy {
				t.Fatalf("session %+v, %v; want sts-policy-fetch-error with the cached-policy reason", s, ok)
			}

			// Once the new id's policy can be fetched (after the back-off),
			// Lookups are clean again.
			d.Status(http.StatusOK)
			clk.Advance(mtasts.FetchBackoff)
			if r := checkID(t, c); r.Source != mtasts.SourceFetch || r.ID != "id2" {
				t.Fatalf("re-check after the fix %+v", r)
			}
			if r := lookup(t, c); r.Source != mtasts.SourceCache || r.ID != "id2" || r.Failure != "" || r.Err != nil {
				t.Fatalf("lookup after the fix: source %s, id %s, failure %q, err %v", r.Source, r.ID, r.Failure, r.Err)
			}
		})
	}
	t.Run("expiry", func(t *testing.T) {
		_, d, c, clk := setup(t)
		lookup(t, c)
		d.Record("id2").Status(http.StatusInternalServerError)
		clk.Advance(2 * time.Minute)
		checkID(t, c)
		if r := lookup(t, c); r.Source != mtasts.SourceCacheAfterFailure {
			t.Fatalf("lookup after the failed refresh %+v", r)
		}
		clk.Advance(86400 * time.Second)
		if r := lookup(t, c); r.Policy != nil {
			t.Fatalf("lookup after expiry %+v; want no policy", r)
		}
	})
}

// noMemoStore drops the memo of every entry it returns, as a store that
// serialises entries does.
type noMemoStore struct{ cache.Store }

func (s noMemoStore) Get(ctx context.Context, d string) (*cache.Entry, error) {
	e, err := s.Store.Get(ctx, d)
	if err != nil {
		return nil, err
	}
	cp := &cache.Entry{Domain: e.Domain, ID: e.ID, Policy: e.Policy, Fetched: e.Fetched, Expires: e.Expires}
	return cp, nil
}

func mxOf(hosts ...string) []*net.MX {
	mx := make([]*net.MX, len(hosts))
	for i, h := range hosts {
		mx[i] = &net.MX{Host: h, Pref: uint16(10 * (i + 1))}
	}
	return mx
}
