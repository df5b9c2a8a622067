package tlsrpt

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func stsResult(ok bool) Result {
	r := Result{
		Policy:      stsPolicy(),
		MXHost:      "mx1.example.net",
		SendingIP:   netip.MustParseAddr("192.0.2.1"),
		ReceivingIP: netip.MustParseAddr("2001:db8::25"),
		EHLO:        "mx1.example.net",
		Time:        testDay.Start().Add(time.Hour),
	}
	if !ok {
		r.ResultType = ResultCertificateExpired
	}
	return r
}

func TestCollectorCounts(t *testing.T) {
	var c Collector
	for range 3 {
		if err := c.Record(stsResult(true)); err != nil {
			t.Fatal(err)
		}
	}
	c.Record(stsResult(false))
	c.Record(stsResult(false))
	// Report traffic is never counted.
	rt := stsResult(false)
	rt.ReportTraffic = true
	c.Record(rt)
	// A different spelling of the same policy counts into the same policy.
	odd := stsResult(true)
	odd.Policy.Domain = "EXAMPLE.net."
	c.Record(odd)

	aggs := c.Snapshot()
	if len(aggs) != 1 {
		t.Fatalf("got %d aggregates", len(aggs))
	}
	a := aggs[0]
	if a.Domain != "example.net" || a.Day != testDay || len(a.Policies) != 1 {
		t.Fatalf("aggregate = %+v", a)
	}
	p := a.Policies[0]
	if p.Summary != (Summary{4, 2}) || len(p.FailureDetails) != 1 || p.FailureDetails[0].FailedSessionCount != 2 {
		t.Fatalf("policy = %+v", p)
	}
	if got := p.FailureDetails[0].ReceivingIP.String(); got != "2001:db8::25" {
		t.Errorf("receiving ip = %s", got)
	}
	// Drain empties.
	if len(c.Drain()) != 1 || len(c.Drain()) != 0 {
		t.Error("Drain did not reset")
	}
}

func TestCollectorDayBoundary(t *testing.T) {
	var c Collector
	last := testDay.Start().Add(24*time.Hour - time.Millisecond) // 23:59:59.999
	r := stsResult(true)
	r.Time = last
	c.Record(r)
	r.Time = last.Add(time.Millisecond) // 00:00:00.000 next day
	c.Record(r)
	// A session start in another zone is bucketed by its UTC day.
	r.Time = time.Date(2026, 11, 25, 0, 30, 0, 0, time.FixedZone("x", 3600)) // 23:30 UTC on the 24th
	c.Record(r)
	aggs := c.Snapshot()
	if len(aggs) != 2 || aggs[0].Day != testDay || aggs[1].Day != testDay+1 {
		t.Fatalf("aggregates = %+v", aggs)
	}
	if aggs[0].Sessions() != 2 || aggs[1].Sessions() != 1 {
		t.Errorf("sessions = %d, %d", aggs[0].Sessions(), aggs[1].Sessions())
	}
	if DayOf(last).End().Before(last.Truncate(time.Second)) {
		t.Error("end-datetime before the last session")
	}
}

func TestCollectorPolicyChangedMidDay(t *testing.T) {
	var c Collector
	c.Record(stsResult(true))
	r := stsResult(true)
	r.Policy.String = []string{"version: STSv1", "mode: testing", "mx: mx2.example.net", "max_age: 86400"}
	r.Policy.MXHost = []string{"mx2.example.net"}
	c.Record(r)
	aggs := c.Snapshot()
	if len(aggs) != 1 || len(aggs[0].Policies) != 2 {
		t.Fatalf("want one aggregate with two policies, got %+v", aggs)
	}
	rep, err := BuildReport(aggs[0], "Org", "tlsrpt@sender.example", NewReportID(aggs[0].Key, "sender.example", 1))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Policies) != 2 {
		t.Errorf("report has %d policies", len(rep.Policies))
	}
}

// TestCollectorManyPoliciesOneDomain: a domain that shows many policies
// in one day (a hostile one can: a new policy id per lookup) gets each
// counted apart, while the chain its sessions walk stays bounded: the
// policies beyond maxChain are found by a hash of the whole policy, also
// when they are put back by Add, and in the same shard as the rest.
func TestCollectorManyPoliciesOneDomain(t *testing.T) {
	const policies = 200
	var c Collector
	rs := make([]Result, policies)
	for i := range rs {
		mx := fmt.Sprintf("mx%03d.example.net", i)
		rs[i] = Result{Policy: Policy{Type: PolicySTS, Domain: "example.net",
			String: []string{"version: STSv1", "mode: enforce", "mx: " + mx, "max_age: 86400"}, MXHost: []string{mx}},
			Time: testDay.Start()}
	}
	for round := range 3 {
		for i := range rs {
			r := rs[i]
			if round == 2 && i%2 == 0 {
				r.ResultType = ResultCertificateExpired
			}
			if err := c.Record(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(when string, wantSessions int64) {
		t.Helper()
		longest, chained, full := 0, 0, 0
		for i := range c.shards {
			sh := &c.shards[i]
			for _, e := range sh.m {
				n := 0
				for ; e != nil; e = e.next {
					n++
				}
				longest, chained = max(longest, n), chained+n
			}
			for _, e := range sh.full {
				for ; e != nil; e = e.next {
					full++
				}
			}
		}
		if longest > maxChain || chained+full != policies {
			t.Errorf("%s: %d entries chained (longest chain %d), %d by full hash; want %d in all, chains of at most %d",
				when, chained, longest, full, policies, maxChain)
		}
		aggs := c.Snapshot()
		if len(aggs) != 1 || len(aggs[0].Policies) != policies {
			t.Fatalf("%s: %d aggregates; want one with %d policies", when, len(aggs), policies)
		}
		for _, p := range aggs[0].Policies {
			if p.Summary.TotalSuccessfulSessionCount+p.Summary.TotalFailureSessionCount != wantSessions {
				t.Fatalf("%s: policy %v has %+v; want %d sessions", when, p.Policy.MXHost, p.Summary, wantSessions)
			}
		}
	}
	check("recorded", 3)
	c.Add(c.Drain()...)
	check("drained and put back", 3)
	c.Add(c.Snapshot()...)
	check("added to itself", 6)
}

func TestCollectorInvalid(t *testing.T) {
	var c Collector
	for name, r := range map[string]Result{
		"policy type":   {Policy: Policy{Type: "dane", Domain: "a.example"}},
		"result type":   {Policy: Policy{Type: PolicyNoPolicyFound, Domain: "a.example"}, ResultType: "bad"},
		"policy domain": {Policy: Policy{Type: PolicyNoPolicyFound, Domain: "a..example"}},
		// Policies that would make the day's report invalid.
		"sts without mx":         {Policy: Policy{Type: PolicySTS, Domain: "a.example", String: []string{"version: STSv1"}}},
		"mx without its line":    {Policy: Policy{Type: PolicySTS, Domain: "a.example", String: []string{"mx: b.example"}, MXHost: []string{"c.example"}}},
		"tlsa not a TLSA record": {Policy: Policy{Type: PolicyTLSA, Domain: "mx.a.example", String: []string{"3 1 1 xyz"}}},
	} {
		if err := c.Record(r); !errors.Is(err, ErrInvalidResult) {
			t.Errorf("%s: error = %v", name, err)
		}
	}
	if len(c.Snapshot()) != 0 {
		t.Error("invalid results were counted")
	}
}

func TestCollectorDefaultsAndDrops(t *testing.T) {
	var c Collector
	c.Record(Result{
		Policy:         Policy{Type: PolicyNoPolicyFound, Domain: "a.example"},
		ResultType:     ResultValidationFailure,
		MXHost:         "not a host",
		EHLO:           "two\r\nlines",
		AdditionalInfo: "relative",
		Time:           testDay.Start(),
	})
	d := c.Snapshot()[0].Policies[0].FailureDetails[0]
	want := FailureDetail{ResultType: ResultValidationFailure, FailedSessionCount: 1, FailureReasonCode: ReasonUnspecified}
	if d != want {
		t.Errorf("detail = %+v, want %+v", d, want)
	}
}

func TestCollectorConcurrent(t *testing.T) {
	var c Collector
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				c.Record(stsResult((g+i)%4 != 0))
				if i%250 == 0 {
					c.Add(c.Drain()...) // drain and put back concurrently
				}
			}
		})
	}
	wg.Wait()
	a := c.Snapshot()[0]
	if got := a.Sessions(); got != 8000 {
		t.Errorf("sessions = %d, want 8000", got)
	}
	if got := a.Policies[0].Summary.TotalFailureSessionCount; got != 2000 {
		t.Errorf("failures = %d, want 2000", got)
	}
}

// randomResults draws results over a few domains, days, policies and
// failure details, so that merges have overlaps to add up.
func randomResults(rng *rand.Rand, n int) []Result {
	domains := []string{"a.example", "b.example", "c.example"}
	out := make([]Result, n)
	for i := range out {
		r := Result{Time: testDay.Start().Add(time.Duration(rng.IntN(3*24)) * time.Hour)}
		d := domains[rng.IntN(len(domains))]
		switch rng.IntN(3) {
		case 0:
			mx := "mx" + string(rune('1'+rng.IntN(2))) + "." + d
			r.Policy = Policy{Type: PolicySTS, Domain: d, String: []string{"version: STSv1", "mx: " + mx}, MXHost: []string{mx}}
		case 1:
			r.Policy = Policy{Type: PolicyTLSA, Domain: "mx." + d, String: []string{"3 1 1 AB"}}
		default:
			r.Policy = Policy{Type: PolicyNoPolicyFound, Domain: d}
		}
		if rng.IntN(2) == 0 {
			r.ResultType = resultTypes[rng.IntN(3)]
			r.ReceivingIP = netip.AddrFrom4([4]byte{192, 0, 2, byte(rng.IntN(3))})
		}
		out[i] = r
	}
	return out
}

func aggregateOf(t *testing.T, rs []Result) map[Key]*Aggregate {
	t.Helper()
	var c Collector
	for _, r := range rs {
		if err := c.Record(r); err != nil {
			t.Fatal(err)
		}
	}
	m := map[Key]*Aggregate{}
	for _, a := range c.Drain() {
		m[a.Key] = a
	}
	return m
}

func mergeMaps(t *testing.T, ms ...map[Key]*Aggregate) map[Key]*Aggregate {
	t.Helper()
	out := map[Key]*Aggregate{}
	for _, m := range ms {
		for k, a := range m {
			s, err := Merge(out[k], a)
			if err != nil {
				t.Fatal(err)
			}
			out[k] = s
		}
	}
	return out
}

// TestMergeProperties: merging the aggregates of two sets of results
// equals the aggregate of their union; merge is commutative and
// associative.
func TestMergeProperties(t *testing.T) {
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 7))
		x, y, z := randomResults(rng, rng.IntN(60)), randomResults(rng, rng.IntN(60)), randomResults(rng, rng.IntN(60))
		ax, ay, az := aggregateOf(t, x), aggregateOf(t, y), aggregateOf(t, z)
		union := aggregateOf(t, append(append(append([]Result{}, x...), y...), z...))
		if got := mergeMaps(t, ax, ay, az); !reflect.DeepEqual(got, union) {
			t.Fatalf("seed %d: merge of parts != aggregate of union", seed)
		}
		if !reflect.DeepEqual(mergeMaps(t, ax, ay), mergeMaps(t, ay, ax)) {
			t.Fatalf("seed %d: not commutative", seed)
		}
		if !reflect.DeepEqual(mergeMaps(t, mergeMaps(t, ax, ay), az), mergeMaps(t, ax, mergeMaps(t, ay, az))) {
			t.Fatalf("seed %d: not associative", seed)
		}
		// Every aggregate builds a valid report.
		for k, a := range union {
			if _, err := BuildReport(a, "Org", "r@s.example", NewReportID(k, "s.example", seed)); err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
		}
	}
}

func TestPolicyHandle(t *testing.T) {
	var c Collector
	h, err := NewPolicyHandle(Policy{Type: PolicySTS, Domain: "Example.NET", String: stsLines, MXHost: []string{"MX1.example.net", "*.backup.example.net."}})
	if err != nil {
		t.Fatal(err)
	}
	r := stsResult(true)
	c.Record(r) // literal
	r.Handle = h
	r.Policy = Policy{} // ignored
	c.Record(r)
	r.ResultType = ResultCertificateExpired
	c.Record(r)
	aggs := c.Snapshot()
	if len(aggs) != 1 || len(aggs[0].Policies) != 1 || aggs[0].Policies[0].Summary != (Summary{2, 1}) {
		t.Fatalf("handle and literal of the same policy were not added up: %+v", aggs)
	}
	if _, err := NewPolicyHandle(Policy{Type: "x", Domain: "a.example"}); !errors.Is(err, ErrInvalidResult) {
		t.Errorf("bad type: %v", err)
	}
}

// BenchmarkCollectorRecordFloor is the cheapest structure that counts a
// session into a policy's counter: a map keyed by a precomputed hash behind
// one mutex. BenchmarkCollectorRecord reads against it, run for run.
func BenchmarkCollectorRecordFloor(b *testing.B) {
	type counter struct{ n int64 }
	var mu sync.Mutex
	m := map[uint64]*counter{0x9e3779b97f4a7c15: {}}
	record := func(k uint64) {
		mu.Lock()
		m[k].n++
		mu.Unlock()
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			record(0x9e3779b97f4a7c15)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				record(0x9e3779b97f4a7c15)
			}
		})
	})
}

// BenchmarkCollectorRecord measures recording into an existing aggregate,
// through a PolicyHandle (the path for senders) and with a Policy literal.
func BenchmarkCollectorRecord(b *testing.B) {
	h, err := NewPolicyHandle(stsPolicy())
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		ok     bool
		handle *PolicyHandle
	}{{"handle/success", true, h}, {"handle/failure", false, h}, {"literal/success", true, nil}, {"literal/failure", false, nil}} {
		b.Run(bc.name, func(b *testing.B) {
			var c Collector
			r := stsResult(bc.ok)
			r.Handle = bc.handle
			c.Record(r)
			b.ReportAllocs()
			for b.Loop() {
				c.Record(r)
			}
		})
		// Parallel: every goroutine records the same policy (one shard,
		// the worst case for contention).
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			var c Collector
			r := stsResult(bc.ok)
			r.Handle = bc.handle
			c.Record(r)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					c.Record(r)
				}
			})
		})
	}
	// Parallel over 64 policy domains, as a sender with many recipients.
	b.Run("handle/success/parallel-many", func(b *testing.B) {
		var c Collector
		rs := make([]Result, 64)
		for i := range rs {
			p := stsPolicy()
			p.Domain = fmt.Sprintf("d%d.example", i)
			hh, err := NewPolicyHandle(p)
			if err != nil {
				b.Fatal(err)
			}
			rs[i] = stsResult(true)
			rs[i].Handle = hh
			c.Record(rs[i])
		}
		var next atomic.Uint32
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(17))
			for pb.Next() {
				i++
				c.Record(rs[i%len(rs)])
			}
		})
	})
}

// Contract section 8 (DANE): a tlsa session with no RRset had, a failed
// TLSA lookup (dnssec-invalid) or mandatory DANE without records
// (dane-required), has the policy-string [].
func TestCollectorTLSAWithoutRecords(t *testing.T) {
	var c Collector
	for _, rt := range []ResultType{ResultDNSSECInvalid, ResultDANERequired} {
		r := Result{Policy: Policy{Type: PolicyTLSA, Domain: "mx.a.example"}, ResultType: rt, MXHost: "mx.a.example", Time: testDay.Start()}
		if err := c.Record(r); err != nil {
			t.Errorf("%s: %v", rt, err)
		}
	}
	if a := c.Snapshot(); len(a) != 1 || a[0].Sessions() != 2 {
		t.Errorf("snapshot %+v, want both sessions", a)
	}
}
