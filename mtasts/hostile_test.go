package mtasts_test

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/mtaststest"
	"github.com/strictmx/strictmx/mtasts/resolver"
	"github.com/strictmx/strictmx/tlsrpt"
)

// heapAfterGC returns the live heap, in bytes, once garbage collection has
// run to a fixed point (the cleanups of one cycle can free more in the
// next, as crypto/tls's certificate cache does).
func heapAfterGC() int64 {
	var m runtime.MemStats
	for range 5 {
		runtime.GC()
		runtime.Gosched()
	}
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// openFDs returns how many file descriptors the process has open, or -1
// where /proc/self/fd does not exist.
func openFDs() int {
	des, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(des)
}

// goroutinesBySide counts the goroutines of the process by whose they are:
// the harness's servers, the test's own callers of Lookup, and the rest
// (the Client's, and the runtime's).
func goroutinesBySide() (client, harness, callers int) {
	buf := make([]byte, 64<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		switch {
		case strings.Contains(g, "net/http.(*conn).serve"), strings.Contains(g, "(*serverConn)"),
			strings.Contains(g, "mtaststest."), strings.Contains(g, "miekg/dns"):
			harness++
		case strings.Contains(g, "_test.Test"):
			callers++
		default:
			client++
		}
	}
	return client, harness, callers
}

// waitUntil polls cond until it holds or limit has passed, and reports
// whether it held. It is for background work with no other signal.
func waitUntil(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// recordResolver answers every `_mta-sts` query with one record, at once:
// it takes the harness DNS server (whose UDP socket drops queries when
// thousands arrive at once) out of tests about policy hosts.
type recordResolver string

func (r recordResolver) LookupTXT(context.Context, string) ([]string, error) {
	return []string{string(r)}, nil
}

// lookupEach looks every name up with workers lookups at a time and hands
// each result to check.
func lookupEach(t *testing.T, c *mtasts.Client, names []string, workers int, check func(string, *mtasts.Result)) {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(names) {
					return
				}
				r, err := c.Lookup(context.Background(), names[i])
				if err != nil {
					t.Errorf("Lookup(%s): %v", names[i], err)
					continue
				}
				check(names[i], r)
			}
		})
	}
	wg.Wait()
}

// A failed fetch is remembered for its back-off as a small summary, never as
// the error with what the policy host sent: 1,000 domains that each
// present a distinct 216 KiB certificate chain that fails verification
// leave less than 1 KiB each behind, and the summaries go at their
// deadline.
func TestBackoffKeepsNoCertificates(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 TLS handshakes, 1,000 of them with 216 KiB chains")
	}
	const (
		n   = 1000
		pad = 216 << 10
	)
	s := mtaststest.NewServer(t)
	names := make([]string, n)
	for i := range names {
		names[i] = "d" + strconv.Itoa(i) + ".chain.test"
		s.Domain(names[i]).Record("1").
			Policy(mtasts.ModeEnforce, 86400, "mx."+names[i]).
			Certificate(mtaststest.CertWrongName)
	}
	clk := newClock()
	var fetches atomic.Int64
	newClient := func() *mtasts.Client {
		c := s.Client()
		// The test is about memory, not DNS: under -race on a loaded
		// machine the harness's short per-query timeout can pass before
		// its DNS server gets the CPU.
		c.Resolver = &resolver.Stub{Servers: []string{s.DNSAddr()}, Timeout: 30 * time.Second}
		c.Now = clk.Now
		c.FetchTimeout = 30 * time.Second
		c.Hooks.Fetched = func(string, time.Duration, error) { fetches.Add(1) }
		return c
	}
	failed := func(name string, r *mtasts.Result) {
		if r.Policy != nil || r.Failure != tlsrpt.ResultSTSWebPKIInvalid || !errors.Is(r.Err, mtasts.ErrWebPKI) {
			t.Errorf("%s: %+v; want sts-webpki-invalid", name, r)
		}
	}

	// Warm up with a client thrown away: the harness issues and keeps each
	// domain's leaf certificate on first use, and pools fill.
	lookupEach(t, newClient(), names, 8, failed)
	for _, name := range names {
		s.Domain(name).CertificatePadding(pad)
	}

	before := heapAfterGC()
	c := newClient()
	lookupEach(t, c, names, 8, failed) // each Result, with its full error, is dropped
	after := heapAfterGC()
	perDomain := (after - before) / n
	t.Logf("back-off state: %d bytes per failed domain (%d domains, %d KiB chains)", perDomain, n, pad>>10)
	if perDomain >= 1024 {
		t.Errorf("%d bytes kept per failed domain; want under 1 KiB", perDomain)
	}

	// The summary still says what failed, and still stops refetches.
	fetches.Store(0)
	r, err := c.Lookup(context.Background(), names[0])
	if err != nil || r.Policy != nil || !errors.Is(r.Err, mtasts.ErrFetchBackoff) || !errors.Is(r.Err, mtasts.ErrWebPKI) ||
		r.Failure != tlsrpt.ResultSTSWebPKIInvalid || fetches.Load() != 0 {
		t.Fatalf("lookup within the back-off: %+v, %v (err %v), %d fetches", r, err, r.Err, fetches.Load())
	}
	t.Logf("back-off error: %v", r.Err)

	// At the deadline the summaries go, without a lookup of their domain.
	clk.Advance(mtasts.FetchBackoff + time.Second)
	late := s.Domain("late.chain.test").Record("1").Status(500)
	if r, err := c.Lookup(context.Background(), late.Name()); err != nil || r.Failure != tlsrpt.ResultSTSPolicyFetchError {
		t.Fatalf("lookup of another domain: %+v, %v", r, err)
	}
	expired := (heapAfterGC() - before) / n
	t.Logf("after the deadline: %d bytes per domain", expired)
	if expired >= 256 {
		t.Errorf("%d bytes per domain kept after the back-off deadline; want under 256", expired)
	}
	runtime.KeepAlive(c)
}

// Discoveries in flight are bounded: thousands of policy hosts that accept
// and never answer hold at most MaxDiscoveries discoveries, the others are
// answered at once without a policy and without caching anything,
// goroutines and descriptors stay bounded, and everything returns to the
// baseline once the fetch timeout has passed.
func TestDiscoveriesBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("4,200 hung policy hosts")
	}
	const (
		n       = 4200
		bound   = mtasts.DefaultMaxDiscoveries
		timeout = 10 * time.Second // every hung discovery ends by then
	)
	s := mtaststest.NewServer(t)
	names := make([]string, n)
	for i := range names {
		names[i] = "h" + strconv.Itoa(i) + ".hang.test"
		s.Domain(names[i]).Record("1").Policy(mtasts.ModeEnforce, 86400, "mx."+names[i]).Hang()
	}
	good := s.Domain("good.test").Record("1").Policy(mtasts.ModeEnforce, 86400, "mx.good.test")
	c := s.Client()
	c.Resolver = recordResolver("v=STSv1; id=1")
	clk := newClock()
	c.Now = clk.Now
	c.FetchTimeout = timeout
	if r, err := c.Lookup(context.Background(), good.Name()); err != nil || r.Policy == nil {
		t.Fatalf("good.test: %+v, %v", r, err)
	}
	s.ResetCounters()
	runtime.GC()
	baseG, baseFD := runtime.NumGoroutine(), openFDs()
	baseClient, baseHarness, _ := goroutinesBySide()

	var refused, done atomic.Int64
	var mu sync.Mutex
	var refusedName string
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Go(func() {
			defer done.Add(1)
			r, err := c.Lookup(context.Background(), name)
			switch {
			case err != nil:
				t.Errorf("Lookup(%s): %v", name, err)
			case errors.Is(r.Err, mtasts.ErrDiscoveryLimit):
				if r.Policy != nil || r.Failure != "" {
					t.Errorf("%s: refused discovery gave %+v; want no policy and nothing to report", name, r)
				}
				refused.Add(1)
				mu.Lock()
				refusedName = name
				mu.Unlock()
			case r.Policy != nil || r.Failure != tlsrpt.ResultSTSPolicyFetchError:
				t.Errorf("%s: %+v; want a fetch error", name, r)
			}
		})
	}
	if !waitUntil(timeout/2, func() bool { return refused.Load() >= n-bound && s.TotalFetches() >= bound }) {
		t.Fatalf("%d refused and %d requests at the hung hosts; want %d and %d", refused.Load(), s.TotalFetches(), n-bound, bound)
	}
	peakG, peakFD := runtime.NumGoroutine()-baseG, openFDs()-baseFD
	client, harness, callers := goroutinesBySide()
	t.Logf("goroutines over the baseline: %d of the client, %d of the harness, %d callers waiting", client-baseClient, harness-baseHarness, callers)
	t.Logf("%d hostile domains, %d discoveries in flight, %d refused: %d goroutines and %d descriptors over the baseline (the harness's included)",
		n, n-int(refused.Load()), refused.Load(), peakG, peakFD)
	if got := s.TotalFetches(); got > bound {
		t.Errorf("%d requests at the hung hosts; want at most %d", got, bound)
	}
	if peakG > 16*bound {
		t.Errorf("%d goroutines over the baseline; want at most %d", peakG, 16*bound)
	}
	if baseFD >= 0 && peakFD > 4*bound+64 {
		t.Errorf("%d descriptors over the baseline; want at most %d", peakFD, 4*bound+64)
	}

	// During the flood a cached policy is still served, and an id check
	// that cannot start keeps it.
	if r, err := c.Lookup(context.Background(), good.Name()); err != nil || r.Policy == nil || r.Source != mtasts.SourceCache {
		t.Errorf("cached policy during the flood: %+v, %v", r, err)
	}
	if r, err := c.CheckID(context.Background(), good.Name()); err != nil || r.Policy == nil || r.ID != "1" ||
		!errors.Is(r.Err, mtasts.ErrDiscoveryLimit) || r.Failure != "" {
		t.Errorf("id check during the flood: %+v, %v; want the cached policy and ErrDiscoveryLimit", r, err)
	}

	if !waitUntil(timeout+20*time.Second, func() bool { return done.Load() == n }) {
		t.Fatalf("%d of %d lookups returned", done.Load(), n)
	}
	wg.Wait()
	if !waitUntil(20*time.Second, func() bool {
		return runtime.NumGoroutine() <= baseG+5 && (baseFD < 0 || openFDs() <= baseFD+5)
	}) {
		t.Errorf("after the flood: %d goroutines and %d descriptors over the baseline", runtime.NumGoroutine()-baseG, openFDs()-baseFD)
	}

	// A refused discovery left no back-off and no "no record" behind: once
	// the host answers, the next lookup fetches.
	s.Domain(refusedName).Reset()
	if r, err := c.Lookup(context.Background(), refusedName); err != nil || r.Policy == nil || r.Source != mtasts.SourceFetch {
		t.Errorf("after the flood, %s: %+v, %v; want a fetched policy", refusedName, r, err)
	}
}

// The bound is the Client's MaxDiscoveries when set, and callers of a
// domain already being discovered share its discovery without counting.
func TestMaxDiscoveries(t *testing.T) {
	s := mtaststest.NewServer(t)
	c := s.Client()
	c.Now = newClock().Now
	c.FetchTimeout = 5 * time.Second
	c.MaxDiscoveries = 2
	var refusedHook atomic.Int64
	c.Hooks.DiscoveryRefused = func(string) { refusedHook.Add(1) }
	for _, name := range []string{"a.hang.test", "b.hang.test", "c.hang.test"} {
		s.Domain(name).Record("1").Policy(mtasts.ModeEnforce, 86400, "mx."+name).Hang()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for range 10 { // ten callers, two discoveries
		for _, name := range []string{"a.hang.test", "b.hang.test"} {
			wg.Go(func() { c.Lookup(ctx, name) })
		}
	}
	if !waitUntil(5*time.Second, func() bool { return s.TotalFetches() == 2 }) {
		t.Fatalf("%d requests at the hung hosts; want 2", s.TotalFetches())
	}
	r, err := c.Lookup(context.Background(), "c.hang.test")
	if err != nil || r.Policy != nil || !errors.Is(r.Err, mtasts.ErrDiscoveryLimit) || r.Failure != "" || refusedHook.Load() != 1 {
		t.Fatalf("third domain: %+v, %v, %d DiscoveryRefused calls; want ErrDiscoveryLimit and 1", r, err, refusedHook.Load())
	}
	// A caller of a domain in flight joins it and waits; it is not refused.
	short, stop := context.WithTimeout(ctx, 200*time.Millisecond)
	defer stop()
	if r, err := c.Lookup(short, "a.hang.test"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("joining a discovery in flight: %+v, %v; want to wait until ctx ends", r, err)
	}
	cancel() // the callers go; the discoveries end at the fetch timeout
	wg.Wait()
}
