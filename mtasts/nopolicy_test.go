package mtasts_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/strictmx/strictmx/mtasts/dane"
	"github.com/strictmx/strictmx/mtasts/resolver"

	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/tlsrpt"
)

// A domain without an MTA-STS policy is reported as no-policy-found (for a
// domain that publishes `_smtp._tls` before it enforces MTA-STS): a session
// whose TLS was negotiated is a success, one without STARTTLS a failure.
func TestNoPolicyFoundRecorded(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r := &mtasts.Result{Domain: "prep.example", Err: mtasts.ErrNoRecord}
	plan := r.Plan([]*net.MX{{Host: "mx1.prep.example."}, {Host: "mx2.prep.example."}, {Host: "mx3.prep.example."}}, mtasts.PlanOptions{})
	var c tlsrpt.Collector
	record := func(d mtasts.Decision) {
		t.Helper()
		if !d.Deliver {
			t.Fatalf("%s: decision %+v; opportunistic delivery must go on", d.Host, d)
		}
		if err := r.Record(&c, d, start); err != nil {
			t.Fatal(err)
		}
	}
	ok := plan.Hosts[0].Done(nil)
	if !ok.Counted || ok.ResultType != "" || ok.Err != nil {
		t.Fatalf("Done(nil) under no policy: %+v; want counted, a success", ok)
	}
	s, counted := r.Session(ok, start)
	want := tlsrpt.Result{Policy: tlsrpt.Policy{Type: tlsrpt.PolicyNoPolicyFound, Domain: "prep.example"}, MXHost: "mx1.prep.example", Time: start}
	if !counted || s.Policy.Type != want.Policy.Type || s.Policy.Domain != want.Policy.Domain ||
		s.Policy.String != nil || s.Policy.MXHost != nil || s.MXHost != want.MXHost || s.ResultType != "" || !s.Time.Equal(start) {
		t.Fatalf("Session = %+v, %v; want %+v, true", s, counted, want)
	}
	record(ok)
	if d := plan.Hosts[0].Sent(nil); !d.Counted || d.ResultType != "" {
		t.Fatalf("Sent(nil) under no policy: %+v; want the success Done decided", d)
	}
	// A session that failed after TLS is a TLS success.
	record(plan.Hosts[1].Done(nil))
	if d := plan.Hosts[1].Sent(errors.New("452 mailbox full")); !d.Counted || d.ResultType != "" || d.Outcome != mtasts.OutcomeSessionFailed {
		t.Fatalf("Sent(err) under no policy: %+v; want a counted TLS success", d)
	}
	// No STARTTLS: a failure to negotiate TLS.
	record(plan.Hosts[2].Done(mtasts.ErrSTARTTLSNotSupported))

	aggs := c.Snapshot()
	if len(aggs) != 1 || len(aggs[0].Policies) != 1 {
		t.Fatalf("aggregates %+v; want one, for prep.example", aggs)
	}
	pr := aggs[0].Policies[0]
	if aggs[0].Domain != "prep.example" || pr.Policy.Type != tlsrpt.PolicyNoPolicyFound ||
		len(pr.Policy.String) != 0 || len(pr.Policy.MXHost) != 0 {
		t.Fatalf("policy %+v of %s", pr.Policy, aggs[0].Key)
	}
	if pr.Summary.TotalSuccessfulSessionCount != 2 || pr.Summary.TotalFailureSessionCount != 1 {
		t.Fatalf("summary %+v; want 2 successes and 1 failure", pr.Summary)
	}
	if fd := pr.FailureDetails; len(fd) != 1 || fd[0].ResultType != tlsrpt.ResultSTARTTLSNotSupported || fd[0].ReceivingMXHostname != "mx3.prep.example" {
		t.Fatalf("failure details %+v", fd)
	}
	if _, err := tlsrpt.BuildReport(aggs[0], "Sender Org", "tlsrpt@sender.example", "r1@sender.example"); err != nil {
		t.Fatalf("report: %v", err)
	}
}

// What stays out of no-policy-found: hosts not reached, report traffic,
// DANE hosts, a policy of mode none, and every session once
// SkipNoPolicyFound is set.
func TestNoPolicyFoundNotCounted(t *testing.T) {
	none, err := mtasts.ParsePolicy([]byte("version: STSv1\nmode: none\nmax_age: 86400\n"))
	if err != nil {
		t.Fatal(err)
	}
	noPolicy := &mtasts.Result{Domain: "prep.example"}
	modeNone := &mtasts.Result{Domain: "prep.example", Policy: none}
	mx := []*net.MX{{Host: "mx.prep.example"}}
	daneHost := func(h *mtasts.HostPlan) mtasts.Decision {
		rec := resolver.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: make([]byte, 32)}
		h.SetDANE(&dane.Host{Name: h.Host, Base: h.Host, Target: h.Host, RRset: dane.NewRRset([]resolver.TLSA{rec})})
		return h.Done(nil)
	}
	for _, tt := range []struct {
		name string
		r    *mtasts.Result
		opts mtasts.PlanOptions
		do   func(*mtasts.HostPlan) mtasts.Decision
	}{
		{"not reached", noPolicy, mtasts.PlanOptions{}, func(h *mtasts.HostPlan) mtasts.Decision { return h.NotReached(errors.New("connection refused")) }},
		{"not reached through Done", noPolicy, mtasts.PlanOptions{}, func(h *mtasts.HostPlan) mtasts.Decision { return h.Done(mtasts.ErrNotReached) }},
		{"report traffic", noPolicy, mtasts.PlanOptions{ReportTraffic: true}, func(h *mtasts.HostPlan) mtasts.Decision { return h.Done(mtasts.ErrSTARTTLSNotSupported) }},
		{"DANE host", noPolicy, mtasts.PlanOptions{MXSecurity: resolver.Secure}, daneHost},
		{"DANE host, insecure MX", noPolicy, mtasts.PlanOptions{}, daneHost},
		{"mode none", modeNone, mtasts.PlanOptions{}, func(h *mtasts.HostPlan) mtasts.Decision { return h.Done(mtasts.ErrSTARTTLSNotSupported) }},
		{"turned off", noPolicy, mtasts.PlanOptions{SkipNoPolicyFound: true}, func(h *mtasts.HostPlan) mtasts.Decision { return h.Done(nil) }},
		{"turned off, no STARTTLS", noPolicy, mtasts.PlanOptions{SkipNoPolicyFound: true}, func(h *mtasts.HostPlan) mtasts.Decision { return h.Done(mtasts.ErrSTARTTLSNotSupported) }},
		{"turned off, sent", noPolicy, mtasts.PlanOptions{SkipNoPolicyFound: true}, func(h *mtasts.HostPlan) mtasts.Decision { return h.Sent(nil) }},
	} {
		d := tt.do(&tt.r.Plan(mx, tt.opts).Hosts[0])
		if d.Counted || d.ResultType != "" {
			t.Errorf("%s: decision %+v; want not counted", tt.name, d)
		}
		if s, ok := tt.r.Session(d, time.Now()); ok {
			t.Errorf("%s: Session = %+v; want none", tt.name, s)
		}
	}
}

// Turning no-policy-found off costs nothing: Session returns at once.
func TestNoPolicyFoundOffAllocs(t *testing.T) {
	r := &mtasts.Result{Domain: "prep.example"}
	h := &r.Plan([]*net.MX{{Host: "mx.prep.example"}}, mtasts.PlanOptions{SkipNoPolicyFound: true}).Hosts[0]
	d := h.Done(nil)
	var c tlsrpt.Collector
	if n := testing.AllocsPerRun(100, func() { _ = r.Record(&c, d, time.Time{}) }); n != 0 {
		t.Fatalf("Record with no-policy-found off: %v allocations", n)
	}
}

// BenchmarkRecordNoPolicyFound records the no-policy-found session of one
// domain: the cost that the default adds to each opportunistic delivery.
func BenchmarkRecordNoPolicyFound(b *testing.B) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, off := range []bool{false, true} {
		name := "on"
		if off {
			name = "off"
		}
		b.Run(name, func(b *testing.B) {
			r := &mtasts.Result{Domain: "prep.example"}
			h := &r.Plan([]*net.MX{{Host: "mx.prep.example"}}, mtasts.PlanOptions{SkipNoPolicyFound: off}).Hosts[0]
			d := h.Done(nil)
			var c tlsrpt.Collector
			b.ReportAllocs()
			for b.Loop() {
				if err := r.Record(&c, d, start); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Only a lookup that established there is no policy makes a session
// no-policy-found: after a temporary DNS failure, or a discovery the Client
// did not start, the domain may have one, and nothing is counted.
func TestNoPolicyFoundOnlyWhenKnown(t *testing.T) {
	for _, tt := range []struct {
		err     error
		counted bool
	}{
		{nil, true},
		{mtasts.ErrNoRecord, true},
		{mtasts.ErrMultipleRecords, true},
		{mtasts.ErrRecordSyntax, true},
		{mtasts.ErrDNSTemporary, false},
		{mtasts.ErrDiscoveryLimit, false},
	} {
		r := &mtasts.Result{Domain: "prep.example", Err: tt.err}
		d := r.Plan([]*net.MX{{Host: "mx1.prep.example."}}, mtasts.PlanOptions{}).Hosts[0].Done(nil)
		if _, counted := r.Session(d, time.Now()); counted != tt.counted || d.Counted != tt.counted {
			t.Errorf("lookup error %v: counted %v (decision %v); want %v", tt.err, counted, d.Counted, tt.counted)
		}
	}
}
