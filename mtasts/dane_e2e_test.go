package mtasts_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/smtp"
	"testing"
	"time"

	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/dane"
	"github.com/strictmx/strictmx/mtasts/mtaststest"
	"github.com/strictmx/strictmx/mtasts/resolver"
	"github.com/strictmx/strictmx/tlsrpt"
)

// deliverDANE runs the delivery loop of a sender with DANE against the
// harness: MX with its DNSSEC state, the MTA-STS lookup, the plan, TLSA
// records host by host, STARTTLS with the plan's verifier. It returns the
// decision for each host and the sessions recorded.
func deliverDANE(t *testing.T, s *mtaststest.Server, f *dane.Finder, domain string, opts mtasts.PlanOptions) ([]mtasts.Decision, []tlsrpt.Result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := s.Client().Lookup(ctx, domain)
	if err != nil {
		t.Fatal(err)
	}
	mx, _, sec, err := mtasts.ResolveMXSecure(ctx, f.Resolver, domain)
	if err != nil {
		t.Fatalf("MX: %v", err)
	}
	opts.MXSecurity = sec
	plan := res.Plan(mx, opts)
	plan.FindDANE(ctx, f)
	var sessions []tlsrpt.Result
	rec := recorder(func(r tlsrpt.Result) error { sessions = append(sessions, r); return nil })
	var ds []mtasts.Decision
	for i := range plan.Hosts {
		h := &plan.Hosts[i]
		var d mtasts.Decision
		if !h.Try {
			d = h.Skipped()
		} else {
			d = startTLS(ctx, t, s, h)
		}
		ds = append(ds, d)
		if err := res.Record(rec, d, time.Now()); err != nil {
			t.Fatal(err)
		}
		if d.Deliver {
			break
		}
	}
	return ds, sessions
}

// startTLS connects to the host through the harness and runs STARTTLS
// with the plan's verifier.
func startTLS(ctx context.Context, t *testing.T, s *mtaststest.Server, h *mtasts.HostPlan) mtasts.Decision {
	conn, err := s.DialContext(ctx, "tcp", h.Host+":25")
	if err != nil {
		return h.NotReached(err)
	}
	c, err := smtp.NewClient(conn, h.Host)
	if err != nil {
		conn.Close()
		return h.NotReached(err)
	}
	defer c.Close()
	if err := c.Hello("sender.test"); err != nil {
		return h.NotReached(err)
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		return h.Done(mtasts.ErrSTARTTLSNotSupported)
	}
	return h.Done(c.StartTLS(h.TLSConfig(&tls.Config{RootCAs: s.RootCAs()})))
}

type recorder func(tlsrpt.Result) error

func (r recorder) Record(res tlsrpt.Result) error { return r(res) }

// The DANE contract end to end, against the harness as the validating
// resolver and real STARTTLS handshakes.
func TestDANEDelivery(t *testing.T) {
	type want struct {
		deliveredBy string              // host that took the mail; "" none
		tlsa        []tlsrpt.ResultType // tlsa sessions' result types, in order ("" success)
		sts         []tlsrpt.ResultType // sts sessions'
	}
	for _, tt := range []struct {
		name  string
		setup func(s *mtaststest.Server)
		opts  mtasts.PlanOptions
		want  want
	}{
		{"3 1 1 matches, private CA, enforce policy without the host", func(s *mtaststest.Server) {
			s.Signed("example.test")
			s.Domain("example.test").Record("1").Policy(mtasts.ModeEnforce, 86400, "other.example.test")
			s.MXHost("example.test", 10, "mx1.example.test", mtaststest.MXConfig{Issuer: mtaststest.IssuerPrivate}).
				PublishTLSA(25, mtaststest.DANEEESPKISHA256)
		}, mtasts.PlanOptions{}, want{deliveredBy: "mx1.example.test", tlsa: []tlsrpt.ResultType{""}}},
		{"2 1 1 anchor in the chain", func(s *mtaststest.Server) {
			s.Signed("example.test")
			s.MXHost("example.test", 10, "mx1.example.test", mtaststest.MXConfig{Issuer: mtaststest.IssuerPrivate}).
				PublishTLSA(25, mtaststest.DANETASPKISHA256)
		}, mtasts.PlanOptions{}, want{deliveredBy: "mx1.example.test", tlsa: []tlsrpt.ResultType{""}}},
		// RFC 7672, Section 3.2.2: with a secure MX RRset the CNAME
		// expansion of the next-hop domain is a reference identifier.
		{"2 1 1, leaf names only the recipient domain's CNAME expansion", func(s *mtaststest.Server) {
			s.Signed("example.test")
			s.Signed("hosting.test")
			s.CNAME("example.test", "mail.hosting.test")
			s.MXHost("mail.hosting.test", 10, "mx1.hosting.test", mtaststest.MXConfig{Issuer: mtaststest.IssuerPrivate,
				Certificate: mtaststest.CertNoSAN, CommonName: "mail.hosting.test"}).
				PublishTLSA(25, mtaststest.DANETASPKISHA256)
		}, mtasts.PlanOptions{}, want{deliveredBy: "mx1.hosting.test", tlsa: []tlsrpt.ResultType{""}}},
		{"2 1 1, leaf for another name", func(s *mtaststest.Server) {
			s.Signed("example.test")
			s.MXHost("example.test", 10, "mx1.example.test", mtaststest.MXConfig{Issuer: mtaststest.IssuerPrivate, Certificate: mtaststest.CertWrongName}).
				PublishTLSA(25, mtaststest.DANETASPKISHA256)
		}, mtasts.PlanOptions{}, want{tlsa: []tlsrpt.ResultType{tlsrpt.ResultCertificateHostMismatch}}},
		{"3 1 1, expired leaf for another name", func(s *mtaststest.Server) {
			s.Signed("example.test")
			s.MXHost("example.test", 10, "mx1.example.test", mtaststest.MXConfig{Certificate: mtaststest.CertExpired}).
				PublishTLSA(25, mtaststest.DANEEESPKISHA256)
		}, mtasts.PlanOptions{}, want{deliveredBy: "mx1.example.test", tlsa: []tlsrpt.ResultType{""}}},
		{"wrong digest, next MX without TLSA", func(s *mtaststest.Server) {
			s.Signed("example.test")
			s.MXHost("example.test", 10, "mx1.example.test", mtaststest.MXConfig{}).
				PublishTLSA(25, mtaststest.TLSASpec{Usage: 3, Selector: 1, MatchingType: 1, Mismatch: true})
			s.MXHost("example.test", 20, "mx2.example.test", mtaststest.MXConfig{})
		}, mtasts.PlanOptions{}, want{deliveredBy: "mx2.example.test", tlsa: []tlsrpt.ResultType{tlsrpt.ResultCertificateNotTrusted},
			sts: []tlsrpt.ResultType{""}}}, // mx2: no-policy-found
		{"TLSA SERVFAIL, another MX", func(s *mtaststest.Server) {
			s.Signed("example.test")
			mx := s.MXHost("example.test", 10, "mx1.example.test", mtaststest.MXConfig{})
			mx.PublishTLSA(25, mtaststest.DANEEESPKISHA256)
			s.Bogus(mx.TLSAName(25))
			s.MXHost("example.test", 20, "mx2.example.test", mtaststest.MXConfig{}).PublishTLSA(25, mtaststest.DANEEESPKISHA256)
		}, mtasts.PlanOptions{}, want{deliveredBy: "mx2.example.test", tlsa: []tlsrpt.ResultType{tlsrpt.ResultDNSSECInvalid, ""}}},
		{"TLSA SERVFAIL, no other MX, testing policy", func(s *mtaststest.Server) {
			s.Signed("example.test")
			s.Domain("example.test").Record("1").Policy(mtasts.ModeTesting, 86400, "mx1.example.test")
			mx := s.MXHost("example.test", 10, "mx1.example.test", mtaststest.MXConfig{})
			s.Bogus(mx.TLSAName(25))
		}, mtasts.PlanOptions{}, want{tlsa: []tlsrpt.ResultType{tlsrpt.ResultDNSSECInvalid}}},
		{"insecure MX, secure TLSA, enforce: both judge", func(s *mtaststest.Server) {
			s.Signed("hosting.test")
			s.Domain("example.test").Record("1").Policy(mtasts.ModeEnforce, 86400, "mx1.hosting.test")
			s.MXHost("example.test", 10, "mx1.hosting.test", mtaststest.MXConfig{}).PublishTLSA(25, mtaststest.DANEEESPKISHA256)
		}, mtasts.PlanOptions{}, want{deliveredBy: "mx1.hosting.test", tlsa: []tlsrpt.ResultType{""}, sts: []tlsrpt.ResultType{""}}},
		{"unusable records only: TLS, tlsa-invalid, mail goes", func(s *mtaststest.Server) {
			s.Signed("example.test")
			mx := s.MXHost("example.test", 10, "mx1.example.test", mtaststest.MXConfig{Issuer: mtaststest.IssuerPrivate})
			s.TLSA(mx.TLSAName(25), 1, 1, 1, make([]byte, 32))
		}, mtasts.PlanOptions{}, want{deliveredBy: "mx1.example.test", tlsa: []tlsrpt.ResultType{tlsrpt.ResultTLSAInvalid}}},
		{"unsigned zone: no TLSA query, no-policy-found", func(s *mtaststest.Server) {
			s.MXHost("example.test", 10, "mx1.example.test", mtaststest.MXConfig{}).PublishTLSA(25, mtaststest.DANEEESPKISHA256)
		}, mtasts.PlanOptions{}, want{deliveredBy: "mx1.example.test", sts: []tlsrpt.ResultType{""}}},
		{"mandatory DANE, insecure MX", func(s *mtaststest.Server) {
			s.Signed("hosting.test")
			s.MXHost("example.test", 10, "mx1.hosting.test", mtaststest.MXConfig{}).PublishTLSA(25, mtaststest.DANEEESPKISHA256)
		}, mtasts.PlanOptions{RequireDANE: true}, want{tlsa: []tlsrpt.ResultType{tlsrpt.ResultDANERequired}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := mtaststest.NewServer(t)
			tt.setup(s)
			f := &dane.Finder{Resolver: s.Resolver()}
			ds, sessions := deliverDANE(t, s, f, "example.test", tt.opts)
			delivered := ""
			for _, d := range ds {
				if d.Deliver {
					delivered = d.Host
				}
			}
			if delivered != tt.want.deliveredBy {
				t.Errorf("delivered by %q; want %q (%+v)", delivered, tt.want.deliveredBy, ds)
			}
			var tlsa, sts []tlsrpt.ResultType
			for _, r := range sessions {
				if r.Policy.Type == tlsrpt.PolicyTLSA {
					tlsa = append(tlsa, r.ResultType)
				} else {
					sts = append(sts, r.ResultType)
				}
			}
			if !equalTypes(tlsa, tt.want.tlsa) || !equalTypes(sts, tt.want.sts) {
				t.Errorf("tlsa sessions %q, others %q; want %q and %q (decisions %+v)", tlsa, sts, tt.want.tlsa, tt.want.sts, ds)
			}
			for _, d := range ds {
				if d.TLSA.ResultType != "" && d.Err == nil {
					t.Errorf("DANE failure without Err: %+v", d)
				}
				var de *dane.Error
				if d.TLSA.ResultType != "" && !errors.As(d.Err, &de) {
					t.Errorf("DANE failure %v is no *dane.Error", d.Err)
				}
			}
		})
	}
}

func equalTypes(a, b []tlsrpt.ResultType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TLSA answers are cached: a second delivery to the same hosts sends no
// DNS query for DANE (issue 13's performance target).
func TestDANESecondDeliveryNoQuery(t *testing.T) {
	s := mtaststest.NewServer(t)
	s.Signed("example.test")
	for _, h := range []string{"mx1.example.test", "mx2.example.test"} {
		s.MXHost("example.test", 10, h, mtaststest.MXConfig{}).PublishTLSA(25, mtaststest.DANEEESPKISHA256)
	}
	f := &dane.Finder{Resolver: s.Resolver()}
	if ds, _ := deliverDANE(t, s, f, "example.test", mtasts.PlanOptions{}); !ds[0].Deliver {
		t.Fatalf("first delivery %+v", ds)
	}
	s.ResetCounters()
	ctx := context.Background()
	mx, _, sec, err := mtasts.ResolveMXSecure(ctx, f.Resolver, "example.test")
	if err != nil {
		t.Fatal(err)
	}
	res, _ := s.Client().Lookup(ctx, "example.test")
	plan := res.Plan(mx, mtasts.PlanOptions{MXSecurity: sec})
	plan.FindDANE(ctx, f)
	for _, h := range plan.Hosts {
		if !h.DANE {
			t.Fatalf("host %s has no DANE on the second plan", h.Host)
		}
	}
	for _, typ := range []string{"MX", "A", "AAAA", "CNAME", "TLSA"} {
		for _, name := range []string{"example.test", "mx1.example.test", "mx2.example.test", "_25._tcp.mx1.example.test", "_25._tcp.mx2.example.test"} {
			if n := s.Queries(name, typ); n != 0 {
				t.Errorf("second plan sent %d %s queries for %s", n, typ, name)
			}
		}
	}
}

// Planning with DANE from cached answers (issue 13: under 1 us for five MX
// hosts): the plan, then each host's DANE state from the Finder's cache.
// BenchmarkPlanDANE/plan-only is the plan alone, in the same run.
func BenchmarkPlanDANE(b *testing.B) {
	s := mtaststest.NewServer(b)
	s.Signed("example.test")
	var mx []*net.MX
	for i, h := range []string{"mx1", "mx2", "mx3", "mx4", "mx5"} {
		host := h + ".example.test"
		s.MXHost("example.test", uint16(10*(i+1)), host, mtaststest.MXConfig{}).PublishTLSA(25, mtaststest.DANEEESPKISHA256)
		mx = append(mx, &net.MX{Host: host + ".", Pref: uint16(10 * (i + 1))})
	}
	f := &dane.Finder{Resolver: s.Resolver()}
	ctx := context.Background()
	res := &mtasts.Result{Domain: "example.test"}
	plan := res.Plan(mx, mtasts.PlanOptions{MXSecurity: resolver.Secure})
	plan.FindDANE(ctx, f) // fills the cache
	for _, h := range plan.Hosts {
		if !h.DANE {
			b.Fatalf("host %s has no DANE", h.Host)
		}
	}
	queries := s.TotalQueries()
	b.Run("plan-only", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			res.Plan(mx, mtasts.PlanOptions{MXSecurity: resolver.Secure})
		}
	})
	b.Run("plan+dane", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			res.Plan(mx, mtasts.PlanOptions{MXSecurity: resolver.Secure}).FindDANE(ctx, f)
		}
	})
	if n := s.TotalQueries() - queries; n != 0 {
		b.Fatalf("planning from the cache sent %d DNS queries", n)
	}
}

// A session judged by both policies reaches both reports (RFC 8460,
// Section 4.3): the sts one for the recipient domain, the tlsa one for the
// TLSA base domain, with the RRset's records as policy strings and no
// mx-host, each a valid report.
func TestDANESessionsReport(t *testing.T) {
	s := mtaststest.NewServer(t)
	s.Signed("hosting.test")
	s.Domain("example.test").Record("1").Policy(mtasts.ModeEnforce, 86400, "mx1.hosting.test")
	s.MXHost("example.test", 10, "mx1.hosting.test", mtaststest.MXConfig{}).PublishTLSA(25, mtaststest.DANEEESPKISHA256)
	f := &dane.Finder{Resolver: s.Resolver()}
	ctx := context.Background()
	res, err := s.Client().Lookup(ctx, "example.test")
	if err != nil {
		t.Fatal(err)
	}
	mx, _, sec, err := mtasts.ResolveMXSecure(ctx, f.Resolver, "example.test")
	if err != nil {
		t.Fatal(err)
	}
	plan := res.Plan(mx, mtasts.PlanOptions{MXSecurity: sec})
	plan.FindDANE(ctx, f)
	var c tlsrpt.Collector
	if err := res.Record(&c, startTLS(ctx, t, s, &plan.Hosts[0]), time.Now()); err != nil {
		t.Fatal(err)
	}
	aggs := c.Drain()
	if len(aggs) != 2 {
		t.Fatalf("%d aggregates; want one per policy", len(aggs))
	}
	got := map[string]tlsrpt.PolicyType{}
	for _, a := range aggs {
		for _, p := range a.Policies {
			got[p.Policy.Domain] = p.Policy.Type
			if p.Policy.Type == tlsrpt.PolicyTLSA && (len(p.Policy.String) != 1 || len(p.Policy.MXHost) != 0 || p.Summary.TotalSuccessfulSessionCount != 1) {
				t.Errorf("tlsa policy %+v", p)
			}
		}
		r, err := tlsrpt.BuildReport(a, "sender.test", "tlsrpt@sender.test", tlsrpt.NewReportID(a.Key, "sender.test", 0x1234abcd))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Validate(); err != nil {
			t.Errorf("report for %s: %v", a.Key, err)
		}
	}
	if got["example.test"] != tlsrpt.PolicySTS || got["mx1.hosting.test"] != tlsrpt.PolicyTLSA {
		t.Fatalf("policies %v; want sts for example.test and tlsa for mx1.hosting.test", got)
	}
}
