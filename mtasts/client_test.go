package mtasts_test

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strictmx/strictmx/cache"
	"github.com/strictmx/strictmx/internal/testclock"
	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/mtaststest"
	"github.com/strictmx/strictmx/mtasts/resolver"
	"github.com/strictmx/strictmx/tlsrpt"
)

func newClock() *testclock.Clock {
	return testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
}

const domainName = "example.test"

// setup starts a harness with one enforce domain and a client on a fake
// clock.
func setup(t *testing.T) (*mtaststest.Server, *mtaststest.Domain, *mtasts.Client, *testclock.Clock) {
	t.Helper()
	s := mtaststest.NewServer(t)
	d := s.Domain(domainName).Record("id1").
		Policy(mtasts.ModeEnforce, 86400, "mx1.example.test", "*.mx.example.test").
		MX(10, "mx1.example.test")
	c := s.Client()
	clk := newClock()
	c.Now = clk.Now
	c.FetchTimeout = 5 * time.Second
	return s, d, c, clk
}

func lookup(t *testing.T, c *mtasts.Client) *mtasts.Result {
	t.Helper()
	r, err := c.Lookup(context.Background(), domainName)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	return r
}

func checkID(t *testing.T, c *mtasts.Client) *mtasts.Result {
	t.Helper()
	r, err := c.CheckID(context.Background(), domainName)
	if err != nil {
		t.Fatalf("CheckID: %v", err)
	}
	return r
}

func TestLookupFetchThenCache(t *testing.T) {
	_, d, c, clk := setup(t)
	r := lookup(t, c)
	if r.Source != mtasts.SourceFetch || r.ID != "id1" || r.Mode() != mtasts.ModeEnforce || r.Err != nil {
		t.Fatalf("first lookup %+v", r)
	}
	if want := clk.Now().Add(86400 * time.Second); !r.Expires.Equal(want) {
		t.Fatalf("Expires %v; want %v", r.Expires, want)
	}
	for range 3 {
		if r := lookup(t, c); r.Source != mtasts.SourceCache || r.Policy == nil {
			t.Fatalf("cached lookup %+v", r)
		}
	}
	if d.Fetches() != 1 || d.RecordQueries() != 1 {
		t.Fatalf("fetches %d, TXT queries %d; want 1 and 1", d.Fetches(), d.RecordQueries())
	}
}

// RFC 8461, Sections 3.2 and 3.3, and the fetch decisions listed in doc.go:
// the fetch.
func TestFetchRules(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*mtaststest.Domain, *mtasts.Client)
		want  tlsrpt.ResultType // "" means the fetch succeeds
		err   error
	}{
		{"64 KiB accepted", func(d *mtaststest.Domain, _ *mtasts.Client) { d.PolicySize(65536) }, "", nil},
		{"64 KiB + 1 refused", func(d *mtaststest.Domain, _ *mtasts.Client) { d.PolicySize(65537) }, tlsrpt.ResultSTSPolicyFetchError, mtasts.ErrPolicyFetch},
		{"endless body refused", func(d *mtaststest.Domain, _ *mtasts.Client) { d.PolicySize(1 << 40) }, tlsrpt.ResultSTSPolicyFetchError, mtasts.ErrPolicyFetch},
		{"redirect refused", func(d *mtaststest.Domain, _ *mtasts.Client) { d.Redirect("https://mta-sts.example.test/other") }, tlsrpt.ResultSTSPolicyFetchError, mtasts.ErrPolicyFetch},
		{"404", func(d *mtaststest.Domain, _ *mtasts.Client) { d.Status(404) }, tlsrpt.ResultSTSPolicyFetchError, mtasts.ErrPolicyFetch},
		{"500", func(d *mtaststest.Domain, _ *mtasts.Client) { d.Status(500) }, tlsrpt.ResultSTSPolicyFetchError, mtasts.ErrPolicyFetch},
		{"204", func(d *mtaststest.Domain, _ *mtasts.Client) { d.Status(204) }, tlsrpt.ResultSTSPolicyFetchError, mtasts.ErrPolicyFetch},
		{"TEXT/PLAIN with charset", func(d *mtaststest.Domain, _ *mtasts.Client) { d.ContentType("TEXT/PLAIN; charset=utf-8") }, "", nil},
		{"text/html refused", func(d *mtaststest.Domain, _ *mtasts.Client) { d.ContentType("text/html") }, tlsrpt.ResultSTSPolicyFetchError, mtasts.ErrPolicyFetch},
		{"text/plainx refused", func(d *mtaststest.Domain, _ *mtasts.Client) { d.ContentType("text/plainx") }, tlsrpt.ResultSTSPolicyFetchError, mtasts.ErrPolicyFetch},
		{"missing Content-Type refused", func(d *mtaststest.Domain, _ *mtasts.Client) { d.ContentType("") }, tlsrpt.ResultSTSPolicyFetchError, mtasts.ErrPolicyFetch},
		{"missing Content-Type allowed", func(d *mtaststest.Domain, c *mtasts.Client) {
			d.ContentType("")
			c.AllowMissingContentType = true
		}, "", nil},
		{"expired certificate", func(d *mtaststest.Domain, _ *mtasts.Client) { d.Certificate(mtaststest.CertExpired) }, tlsrpt.ResultSTSWebPKIInvalid, mtasts.ErrWebPKI},
		{"wrong-name certificate", func(d *mtaststest.Domain, _ *mtasts.Client) { d.Certificate(mtaststest.CertWrongName) }, tlsrpt.ResultSTSWebPKIInvalid, mtasts.ErrWebPKI},
		{"self-signed certificate", func(d *mtaststest.Domain, _ *mtasts.Client) { d.Certificate(mtaststest.CertSelfSigned) }, tlsrpt.ResultSTSWebPKIInvalid, mtasts.ErrWebPKI},
		{"TLS 1.1 only", func(d *mtaststest.Domain, _ *mtasts.Client) { d.TLS11Only() }, tlsrpt.ResultSTSWebPKIInvalid, mtasts.ErrWebPKI},
		{"10,000 headers", func(d *mtaststest.Domain, _ *mtasts.Client) { d.ExtraHeaders(10000) }, tlsrpt.ResultSTSPolicyFetchError, mtasts.ErrPolicyFetch},
		{"trickling body times out", func(d *mtaststest.Domain, c *mtasts.Client) {
			d.Trickle(50 * time.Millisecond)
			c.FetchTimeout = 300 * time.Millisecond
		}, tlsrpt.ResultSTSPolicyFetchError, mtasts.ErrPolicyFetch},
		{"invalid policy", func(d *mtaststest.Domain, _ *mtasts.Client) {
			d.PolicyText("version: STSv1\nmode: enforce\nmax_age: 1\n")
		}, tlsrpt.ResultSTSPolicyInvalid, mtasts.ErrPolicyInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, d, c, _ := setup(t)
			tt.setup(d, c)
			r := lookup(t, c)
			if tt.want == "" {
				if r.Policy == nil || r.Err != nil || r.Failure != "" {
					t.Fatalf("fetch failed: %+v", r)
				}
				return
			}
			if r.Policy != nil || r.Failure != tt.want || !errors.Is(r.Err, tt.err) {
				t.Fatalf("result %+v (err %v); want failure %s wrapping %v", r, r.Err, tt.want, tt.err)
			}
		})
	}
}

func TestDialGuard(t *testing.T) {
	_, d, c, _ := setup(t)
	c.AllowPrivate = false // the harness is on loopback
	r := lookup(t, c)
	if r.Policy != nil || !errors.Is(r.Err, mtasts.ErrDialGuard) || r.Failure != tlsrpt.ResultSTSPolicyFetchError {
		t.Fatalf("result %+v (err %v); want the dial guard to refuse loopback", r, r.Err)
	}
	if d.Fetches() != 0 {
		t.Fatalf("the policy host got %d requests", d.Fetches())
	}
}

// Spec note (listed in doc.go): a cached policy survives a record that goes
// away, breaks or multiplies, and a new id whose fetch fails (RFC 8461,
// Sections 3.1 and 3.3).
func TestCachedPolicyKept(t *testing.T) {
	tests := []struct {
		name    string
		break_  func(*mtaststest.Server, *mtaststest.Domain)
		failure tlsrpt.ResultType
	}{
		{"TXT gone", func(s *mtaststest.Server, d *mtaststest.Domain) { s.Delete(d.RecordName()) }, ""},
		{"TXT two records", func(_ *mtaststest.Server, d *mtaststest.Domain) {
			d.RecordTXT("v=STSv1; id=id2", "v=STSv1; id=id3")
		}, ""},
		{"TXT syntax error", func(_ *mtaststest.Server, d *mtaststest.Domain) { d.RecordTXT("v=STSv1; id=bad-id") }, ""},
		{"SERVFAIL", func(_ *mtaststest.Server, d *mtaststest.Domain) { d.DNSFault(mtaststest.DNSServFail) }, ""},
		{"new id, fetch fails", func(_ *mtaststest.Server, d *mtaststest.Domain) { d.Record("id2").Status(500) }, tlsrpt.ResultSTSPolicyFetchError},
		{"new id, invalid policy", func(_ *mtaststest.Server, d *mtaststest.Domain) {
			d.Record("id2").PolicyText("version: STSv1\nmode: bogus\nmax_age: 1\n")
		}, tlsrpt.ResultSTSPolicyInvalid},
		{"new id, bad certificate", func(_ *mtaststest.Server, d *mtaststest.Domain) {
			d.Record("id2").Certificate(mtaststest.CertExpired)
		}, tlsrpt.ResultSTSWebPKIInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, d, c, clk := setup(t)
			lookup(t, c)
			tt.break_(s, d)
			clk.Advance(time.Hour)
			r := checkID(t, c)
			if r.Policy == nil || r.ID != "id1" || r.Mode() != mtasts.ModeEnforce || r.Failure != tt.failure {
				t.Fatalf("after the break: %+v (err %v)", r, r.Err)
			}
			if tt.failure != "" && r.Source != mtasts.SourceCacheAfterFailure {
				t.Fatalf("Source %v; want cache-after-failure", r.Source)
			}
			if r := lookup(t, c); r.Policy == nil || r.ID != "id1" {
				t.Fatalf("later lookup lost the policy: %+v", r)
			}
		})
	}
}

func TestNewIDFetchesNewPolicy(t *testing.T) {
	_, d, c, clk := setup(t)
	lookup(t, c)
	d.Record("id2").Policy(mtasts.ModeTesting, 3600, "mx2.example.test")
	// Within the re-check interval the id is not looked at.
	if r := checkID(t, c); r.ID != "id2" || r.Mode() != mtasts.ModeTesting || r.Source != mtasts.SourceFetch {
		t.Fatalf("CheckID after a new id: %+v", r)
	}
	clk.Advance(time.Second)
	if r := lookup(t, c); r.ID != "id2" || r.Source != mtasts.SourceCache {
		t.Fatalf("Lookup after the new policy: %+v", r)
	}
	if d.Fetches() != 2 {
		t.Fatalf("%d fetches; want 2", d.Fetches())
	}
}

// A fresh mode none policy replaces the cached one at once (RFC 8461,
// Section 8.3 removes MTA-STS that way).
func TestModeNoneReplaces(t *testing.T) {
	_, d, c, _ := setup(t)
	lookup(t, c)
	d.Record("id2").Policy(mtasts.ModeNone, 86400)
	if r := checkID(t, c); r.Mode() != mtasts.ModeNone || r.Policy == nil {
		t.Fatalf("CheckID: %+v", r)
	}
	if r := lookup(t, c); r.Mode() != mtasts.ModeNone || r.ID != "id2" {
		t.Fatalf("Lookup after mode none: %+v", r)
	}
}

// The id re-check: at most once per interval, and a hit never waits for it.
func TestRecheckInterval(t *testing.T) {
	s, d, c, clk := setup(t)
	// A resolver that waits 30 seconds for an answer (set before first
	// use: the Client keeps what it finds then).
	c.Resolver = &resolver.Stub{Servers: []string{s.DNSAddr()}, Timeout: 30 * time.Second}
	lookup(t, c)
	clk.Advance(30 * time.Second)
	lookup(t, c)
	if q := d.RecordQueries(); q != 1 {
		t.Fatalf("%d TXT queries within the interval; want 1", q)
	}
	// Due: the hit returns the cached policy at once, the check runs
	// behind it. With a DNS server that never answers and a resolver that
	// waits 30 seconds for it, a hit that waited for the check could not
	// come back within 10.
	d.DNSFault(mtaststest.DNSTimeout)
	clk.Advance(time.Minute)
	got := make(chan *mtasts.Result, 1)
	go func() {
		r, _ := c.Lookup(context.Background(), domainName)
		got <- r
	}()
	select {
	case r := <-got:
		if r == nil || r.Source != mtasts.SourceCache {
			t.Fatalf("due re-check: %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a due re-check made the caller wait")
	}
	waitFor(t, func() bool { return d.RecordQueries() >= 2 })
}

// waitFor polls cond, for background work that has no other signal; it
// gives up after ten seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// RFC 8461, Section 3.3: no refetch of a failed (domain, id) for five
// minutes.
func TestFetchBackoff(t *testing.T) {
	_, d, c, clk := setup(t)
	d.Status(500)
	if r := lookup(t, c); r.Failure != tlsrpt.ResultSTSPolicyFetchError {
		t.Fatalf("first lookup %+v", r)
	}
	d.Status(0)
	clk.Advance(4*time.Minute + 59*time.Second)
	r := lookup(t, c)
	if r.Policy != nil || !errors.Is(r.Err, mtasts.ErrFetchBackoff) || r.Failure != tlsrpt.ResultSTSPolicyFetchError {
		t.Fatalf("lookup within the back-off: %+v (err %v)", r, r.Err)
	}
	if d.Fetches() != 1 {
		t.Fatalf("%d fetches within five minutes; want 1", d.Fetches())
	}
	// A new id is a new policy: no back-off.
	d.Record("id2")
	if r := lookup(t, c); r.Policy == nil || r.ID != "id2" {
		t.Fatalf("new id during the back-off: %+v", r)
	}
	// Refresh forces a fetch whatever the back-off.
	d.Status(500)
	c.Refresh(context.Background(), domainName)
	d.Status(0)
	if r, _ := c.Refresh(context.Background(), domainName); r.Source != mtasts.SourceFetch {
		t.Fatalf("Refresh during back-off: %+v", r)
	}
}

func TestBackoffExpires(t *testing.T) {
	_, d, c, clk := setup(t)
	d.Status(500)
	lookup(t, c)
	d.Status(0)
	clk.Advance(5*time.Minute + time.Second)
	if r := lookup(t, c); r.Policy == nil || d.Fetches() != 2 {
		t.Fatalf("after the back-off: %+v, %d fetches", r, d.Fetches())
	}
}

// RFC 8461, Section 3.3: expired and no fresh policy means no policy.
func TestExpiredAndUnreachable(t *testing.T) {
	_, d, c, clk := setup(t)
	d.Policy(mtasts.ModeEnforce, 600, "mx1.example.test")
	lookup(t, c)
	d.Status(500)
	clk.Advance(601 * time.Second)
	r := lookup(t, c)
	if r.Policy != nil || r.Failure != tlsrpt.ResultSTSPolicyFetchError {
		t.Fatalf("expired policy with the host down: %+v", r)
	}
}

func TestMaxAgeZeroNotKept(t *testing.T) {
	_, d, c, _ := setup(t)
	d.Policy(mtasts.ModeEnforce, 0, "mx1.example.test")
	for i := range 2 {
		if r := lookup(t, c); r.Policy == nil || r.Source != mtasts.SourceFetch {
			t.Fatalf("lookup %d: %+v", i, r)
		}
	}
	if d.Fetches() != 2 {
		t.Fatalf("%d fetches; want 2 (max_age 0 is not cached)", d.Fetches())
	}
}

func TestMaxAgeCapped(t *testing.T) {
	_, d, c, clk := setup(t)
	d.Policy(mtasts.ModeEnforce, 99999999999%10000000000, "mx1.example.test")
	r := lookup(t, c)
	if want := clk.Now().Add(mtasts.MaxMaxAge); !r.Expires.Equal(want) {
		t.Fatalf("Expires %v; want %v", r.Expires, want)
	}
}

// Spec note (listed in doc.go): "no record" is cached for NegativeTTL.
func TestNegativeCache(t *testing.T) {
	s, _, c, clk := setup(t)
	none := s.Domain("none.test")
	for range 3 {
		r, err := c.Lookup(context.Background(), "none.test")
		if err != nil || r.Policy != nil || !errors.Is(r.Err, mtasts.ErrNoRecord) {
			t.Fatalf("lookup of a domain without MTA-STS: %+v, %v", r, err)
		}
	}
	if q := none.RecordQueries(); q != 1 {
		t.Fatalf("%d TXT queries; want 1", q)
	}
	clk.Advance(mtasts.DefaultNegativeTTL + time.Second)
	c.Lookup(context.Background(), "none.test")
	if q := none.RecordQueries(); q != 2 {
		t.Fatalf("%d TXT queries after the negative TTL; want 2", q)
	}
}

func TestTemporaryDNSFailure(t *testing.T) {
	_, d, c, _ := setup(t)
	d.DNSFault(mtaststest.DNSServFail)
	r := lookup(t, c)
	if r.Policy != nil || !errors.Is(r.Err, mtasts.ErrDNSTemporary) || r.Failure != "" {
		t.Fatalf("SERVFAIL: %+v", r)
	}
	d.DNSFault(mtaststest.DNSNormal)
	if r := lookup(t, c); r.Policy == nil {
		t.Fatalf("temporary failure was cached: %+v", r)
	}
}

func TestInvalidDomain(t *testing.T) {
	c := &mtasts.Client{}
	for _, d := range []string{"", "a..b", "192.0.2.1", "[::1]", strings.Repeat("a", 64) + ".test", "ex ample.test"} {
		if _, err := c.Lookup(context.Background(), d); !errors.Is(err, mtasts.ErrInvalidDomain) {
			t.Errorf("Lookup(%q): %v; want ErrInvalidDomain", d, err)
		}
	}
}

func TestPurge(t *testing.T) {
	_, d, c, _ := setup(t)
	lookup(t, c)
	if err := c.Purge(context.Background(), domainName); err != nil {
		t.Fatal(err)
	}
	if r := lookup(t, c); r.Source != mtasts.SourceFetch || d.Fetches() != 2 {
		t.Fatalf("after Purge: %+v, %d fetches", r, d.Fetches())
	}
}

// A persistent store keeps policies across a restart.
func TestRestartWithDirectoryStore(t *testing.T) {
	s, d, c, clk := setup(t)
	dir := t.TempDir()
	store, err := cache.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	c.Store = store
	lookup(t, c)

	// The "restarted" sender: a new client and a new store on the same
	// directory, with the policy host down.
	d.Status(500)
	store2, err := cache.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	c2 := s.Client()
	c2.Store, c2.Now = store2, clk.Now
	r := lookup(t, c2)
	if r.Source != mtasts.SourceCache || r.ID != "id1" || r.Mode() != mtasts.ModeEnforce {
		t.Fatalf("after restart: %+v", r)
	}
	if d.Fetches() != 1 {
		t.Fatalf("%d fetches; want 1", d.Fetches())
	}
}

// 10,000 concurrent lookups of a cold domain share one TXT query and one
// fetch, and a caller that gives up does not fail the others.
func TestConcurrentColdLookups(t *testing.T) {
	_, d, c, _ := setup(t)
	d.Trickle(time.Millisecond) // keep the fetch in flight while callers pile up
	const n = 10000
	var wg sync.WaitGroup
	var failed atomic.Int64
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Lookup(cancelled, domainName); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
	for range n {
		wg.Go(func() {
			r, err := c.Lookup(context.Background(), domainName)
			if err != nil || r.Policy == nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d lookups failed", failed.Load(), n)
	}
	if d.RecordQueries() != 1 || d.Fetches() != 1 {
		t.Fatalf("%d TXT queries and %d fetches; want 1 and 1", d.RecordQueries(), d.Fetches())
	}
}

func TestHooks(t *testing.T) {
	_, _, c, _ := setup(t)
	var hits, misses, fetches, checks atomic.Int64
	c.Hooks = mtasts.Hooks{
		CacheHit:      func(string) { hits.Add(1) },
		CacheMiss:     func(string) { misses.Add(1) },
		Fetched:       func(_ string, _ time.Duration, err error) { fetches.Add(1) },
		RecordChecked: func(_ string, _ time.Duration, err error) { checks.Add(1) },
	}
	lookup(t, c)
	lookup(t, c)
	if hits.Load() != 1 || misses.Load() != 1 || fetches.Load() != 1 || checks.Load() != 1 {
		t.Fatalf("hits %d misses %d fetches %d checks %d", hits.Load(), misses.Load(), fetches.Load(), checks.Load())
	}
}

// Run refreshes a policy before it expires.
func TestRunRefreshesBeforeExpiry(t *testing.T) {
	_, d, c, clk := setup(t)
	d.Policy(mtasts.ModeEnforce, 7200, "mx1.example.test")
	lookup(t, c)
	clk.Advance(7200*time.Second - 10*time.Minute) // inside RefreshLead
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	// The policy host counts the request before the client has stored the
	// response, so wait for what the client says.
	var r *mtasts.Result
	waitFor(t, func() bool {
		r = lookup(t, c)
		return r.Fetched.Equal(clk.Now())
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v", err)
	}
	if r.Source != mtasts.SourceCache || !r.Expires.Equal(clk.Now().Add(7200*time.Second)) || d.Fetches() != 2 {
		t.Fatalf("after the refresh: %+v, %d fetches", r, d.Fetches())
	}
}

// RFC 8461, Section 5.1: when every host of an enforce plan fails, the id is
// re-checked; the same policy gives a temporary NoAcceptableMXError, a new one a
// new plan.
func TestReplan(t *testing.T) {
	_, d, c, clk := setup(t)
	r := lookup(t, c)
	mx := []*net.MX{{Host: "mx9.example.test", Pref: 10}}
	plan := r.Plan(mx, mtasts.PlanOptions{})
	if plan.Hosts[0].Try {
		t.Fatal("host outside the policy may be tried")
	}
	next, err := c.Replan(context.Background(), plan)
	var derr *mtasts.NoAcceptableMXError
	if next != nil || !errors.As(err, &derr) || !derr.Temporary() || !errors.Is(err, mtasts.ErrNoAcceptableMX) {
		t.Fatalf("Replan = %v, %v; want a temporary NoAcceptableMXError", next, err)
	}
	if len(derr.Hosts) != 1 || derr.Hosts[0].ResultType != tlsrpt.ResultValidationFailure {
		t.Fatalf("decisions %+v", derr.Hosts)
	}
	if q := d.RecordQueries(); q != 2 {
		t.Fatalf("%d TXT queries; Replan must re-check the id", q)
	}

	d.Record("id2").Policy(mtasts.ModeEnforce, 86400, "mx9.example.test")
	clk.Advance(time.Second)
	next, err = c.Replan(context.Background(), plan)
	if err != nil || next == nil || next.Result.ID != "id2" || !next.Hosts[0].Try {
		t.Fatalf("Replan after a new id = %+v, %v; want a new plan", next, err)
	}

	// Testing and no-policy plans never fail for MTA-STS reasons.
	tp := &mtasts.Result{Domain: domainName, Policy: mustParse(t, "version: STSv1\nmode: testing\nmx: a.test\nmax_age: 1\n")}
	if next, err := c.Replan(context.Background(), tp.Plan(mx, mtasts.PlanOptions{})); next != nil || err != nil {
		t.Fatalf("testing plan: %v, %v", next, err)
	}
}

func mustParse(t *testing.T, s string) *mtasts.Policy {
	t.Helper()
	p, err := mtasts.ParsePolicy([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Spec note (listed in doc.go): "no record" is cached for the DNS negative
// TTL when that is shorter than NegativeTTL.
func TestNegativeCacheDNSTTL(t *testing.T) {
	s, _, c, clk := setup(t)
	s.NegativeTTL(time.Minute)
	none := s.Domain("none.test")
	c.Lookup(context.Background(), "none.test")
	clk.Advance(59 * time.Second)
	c.Lookup(context.Background(), "none.test")
	if q := none.RecordQueries(); q != 1 {
		t.Fatalf("%d TXT queries within the DNS TTL; want 1", q)
	}
	clk.Advance(2 * time.Second)
	c.Lookup(context.Background(), "none.test")
	if q := none.RecordQueries(); q != 2 {
		t.Fatalf("%d TXT queries after the DNS TTL; want 2", q)
	}
}

// Hostile DNS answers and policy hosts all end in a typed outcome, and
// leave no goroutines behind.
func TestHostileInputsBounded(t *testing.T) {
	s, _, c, _ := setup(t)
	c.FetchTimeout = 500 * time.Millisecond
	hostile := map[string]func(*mtaststest.Domain){
		"trickle.test": func(d *mtaststest.Domain) {
			d.Record("1").Policy(mtasts.ModeEnforce, 1, "mx.trickle.test").Trickle(100 * time.Millisecond)
		},
		"endless.test": func(d *mtaststest.Domain) {
			d.Record("1").Policy(mtasts.ModeEnforce, 1, "mx.endless.test").PolicySize(1 << 40)
		},
		"headers.test": func(d *mtaststest.Domain) {
			d.Record("1").Policy(mtasts.ModeEnforce, 1, "mx.headers.test").ExtraHeaders(10000)
		},
		"dnstimeout.test": func(d *mtaststest.Domain) { d.Record("1").DNSFault(mtaststest.DNSTimeout) },
		"hugetxt.test":    func(d *mtaststest.Domain) { d.RecordTXT("v=STSv1; id=1; x=" + strings.Repeat("a", 60000)) },
		"manytxt.test": func(d *mtaststest.Domain) {
			v := make([]string, 3000)
			for i := range v {
				v[i] = "v=STSv1; id=" + strings.Repeat("b", 1+i%30)
			}
			d.RecordTXT(v...)
		},
		"loop.test": func(d *mtaststest.Domain) {
			d.Server().CNAME(d.RecordName(), "_mta-sts.loop2.test").CNAME("_mta-sts.loop2.test", d.RecordName())
		},
	}
	for name, set := range hostile {
		set(s.Domain(name))
	}
	lookupAll := func() {
		for name := range hostile {
			r, err := c.Lookup(context.Background(), name)
			if err != nil || r.Policy != nil || r.Err == nil {
				t.Errorf("%s: %+v, %v; want no policy and a typed failure", name, r, err)
			}
		}
	}
	lookupAll() // warm up: pools, timers, the harness's own goroutines
	before := runtime.NumGoroutine()
	for name := range hostile {
		c.Purge(context.Background(), name)
	}
	lookupAll()
	waitFor(t, func() bool { return runtime.NumGoroutine() <= before+2 })
}
