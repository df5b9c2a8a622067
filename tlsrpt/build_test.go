package tlsrpt

import (
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkBuildReports builds, encodes and gzips the reports of 100,000
// policy domains (one op = all of them) and reports the peak heap seen
// while doing so, including the aggregates themselves.
func BenchmarkBuildReports(b *testing.B) {
	const domains = 100_000
	var c Collector
	for i := range domains {
		d := fmt.Sprintf("d%06d.example", i)
		p := Policy{Type: PolicySTS, Domain: d, String: []string{"version: STSv1", "mode: enforce", "mx: mx1." + d, "mx: *.backup." + d, "max_age: 604800"}, MXHost: []string{"mx1." + d, "*.backup." + d}}
		at := testDay.Start().Add(time.Hour)
		for range 10 {
			c.Record(Result{Policy: p, Time: at})
		}
		c.Record(Result{Policy: p, Time: at, ResultType: ResultCertificateExpired, MXHost: "mx1." + d, ReceivingIP: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})})
	}
	aggs := c.Snapshot()
	if len(aggs) != domains {
		b.Fatalf("%d aggregates", len(aggs))
	}

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})

	var gzBytes int64
	b.ResetTimer()
	for b.Loop() {
		gzBytes = 0
		for _, a := range aggs {
			r, err := BuildReport(a, "Bench Org", "tlsrpt@sender.example", NewReportID(a.Key, "sender.example", 1))
			if err != nil {
				b.Fatal(err)
			}
			js, err := r.Marshal()
			if err != nil {
				b.Fatal(err)
			}
			gz, err := Gzip(js)
			if err != nil {
				b.Fatal(err)
			}
			gzBytes += int64(len(gz))
		}
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/domains, "ns/report")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(base.HeapInuse)/(1<<20), "aggregates-heap-MB")
	b.ReportMetric(float64(gzBytes)/domains, "gz-bytes/report")
}

// A policy domain of any valid length gives a report that validates: the
// report-id stays within its bound.
func TestNewReportIDLongDomain(t *testing.T) {
	labels := []string{strings.Repeat("a", 63), strings.Repeat("b", 63), strings.Repeat("c", 63), strings.Repeat("d", 53), "example"}
	long := strings.Join(labels, ".")
	if len(long) != 253 {
		t.Fatalf("domain of %d octets", len(long))
	}
	for _, dom := range []string{"example.net", long} {
		var c Collector
		c.Record(Result{Policy: Policy{Type: PolicyNoPolicyFound, Domain: dom}, Time: time.Date(2026, 11, 24, 1, 0, 0, 0, time.UTC)})
		a := c.Snapshot()[0]
		id := NewReportID(a.Key, "sender.example", 0xfedcba9876543210)
		if _, err := BuildReport(a, "Sender Org", "tlsrpt@sender.example", id); err != nil {
			t.Errorf("%d-octet domain: %v", len(dom), err)
		}
		if short := dom == "example.net"; short != strings.Contains(id, dom) {
			t.Errorf("%d-octet domain: report-id %q", len(dom), id)
		}
	}
}
