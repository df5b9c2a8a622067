package reporter_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strictmx/strictmx/tlsrpt"
	"github.com/strictmx/strictmx/tlsrpt/reporter"
	"github.com/strictmx/strictmx/tlsrpt/tlsrpttest"
)

// scaleEnv turns on the 1,000,000-domain run of TestScaleReportRun.
const scaleEnv = "STRICTMX_SCALE"

// countingResolver serves a record for the names in txt, NXDOMAIN for
// the rest, and counts the queries.
type countingResolver struct {
	txt     map[string][]string
	queries atomic.Int64
}

func (r *countingResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	r.queries.Add(1)
	if v, ok := r.txt[name]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// TestScaleReportRun runs the Scheduler over a MemoryStore holding one
// day of no-policy-found counts for n domains, 1% of which publish
// `_smtp._tls` with an https rua, and logs the peak heap above the filled
// store, the time, and the DNS queries of the two passes (schedule, then
// send). 10,000 domains always; 1,000,000 with STRICTMX_SCALE=1 (not with
// -short). Figures are logged (go test -v -run ScaleReportRun), not
// asserted; the counts of queries and posts are.
func TestScaleReportRun(t *testing.T) {
	sizes := []int{10_000}
	if os.Getenv(scaleEnv) == "" || testing.Short() {
		t.Logf("1,000,000 domains: set %s=1 (without -short) to run", scaleEnv)
	} else {
		sizes = append(sizes, 1_000_000)
	}
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) { scaleReportRun(t, n) })
	}
}

func scaleReportRun(t *testing.T, n int) {
	ctx := context.Background()
	srv := tlsrpttest.NewHTTPSServer(t)
	day := tlsrpt.DayOf(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	res := &countingResolver{txt: map[string][]string{}}
	var c tlsrpt.Collector
	at := day.Start().Add(time.Hour)
	for i := range n {
		d := fmt.Sprintf("d%07d.example", i)
		if i%100 == 0 {
			res.txt["_smtp._tls."+d] = []string{"v=TLSRPTv1; rua=" + srv.URL + "/tlsrpt"}
		}
		if err := c.Record(tlsrpt.Result{Policy: tlsrpt.Policy{Type: tlsrpt.PolicyNoPolicyFound, Domain: d}, Time: at}); err != nil {
			t.Fatal(err)
		}
	}
	var store tlsrpt.MemoryStore
	if err := store.Add(ctx, tlsrpt.NewBatchID(), c.Drain()); err != nil {
		t.Fatal(err)
	}
	now := day.End().Add(2 * time.Hour)
	s := &reporter.Scheduler{
		Store: &store, OrganizationName: "Scale Org", ContactInfo: "tlsrpt@sender.example",
		HTTPClient: srv.ReportClient(), Resolver: res, MaxDelay: -1,
		Now: func() time.Time { return now },
	}

	// Peaks are sampled every 10ms: HeapAlloc (live plus garbage not yet
	// collected, so it follows GOGC) and the live heap of the last GC.
	runtime.GC()
	base := liveHeap()
	var peakAlloc, peakLive atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peakAlloc.Store(max(peakAlloc.Load(), m.HeapAlloc))
			peakLive.Store(max(peakLive.Load(), liveHeap()))
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	start := time.Now()
	if err := s.RunOnce(ctx); err != nil { // schedules every key
		t.Fatal(err)
	}
	schedule := time.Since(start)
	q1 := res.queries.Load()
	start = time.Now()
	if err := s.RunOnce(ctx); err != nil { // sends what is due
		t.Fatal(err)
	}
	send := time.Since(start)
	close(stop)
	wg.Wait()
	runtime.GC()
	after := liveHeap()
	storeKeys, _ := store.Keys(ctx)
	runtime.KeepAlive(&store)

	posts := srv.Posts()
	var postBytes int
	for _, p := range posts {
		postBytes += len(p.Body)
	}
	if want := (n + 99) / 100; len(posts) != want {
		t.Fatalf("%d reports posted; want %d", len(posts), want)
	}
	if q := res.queries.Load(); q1 != 0 || q != int64(n) {
		t.Fatalf("DNS queries: %d while scheduling, %d in all; want 0 and one per domain (%d)", q1, q, n)
	}
	mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
	over := func(b uint64) float64 { return mib(b - min(b, base)) }
	t.Logf("%d domains (%d with a record): schedule pass %v, send pass %v; DNS queries %d (one per domain, at send time); %d keys left in the store",
		n, len(posts), schedule, send, res.queries.Load(), len(storeKeys))
	t.Logf("%d domains: live heap with the filled store %.1f MiB; during the run peak live heap +%.1f MiB, peak HeapAlloc +%.1f MiB (garbage included); after the run +%.1f MiB live (the store's per-key state); recorded posts %.1f MiB",
		n, mib(base), over(peakLive.Load()), over(peakAlloc.Load()), over(after), mib(uint64(postBytes)))
}

// liveHeap returns the live heap as of the last GC.
func liveHeap() uint64 {
	m := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(m)
	return m[0].Value.Uint64()
}
