package tlsrpt_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/strictmx/strictmx/tlsrpt"
)

// largePolicy is a policy of just under 64 KiB, the most an MTA-STS
// policy may be, made of thousands of mx lines: the shape that made the
// check of mx-host patterns against policy lines quadratic.
func largePolicy() tlsrpt.Policy {
	p := tlsrpt.Policy{Type: tlsrpt.PolicySTS, Domain: "big.example",
		String: []string{"version: STSv1", "mode: enforce", "max_age: 86400"}}
	size := 40
	for i := 0; size < 64<<10-32; i++ {
		mx := fmt.Sprintf("a%d.bg", i)
		p.String = append(p.String, "mx:"+mx)
		p.MXHost = append(p.MXHost, mx)
		size += len(mx) + 5
	}
	return p
}

func TestRecordLargePolicy(t *testing.T) {
	p := largePolicy()
	if n := len(strings.Join(p.String, "\r\n")); n > 64<<10 || len(p.MXHost) < 5000 {
		t.Fatalf("policy of %d bytes, %d mx lines", n, len(p.MXHost))
	}
	var c tlsrpt.Collector
	day := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	if err := c.Record(tlsrpt.Result{Policy: p, Time: day}); err != nil {
		t.Fatal(err)
	}
	// A pattern without its mx: line is still refused.
	bad := largePolicy()
	bad.MXHost = append(bad.MXHost, "stray.big.example")
	if err := c.Record(tlsrpt.Result{Policy: bad, Time: day}); err == nil {
		t.Fatal("mx-host without an mx: line accepted")
	}
	aggs := c.Snapshot()
	if len(aggs) != 1 || aggs[0].Sessions() != 1 {
		t.Fatalf("aggregates %+v", aggs)
	}
}

// BenchmarkRecordLargePolicy is the first session of a (policy, day) for
// a 64 KiB policy of thousands of mx lines: the policy is checked in full
// once. It must grow linearly with the policy.
func BenchmarkRecordLargePolicy(b *testing.B) {
	p := largePolicy()
	day := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for b.Loop() {
		var c tlsrpt.Collector
		if err := c.Record(tlsrpt.Result{Policy: p, Time: day}); err != nil {
			b.Fatal(err)
		}
	}
}
