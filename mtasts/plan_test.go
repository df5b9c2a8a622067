package mtasts

import (
	"errors"
	"net"
	"testing"
	"unsafe"

	"github.com/strictmx/strictmx/mtasts/resolver"

	"github.com/strictmx/strictmx/tlsrpt"
)

func planFor(t testing.TB, policy string, hosts ...string) *Plan {
	t.Helper()
	r := &Result{Domain: "example.test", ID: "1"}
	if policy != "" {
		r.Policy = mustPolicy(t, policy)
	}
	mx := make([]*net.MX, len(hosts))
	for i, h := range hosts {
		mx[i] = &net.MX{Host: h, Pref: uint16(10 * (i + 1))}
	}
	return r.Plan(mx, PlanOptions{})
}

const (
	enforcePolicy = "version: STSv1\nmode: enforce\nmx: mx1.example.test\nmx: *.mx.example.test\nmax_age: 86400\n"
	testingPolicy = "version: STSv1\nmode: testing\nmx: mx1.example.test\nmx: *.mx.example.test\nmax_age: 86400\n"
)

func TestPlan(t *testing.T) {
	// RFC 8461, Sections 4.1 and 5: enforce skips hosts outside the policy.
	p := planFor(t, enforcePolicy, "mx1.example.test", "a.mx.example.test", "evil.example.org")
	if !p.Hosts[0].Try || !p.Hosts[1].Try || p.Hosts[2].Try {
		t.Fatalf("enforce plan %+v", p.Hosts)
	}
	d := p.Hosts[2].Skipped()
	if d.Deliver || d.ResultType != tlsrpt.ResultValidationFailure || d.Reason != tlsrpt.ReasonMXMismatch || !errors.Is(d.Err, ErrMXMismatch) {
		t.Fatalf("skipped decision %+v", d)
	}
	// Testing tries every host and reports the mismatch.
	p = planFor(t, testingPolicy, "evil.example.org")
	h := &p.Hosts[0]
	if !h.Try || !h.Mismatch || h.RequireTLS {
		t.Fatalf("testing plan %+v", h)
	}
	if d := h.Done(nil); !d.Deliver || d.ResultType != tlsrpt.ResultValidationFailure || d.Reason != tlsrpt.ReasonMXMismatch {
		t.Fatalf("testing mismatch decision %+v", d)
	}
	// Mode none and no policy: opportunistic; no policy is reported as
	// no-policy-found, mode none not at all.
	for _, pol := range []string{"", "version: STSv1\nmode: none\nmax_age: 1\n"} {
		p = planFor(t, pol, "anything.example.org")
		h := &p.Hosts[0]
		if !h.Try || h.RequireTLS || h.Verify {
			t.Fatalf("opportunistic plan %+v", h)
		}
		noPolicy := pol == ""
		if d := h.Done(ErrSTARTTLSNotSupported); !d.Deliver || d.Counted != noPolicy || (d.ResultType == tlsrpt.ResultSTARTTLSNotSupported) != noPolicy {
			t.Fatalf("opportunistic decision %+v", d)
		}
	}
	// No STARTTLS under enforce: skipped, starttls-not-supported.
	p = planFor(t, enforcePolicy, "mx1.example.test")
	if d := p.Hosts[0].Done(ErrSTARTTLSNotSupported); d.Deliver || d.ResultType != tlsrpt.ResultSTARTTLSNotSupported {
		t.Fatalf("no-STARTTLS decision %+v", d)
	}
	// RFC 8460, Sections 3 and 5.3.1: a report is delivered despite failures
	// and not reported.
	r := &Result{Domain: "example.test", Policy: mustPolicy(t, enforcePolicy)}
	p = r.Plan([]*net.MX{{Host: "evil.example.org"}}, PlanOptions{ReportTraffic: true})
	if d := p.Hosts[0].Done(ErrSTARTTLSNotSupported); !p.Hosts[0].Try || !d.Deliver || d.Counted {
		t.Fatalf("report traffic decision %+v", d)
	}
	// DANE with a secure MX RRset: TLS required whatever the policy says,
	// MTA-STS does not judge.
	r = &Result{Domain: "example.test", Policy: mustPolicy(t, testingPolicy)}
	p = r.Plan([]*net.MX{{Host: "dane.example.org"}}, PlanOptions{MXSecurity: resolver.Secure})
	p.Hosts[0].SetDANE(secureTLSA("dane.example.org", wrongDigest))
	if h := &p.Hosts[0]; !h.Try || !h.RequireTLS || h.Verify || !h.DANE {
		t.Fatalf("DANE plan %+v", h)
	}
	if d := p.Hosts[0].Done(ErrSTARTTLSNotSupported); d.Deliver {
		t.Fatalf("DANE host delivered without STARTTLS: %+v", d)
	}
	// RFC 7505 null MX is never tried.
	p = planFor(t, "", ".")
	if p.Hosts[0].Try {
		t.Fatalf("null MX tried")
	}
	// Spec note (listed in doc.go): the implicit MX must match too.
	p = planFor(t, enforcePolicy, "example.test")
	if p.Hosts[0].Try {
		t.Fatalf("implicit MX outside the policy tried under enforce")
	}
}

// A plan for up to five hosts is one allocation, the hosts' states
// included: none is made later, on first use.
func TestPlanAllocations(t *testing.T) {
	r := &Result{Domain: "example.test", Policy: mustPolicy(t, enforcePolicy)}
	mx := benchMX()
	if n := testing.AllocsPerRun(100, func() { r.Plan(mx, PlanOptions{}) }); n != 1 {
		t.Fatalf("Plan allocates %v times; want 1", n)
	}
	// Past 512 bytes an object with pointers costs the allocator more.
	if n := unsafe.Sizeof(planAlloc{}); unsafe.Sizeof(uintptr(0)) == 8 && n > 512 {
		t.Errorf("planAlloc is %d bytes; keep it at most 512", n)
	}
	// Beyond five hosts the hosts and their states are allocated apart.
	for _, mx := range [][]*net.MX{mx, append(mx[:len(mx):len(mx)], &net.MX{Host: "f.mx.example.test.", Pref: 60})} {
		p := r.Plan(mx, PlanOptions{})
		for i := range p.Hosts {
			h := &p.Hosts[i]
			if st := h.state; st == nil || h.st() != st {
				t.Fatalf("%d hosts: host %d has no state from Plan", len(mx), i)
			}
			if i > 0 && h.state == p.Hosts[i-1].state {
				t.Fatalf("%d hosts: hosts %d and %d share a state", len(mx), i-1, i)
			}
		}
	}
}

func benchMX() []*net.MX {
	return []*net.MX{
		{Host: "a.mx.example.test.", Pref: 10}, {Host: "b.mx.example.test.", Pref: 20},
		{Host: "c.mx.example.test.", Pref: 30}, {Host: "mx1.example.test.", Pref: 40},
		{Host: "backup.example.org.", Pref: 50},
	}
}

func BenchmarkPlan(b *testing.B) {
	r := &Result{Domain: "example.test", Policy: mustPolicy(b, enforcePolicy)}
	mx := benchMX()
	b.ReportAllocs()
	for b.Loop() {
		r.Plan(mx, PlanOptions{})
	}
}
