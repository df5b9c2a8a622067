package tlsrpt

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"
)

// scaleEnv turns on the 1,000,000-domain runs of the scale tests.
const scaleEnv = "STRICTMX_SCALE"

// scaleSizes are the numbers of distinct domains a scale test runs with:
// 10,000 always, 100,000 and 1,000,000 with STRICTMX_SCALE=1 (and not
// with -short).
func scaleSizes(t *testing.T) []int {
	if os.Getenv(scaleEnv) == "" || testing.Short() {
		t.Logf("100,000 and 1,000,000 domains: set %s=1 (without -short) to run", scaleEnv)
		return []int{10_000}
	}
	return []int{10_000, 100_000, 1_000_000}
}

// heapInUse returns the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestScaleCollectorNoPolicyFound records one no-policy-found session for
// each of n distinct recipient domains in one day, the load of a large
// sender whose recipients mostly publish nothing, and logs the time and
// memory it takes, then what Drain and a MemoryStore hold of it. The
// figures are logged (go test -v -run ScaleCollector), never asserted.
func TestScaleCollectorNoPolicyFound(t *testing.T) {
	for _, n := range scaleSizes(t) {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			day := DayOf(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
			names := make([]string, n)
			for i := range names {
				names[i] = fmt.Sprintf("d%07d.example", i)
			}
			at := day.Start().Add(time.Hour)
			base := heapInUse()
			var c Collector
			start := time.Now()
			for _, d := range names {
				if err := c.Record(Result{Policy: Policy{Type: PolicyNoPolicyFound, Domain: d}, MXHost: "mx." + d, Time: at}); err != nil {
					t.Fatal(err)
				}
			}
			first := time.Since(start)
			start = time.Now()
			for _, d := range names { // a second session each: no allocation
				c.Record(Result{Policy: Policy{Type: PolicyNoPolicyFound, Domain: d}, Time: at})
			}
			again := time.Since(start)
			held := heapInUse() - base
			start = time.Now()
			aggs := c.Drain()
			drain := time.Since(start)
			if len(aggs) != n {
				t.Fatalf("%d aggregates; want %d", len(aggs), n)
			}
			drained := heapInUse() - base
			var s MemoryStore
			start = time.Now()
			if err := s.Add(context.Background(), NewBatchID(), aggs); err != nil {
				t.Fatal(err)
			}
			add := time.Since(start)
			aggs = nil
			stored := heapInUse() - base
			t.Logf("%d domains: first sessions %v (%.0f ns/domain), second sessions %v (%.0f ns/domain); Collector %.1f MiB (%d B/domain, domain names excluded)",
				n, first, float64(first.Nanoseconds())/float64(n), again, float64(again.Nanoseconds())/float64(n), mib(held), held/uint64(n))
			t.Logf("%d domains: Drain %v, %.1f MiB of aggregates; MemoryStore.Add %v, store %.1f MiB (%d B/domain)",
				n, drain, mib(drained), add, mib(stored), stored/uint64(n))
			runtime.KeepAlive(&c)
			runtime.KeepAlive(&s)
			runtime.KeepAlive(names)
		})
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
