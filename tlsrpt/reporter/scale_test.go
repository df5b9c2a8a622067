package reporter_test

import (
	"context"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/strictmx/strictmx/internal/redistest"
	"github.com/strictmx/strictmx/tlsrpt"
	"github.com/strictmx/strictmx/tlsrpt/boltstore"
	"github.com/strictmx/strictmx/tlsrpt/redisstore"
	"github.com/strictmx/strictmx/tlsrpt/reporter"
)

// scaleEnv turns on the large runs of TestScaleReportRun.
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

// TestScaleReportRun runs the Scheduler over a Store holding one day of
// no-policy-found counts for n domains, 1% of which publish `_smtp._tls`
// with an https rua, and logs the time of the two passes (schedule, then
// send) and the peak live heap of the run above the filled store.
//
// Sizes: 10,000 domains always; with STRICTMX_SCALE=1 (not with -short)
// also 100,000 and 1,000,000 in a MemoryStore and 100,000 in a boltstore
// file and in Redis (with STRICTMX_TEST_REDIS=1, as for the redisstore
// tests); STRICTMX_SCALE=bolt runs only 1,000,000 in a boltstore file
// (each key takes two fsynced transactions: allow an hour). Figures are logged (go
// test -v -run ScaleReportRun), not asserted; the counts of queries and
// posts are, and so is the bound on what the run itself keeps: at most
// 64 MiB of live heap above the store.
func TestScaleReportRun(t *testing.T) {
	memory, bolt, redis := []int{10_000}, []int{10_000}, []int{10_000}
	switch env := os.Getenv(scaleEnv); {
	case env == "" || testing.Short():
		t.Logf("100,000 and 1,000,000 domains: set %s=1 (without -short) to run", scaleEnv)
	case env == "bolt":
		memory, bolt, redis = nil, []int{1_000_000}, nil
	default:
		memory, bolt, redis = []int{10_000, 100_000, 1_000_000}, []int{10_000, 100_000}, []int{10_000, 100_000}
	}
	for _, n := range memory {
		t.Run(fmt.Sprintf("memory/%d", n), func(t *testing.T) {
			scaleReportRun(t, n, &tlsrpt.MemoryStore{})
		})
	}
	for _, n := range bolt {
		t.Run(fmt.Sprintf("bolt/%d", n), func(t *testing.T) {
			s, err := boltstore.Open(filepath.Join(t.TempDir(), "tlsrpt.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			scaleReportRun(t, n, s)
		})
	}
	for _, n := range redis {
		t.Run(fmt.Sprintf("redis/%d", n), func(t *testing.T) {
			client := goredis.NewClient(&goredis.Options{Addr: redistest.Start(t)})
			t.Cleanup(func() { client.Close() })
			scaleReportRun(t, n, &redisstore.Store{Client: client})
		})
	}
}

// postCounter is an https rua endpoint that counts reports and keeps
// nothing of them, so that the test's own memory does not grow with the
// number of reports.
type postCounter struct {
	*httptest.Server
	posts, bytes atomic.Int64
}

func newPostCounter(t *testing.T) *postCounter {
	p := &postCounter{}
	p.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		if r.Header.Get("Content-Type") != tlsrpt.MediaType {
			w.WriteHeader(http.StatusUnsupportedMediaType)
			return
		}
		p.posts.Add(1)
		p.bytes.Add(n)
	}))
	t.Cleanup(p.Close)
	return p
}

func scaleReportRun(t *testing.T, n int, store tlsrpt.Store) {
	ctx := context.Background()
	srv := newPostCounter(t)
	day := tlsrpt.DayOf(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	res := &countingResolver{txt: map[string][]string{}}
	at := day.Start().Add(time.Hour)
	fill := time.Now()
	const batch = 10_000 // domains per Add, as a Flusher gives them
	for lo := 0; lo < n; lo += batch {
		var c tlsrpt.Collector
		for i := lo; i < min(n, lo+batch); i++ {
			d := fmt.Sprintf("d%07d.example", i)
			if i%100 == 0 {
				res.txt["_smtp._tls."+d] = []string{"v=TLSRPTv1; rua=" + srv.URL + "/tlsrpt"}
			}
			if err := c.Record(tlsrpt.Result{Policy: tlsrpt.Policy{Type: tlsrpt.PolicyNoPolicyFound, Domain: d}, Time: at}); err != nil {
				t.Fatal(err)
			}
		}
		if err := store.Add(ctx, tlsrpt.NewBatchID(), c.Drain()); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d domains: store filled in %v", n, time.Since(fill).Round(time.Millisecond))
	now := day.End().Add(2 * time.Hour)
	// Checkpoints: every tenth of the keys of a pass, the pass waits in
	// Keys while two collections run, and the live heap then is what the
	// run and the store hold at that point, with no garbage counted.
	var checkpoint atomic.Uint64
	paused := &pausingStore{Store: store, every: max(n/10, 1000), pause: func() {
		runtime.GC()
		runtime.GC()
		checkpoint.Store(max(checkpoint.Load(), liveHeap()))
	}}
	s := &reporter.Scheduler{
		Store: paused, OrganizationName: "Scale Org", ContactInfo: "tlsrpt@sender.example",
		HTTPClient: srv.Client(), Resolver: res, MaxDelay: -1,
		Now: func() time.Time { return now },
	}

	// The baseline is the live heap after two collections with the store
	// filled. During the run a sampler reads, every 10ms, the live heap as
	// of the last GC (runtime/metrics /gc/heap/live:bytes) and HeapInuse
	// (live plus garbage not yet swept, which follows GOGC and so the size
	// of the store). The live heap of a GC counts what was allocated while
	// it marked, so with a large store, whose marking takes long, it
	// counts garbage too; the checkpoints do not. After the run, two more
	// collections give what the store itself grew by (the done markers it
	// keeps).
	runtime.GC()
	runtime.GC()
	base := liveHeap()
	var peakLive, peakInuse atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peakInuse.Store(max(peakInuse.Load(), m.HeapInuse))
			peakLive.Store(max(peakLive.Load(), liveHeap()))
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseInuse := ms.HeapInuse
	start := time.Now()
	if err := s.RunOnce(ctx); err != nil { // schedules every key
		t.Fatal(err)
	}
	schedule := time.Since(start) - paused.took()
	q1 := res.queries.Load()
	start = time.Now()
	if err := s.RunOnce(ctx); err != nil { // sends what is due
		t.Fatal(err)
	}
	send := time.Since(start) - paused.took()
	close(stop)
	wg.Wait()
	runtime.GC()
	runtime.GC()
	after := liveHeap()
	runtime.KeepAlive(store)
	runtime.KeepAlive(res)

	if want := int64(n+99) / 100; srv.posts.Load() != want {
		t.Fatalf("%d reports posted; want %d", srv.posts.Load(), want)
	}
	if q := res.queries.Load(); q1 != 0 || q != int64(n) {
		t.Fatalf("DNS queries: %d while scheduling, %d in all; want 0 and one per domain (%d)", q1, q, n)
	}
	left := 0
	for _, err := range store.Keys(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		left++
	}
	mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
	over := func(b, base uint64) float64 { return mib(b - min(b, base)) }
	perDomain := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(n) }
	t.Logf("%d domains (%d with a record): schedule pass %v (%.0f ns/domain), send pass %v (%.0f ns/domain), checkpoints left out; DNS queries %d; %d keys left in the store (done markers)",
		n, srv.posts.Load(), schedule.Round(time.Millisecond), perDomain(schedule), send.Round(time.Millisecond), perDomain(send), res.queries.Load(), left)
	t.Logf("%d domains: live heap with the filled store %.1f MiB; at the checkpoints of the run +%.1f MiB at most; after the run +%.1f MiB (%d B/domain: the store's done markers); peak live heap of a GC +%.1f MiB, peak HeapInuse +%.1f MiB (both with garbage); posts %.1f MiB",
		n, mib(base), over(checkpoint.Load(), base), over(after, base), (after-min(after, base))/uint64(n),
		over(peakLive.Load(), base), over(peakInuse.Load(), baseInuse), mib(uint64(srv.bytes.Load())))
	// What the run holds beyond the store's own growth, at most.
	if own := over(checkpoint.Load(), max(after, base)); own > 64 {
		t.Errorf("at a checkpoint the run held %.1f MiB beyond what the store keeps after it; want at most 64 MiB", own)
	}
}

// pausingStore calls pause every so many keys that Keys yields.
type pausingStore struct {
	tlsrpt.Store
	every  int
	pause  func()
	paused time.Duration // in pause, since the last took
}

// took returns the time spent in pause since it was last called.
func (s *pausingStore) took() time.Duration {
	d := s.paused
	s.paused = 0
	return d
}

func (s *pausingStore) Keys(ctx context.Context) iter.Seq2[tlsrpt.Key, error] {
	return func(yield func(tlsrpt.Key, error) bool) {
		n := 0
		for k, err := range s.Store.Keys(ctx) {
			if n++; n%s.every == 0 {
				start := time.Now()
				s.pause()
				s.paused += time.Since(start)
			}
			if !yield(k, err) {
				return
			}
		}
	}
}

// liveHeap returns the live heap as of the last GC.
func liveHeap() uint64 {
	m := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(m)
	return m[0].Value.Uint64()
}
