package resolver_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/strictmx/strictmx/internal/testclock"
	"github.com/strictmx/strictmx/mtasts/mtaststest"
	"github.com/strictmx/strictmx/mtasts/resolver"
)

// tlsaHex is the data of the test TLSA records, tlsaBytes the same
// decoded.
const tlsaHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

var tlsaBytes, _ = hex.DecodeString(tlsaHex)

// dnssecWorld returns a harness with a signed zone (signed.test), an
// unsigned one (unsigned.test) and an unsigned sub-zone of the signed one
// (opt.signed.test), with records of every type LookupSecure takes.
func dnssecWorld(t *testing.T) *mtaststest.Server {
	t.Helper()
	s := mtaststest.NewServer(t).
		Signed("signed.test").Unsigned("opt.signed.test")
	for _, zone := range []string{"signed.test", "unsigned.test", "opt.signed.test"} {
		s.MX(zone, 10, "mx."+zone).
			A("mx."+zone, "192.0.2.1").
			A("mx."+zone, "2001:db8::1").
			RR("_25._tcp.mx."+zone+". 300 IN TLSA 3 1 1 "+tlsaHex).
			CNAME("alias."+zone, "mx."+zone)
	}
	// CNAMEs across zones: signed to signed, signed to unsigned.
	s.CNAME("to-signed.signed.test", "mx.signed.test").
		CNAME("to-unsigned.signed.test", "mx.unsigned.test").
		CNAME("to-opt.signed.test", "mx.opt.signed.test")
	return s
}

// secureStub returns a Stub asking s only, with a clock.
func secureStub(s *mtaststest.Server, clock *testclock.Clock) *resolver.Stub {
	r := stub(s)
	if clock != nil {
		r.Now = clock.Now
	}
	return r
}

func TestLookupSecureStates(t *testing.T) {
	s := dnssecWorld(t)
	r := secureStub(s, nil)
	if !r.Trusted() {
		t.Fatal("a Stub asking a loopback server does not trust it")
	}
	addr4, addr6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")

	tests := []struct {
		name   string
		qtype  uint16
		sec    resolver.Security
		target string
		errIs  error // ErrNXDOMAIN or ErrNODATA for a denial
		check  func(t *testing.T, a *resolver.Answer)
	}{
		// Records of each type, from a signed zone.
		{name: "signed.test", qtype: dns.TypeMX, sec: resolver.Secure, check: func(t *testing.T, a *resolver.Answer) {
			if len(a.MX) != 1 || a.MX[0].Host != "mx.signed.test." || a.MX[0].Pref != 10 {
				t.Errorf("MX = %v", a.MX)
			}
		}},
		{name: "mx.signed.test", qtype: dns.TypeA, sec: resolver.Secure, check: func(t *testing.T, a *resolver.Answer) {
			if !slices.Equal(a.Addrs, []netip.Addr{addr4}) {
				t.Errorf("Addrs = %v", a.Addrs)
			}
		}},
		{name: "MX.Signed.Test.", qtype: dns.TypeAAAA, sec: resolver.Secure, check: func(t *testing.T, a *resolver.Answer) {
			if a.Name != "mx.signed.test" || !slices.Equal(a.Addrs, []netip.Addr{addr6}) {
				t.Errorf("Name %q, Addrs = %v", a.Name, a.Addrs)
			}
		}},
		{name: "_25._tcp.mx.signed.test", qtype: dns.TypeTLSA, sec: resolver.Secure, check: func(t *testing.T, a *resolver.Answer) {
			want := []resolver.TLSA{{Usage: 3, Selector: 1, MatchingType: 1, Data: tlsaBytes}}
			if !slices.EqualFunc(a.TLSA, want, func(x, y resolver.TLSA) bool {
				return x.Usage == y.Usage && x.Selector == y.Selector && x.MatchingType == y.MatchingType && bytes.Equal(x.Data, y.Data)
			}) {
				t.Errorf("TLSA = %v", a.TLSA)
			}
		}},
		{name: "alias.signed.test", qtype: dns.TypeCNAME, sec: resolver.Secure, check: func(t *testing.T, a *resolver.Answer) {
			if a.CNAME != "mx.signed.test" {
				t.Errorf("CNAME = %q", a.CNAME)
			}
		}},
		// The same from an unsigned zone and an unsigned sub-zone.
		{name: "unsigned.test", qtype: dns.TypeMX, sec: resolver.Insecure},
		{name: "mx.unsigned.test", qtype: dns.TypeA, sec: resolver.Insecure},
		{name: "_25._tcp.mx.unsigned.test", qtype: dns.TypeTLSA, sec: resolver.Insecure},
		{name: "_25._tcp.mx.opt.signed.test", qtype: dns.TypeTLSA, sec: resolver.Insecure},
		{name: "alias.unsigned.test", qtype: dns.TypeCNAME, sec: resolver.Insecure},
		// Denials: secure and insecure.
		{name: "nx.signed.test", qtype: dns.TypeA, sec: resolver.Secure, errIs: resolver.ErrNXDOMAIN},
		{name: "_25._tcp.nx.signed.test", qtype: dns.TypeTLSA, sec: resolver.Secure, errIs: resolver.ErrNXDOMAIN},
		{name: "signed.test", qtype: dns.TypeTLSA, sec: resolver.Secure, errIs: resolver.ErrNODATA},
		{name: "mx.signed.test", qtype: dns.TypeCNAME, sec: resolver.Secure, errIs: resolver.ErrNODATA},
		{name: "nx.unsigned.test", qtype: dns.TypeA, sec: resolver.Insecure, errIs: resolver.ErrNXDOMAIN},
		{name: "unsigned.test", qtype: dns.TypeTLSA, sec: resolver.Insecure, errIs: resolver.ErrNODATA},
		// CNAME chains: AD covers the whole chain (RFC 4035, Section
		// 3.2.3).
		{name: "to-signed.signed.test", qtype: dns.TypeA, sec: resolver.Secure, target: "mx.signed.test"},
		{name: "to-unsigned.signed.test", qtype: dns.TypeA, sec: resolver.Insecure, target: "mx.unsigned.test"},
		{name: "to-opt.signed.test", qtype: dns.TypeA, sec: resolver.Insecure, target: "mx.opt.signed.test"},
		{name: "alias.unsigned.test", qtype: dns.TypeA, sec: resolver.Insecure, target: "mx.unsigned.test"},
		// One link's state needs a CNAME query of its own.
		{name: "to-unsigned.signed.test", qtype: dns.TypeCNAME, sec: resolver.Secure, check: func(t *testing.T, a *resolver.Answer) {
			if a.CNAME != "mx.unsigned.test" {
				t.Errorf("CNAME = %q", a.CNAME)
			}
		}},
	}
	for _, mode := range []mtaststest.CNAMEMode{mtaststest.CNAMEChain, mtaststest.CNAMEOneLink} {
		s.CNAMEMode(mode)
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%d/%s/%s", mode, tt.name, dns.TypeToString[tt.qtype]), func(t *testing.T) {
				a, err := r.LookupSecure(t.Context(), tt.name, tt.qtype)
				if a == nil {
					t.Fatalf("LookupSecure = nil, %v", err)
				}
				if tt.errIs != nil {
					if !errors.Is(err, tt.errIs) || !dnsErr(t, err).IsNotFound {
						t.Errorf("error %v, want %v with IsNotFound", err, tt.errIs)
					}
					if len(a.MX)+len(a.Addrs)+len(a.TLSA) > 0 || a.CNAME != "" {
						t.Errorf("denial with records: %+v", a)
					}
				} else if err != nil {
					t.Fatalf("LookupSecure: %v", err)
				}
				if a.Security != tt.sec {
					t.Errorf("Security = %v, want %v", a.Security, tt.sec)
				}
				name := strings.ToLower(strings.TrimSuffix(tt.name, "."))
				target := tt.target
				if target == "" {
					target = name
				}
				if a.Name != name || a.Target != target {
					t.Errorf("Name, Target = %q, %q; want %q, %q", a.Name, a.Target, name, target)
				}
				if tt.check != nil {
					tt.check(t, a)
				}
			})
		}
	}
}

func TestLookupSecureFailures(t *testing.T) {
	s := dnssecWorld(t).
		Bogus("bogus.signed.test").
		BogusEDE("ede.signed.test", dns.ExtendedErrorCodeSignatureExpired).
		Bogus("mx.bogus-target.signed.test", dns.TypeA).
		A("mx.bogus-target.signed.test", "192.0.2.9").
		CNAME("to-bogus.signed.test", "mx.bogus-target.signed.test").
		DNSFault("servfail.signed.test", mtaststest.DNSServFail).
		DNSFault("refused.signed.test", mtaststest.DNSRefused).
		DNSFault("timeout.signed.test", mtaststest.DNSTimeout).
		DNSRcode("notimp.signed.test", dns.RcodeNotImplemented).
		// AD with an rcode that contradicts it: the rcode wins.
		ADWithRcode("ad-refused.signed.test", dns.RcodeRefused).
		ADWithRcode("ad-servfail.signed.test", dns.RcodeServerFailure).
		ADWithRcode("ad-formerr.signed.test", dns.RcodeFormatError).
		CNAME("loop1.signed.test", "loop2.signed.test").
		CNAME("loop2.signed.test", "loop1.signed.test")
	long := "long0.signed.test"
	for i := range maxCNAMEs + 1 {
		s.CNAME(fmt.Sprintf("long%d.signed.test", i), fmt.Sprintf("long%d.signed.test", i+1))
	}
	s.A(fmt.Sprintf("long%d.signed.test", maxCNAMEs+1), "192.0.2.1")
	r := secureStub(s, nil)

	tests := []struct {
		name   string
		qtype  uint16
		mode   mtaststest.CNAMEMode
		reason string
		is     error
	}{
		// Bogus data: SERVFAIL from a validating resolver, with or
		// without an RFC 8914 EDE code; anywhere in the chain.
		{name: "bogus.signed.test", qtype: dns.TypeTLSA, reason: "servfail"},
		{name: "ede.signed.test", qtype: dns.TypeA, reason: "dns-ede-7"},
		{name: "to-bogus.signed.test", qtype: dns.TypeA, reason: "servfail"},
		{name: "to-bogus.signed.test", qtype: dns.TypeA, mode: mtaststest.CNAMEOneLink, reason: "servfail"},
		// Every other failure.
		{name: "servfail.signed.test", qtype: dns.TypeMX, reason: "servfail"},
		{name: "refused.signed.test", qtype: dns.TypeMX, reason: "refused"},
		{name: "timeout.signed.test", qtype: dns.TypeAAAA, reason: "timeout"},
		{name: "notimp.signed.test", qtype: dns.TypeA, reason: "servfail"},
		{name: "ad-refused.signed.test", qtype: dns.TypeTLSA, reason: "refused"},
		{name: "ad-servfail.signed.test", qtype: dns.TypeTLSA, reason: "servfail"},
		{name: "ad-formerr.signed.test", qtype: dns.TypeTLSA, reason: "servfail"},
		// Hostile chains.
		{name: "loop1.signed.test", qtype: dns.TypeA, mode: mtaststest.CNAMEChainLoops, reason: "malformed", is: resolver.ErrCNAMELoop},
		{name: "loop1.signed.test", qtype: dns.TypeA, mode: mtaststest.CNAMEOneLink, reason: "malformed", is: resolver.ErrCNAMELoop},
		{name: long, qtype: dns.TypeA, mode: mtaststest.CNAMEOneLink, reason: "malformed", is: resolver.ErrCNAMEChainTooLong},
		{name: long, qtype: dns.TypeA, mode: mtaststest.CNAMEChain, reason: "malformed", is: resolver.ErrCNAMEChainTooLong},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s/%d", tt.name, dns.TypeToString[tt.qtype], tt.mode), func(t *testing.T) {
			s.CNAMEMode(tt.mode)
			for range 2 { // never cached: the second lookup asks again
				before := s.Queries(tt.name, dns.TypeToString[tt.qtype])
				a, err := r.LookupSecure(t.Context(), tt.name, tt.qtype)
				if a != nil || err == nil {
					t.Fatalf("LookupSecure = %+v, %v; want a failure", a, err)
				}
				if de := dnsErr(t, err); de.IsNotFound {
					t.Errorf("failure %v with IsNotFound", err)
				}
				if got := resolver.FailureReason(err); got != tt.reason {
					t.Errorf("FailureReason(%v) = %q, want %q", err, got, tt.reason)
				}
				if tt.is != nil && !errors.Is(err, tt.is) {
					t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
				}
				if s.Queries(tt.name, dns.TypeToString[tt.qtype]) == before {
					t.Error("no query sent: a failure was cached")
				}
			}
		})
	}

	var ee *resolver.ExtendedError
	_, err := r.LookupSecure(t.Context(), "ede.signed.test", dns.TypeA)
	if !errors.As(err, &ee) || ee.Code != dns.ExtendedErrorCodeSignatureExpired {
		t.Errorf("EDE: errors.As(%v) = %+v", err, ee)
	}
}

// TestLookupSecureNeverCD shows that the queries do not set CD: the
// harness answers a CD query for bogus data with the data, and a
// LookupSecure that set CD would see records.
func TestLookupSecureNeverCD(t *testing.T) {
	s := dnssecWorld(t).Bogus("_25._tcp.mx.signed.test")
	r := secureStub(s, nil)
	if a, err := r.LookupSecure(t.Context(), "_25._tcp.mx.signed.test", dns.TypeTLSA); a != nil || err == nil {
		t.Errorf("bogus TLSA: LookupSecure = %+v, %v; want SERVFAIL", a, err)
	}
}

func TestLookupSecureManyRecords(t *testing.T) {
	s := dnssecWorld(t)
	const name = "_25._tcp.many.signed.test"
	// Records with distinct data, as a hostile zone may publish; over
	// TCP, as they need more than 1232 bytes.
	add := func(n, from int) {
		for i := range n {
			s.RR(fmt.Sprintf("%s. 300 IN TLSA 3 1 1 %04x", name, from+i))
		}
	}
	add(maxAnswerRRs/2, 0) // each comes with no RRSIG from the harness
	r := secureStub(s, nil)
	a, err := r.LookupSecure(t.Context(), name, dns.TypeTLSA)
	if err != nil || len(a.TLSA) != maxAnswerRRs/2 || a.Security != resolver.Secure {
		t.Fatalf("%d records: %v, %v", maxAnswerRRs/2, a, err)
	}
	add(maxAnswerRRs, maxAnswerRRs)
	r = secureStub(s, nil)
	a, err = r.LookupSecure(t.Context(), name, dns.TypeTLSA)
	if a != nil || !errors.Is(err, resolver.ErrAnswerTooLarge) || resolver.FailureReason(err) != "malformed" {
		t.Errorf("%d records: %v, %v; want ErrAnswerTooLarge", 3*maxAnswerRRs/2, a, err)
	}
}

func TestLookupSecureUnsupported(t *testing.T) {
	r := &resolver.Stub{Servers: []string{"127.0.0.1:1"}}
	for _, qtype := range []uint16{dns.TypeTXT, dns.TypeNS, dns.TypeANY, 0} {
		a, err := r.LookupSecure(t.Context(), "example.test", qtype)
		if a != nil || !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("qtype %d: %v, %v", qtype, a, err)
		}
	}
	a, err := r.LookupSecure(t.Context(), "bad..name", dns.TypeA)
	if a != nil || err == nil {
		t.Errorf("bad name: %v, %v", a, err)
	}
}

func TestTrusted(t *testing.T) {
	for _, tt := range []struct {
		stub *resolver.Stub
		want bool
	}{
		{&resolver.Stub{Servers: []string{"127.0.0.1", "[::1]:5353", "127.1.2.3:53"}}, true},
		{&resolver.Stub{Servers: []string{"127.0.0.1", "192.0.2.53"}}, false},
		{&resolver.Stub{Servers: []string{"192.0.2.53"}, TrustAD: true}, true},
		{&resolver.Stub{Servers: []string{"resolver.example.test"}}, false},
	} {
		if got := tt.stub.Trusted(); got != tt.want {
			t.Errorf("Trusted() of servers %q, TrustAD %v = %v, want %v", tt.stub.Servers, tt.stub.TrustAD, got, tt.want)
		}
	}
}

func TestLookupSecureUntrusted(t *testing.T) {
	s := dnssecWorld(t)
	var logs bytes.Buffer
	r := secureStub(s, nil)
	r.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	resolver.Distrust(r)
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"_25._tcp.mx.signed.test", dns.TypeTLSA}, {"mx.signed.test", dns.TypeA}, {"nx.signed.test", dns.TypeA}} {
		a, err := r.LookupSecure(t.Context(), q.name, q.qtype)
		if a == nil || a.Security != resolver.Insecure {
			t.Errorf("%s: untrusted LookupSecure = %+v, %v; want an insecure answer", q.name, a, err)
		}
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), "not trusted") {
		t.Errorf("logged %d warnings, want 1:\n%s", n, logs.String())
	}

	// A trusted Stub logs nothing.
	logs.Reset()
	r = secureStub(s, nil)
	r.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	if _, err := r.LookupSecure(t.Context(), "mx.signed.test", dns.TypeA); err != nil || logs.Len() > 0 {
		t.Errorf("trusted: %v, logged %q", err, logs.String())
	}
}

func TestLookupSecureCache(t *testing.T) {
	s := dnssecWorld(t).
		RR("short.signed.test. 60 IN A 192.0.2.7").
		NegativeTTL(120 * time.Second)
	clock := testclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	r := secureStub(s, clock)
	ctx := t.Context()
	lookup := func(name string, qtype uint16) (*resolver.Answer, error) {
		t.Helper()
		a, err := r.LookupSecure(ctx, name, qtype)
		if a == nil {
			t.Fatalf("LookupSecure(%s) = nil, %v", name, err)
		}
		return a, err
	}
	queries := func(want int) {
		t.Helper()
		if n := s.TotalQueries(); n != want {
			t.Errorf("%d queries sent, want %d", n, want)
		}
	}

	// Records: cached for their TTL, the same *Answer shared.
	a1, _ := lookup("short.signed.test", dns.TypeA)
	if a1.TTL != 60*time.Second || !a1.Expires.Equal(clock.Now().Add(60*time.Second)) {
		t.Errorf("TTL %v, Expires %v", a1.TTL, a1.Expires)
	}
	clock.Advance(59 * time.Second)
	a2, _ := lookup("Short.Signed.Test.", dns.TypeA)
	queries(1)
	if a1 != a2 {
		t.Error("a cached answer is a new *Answer")
	}
	clock.Advance(time.Second)
	lookup("short.signed.test", dns.TypeA)
	queries(2)

	// Another type of the same name is another entry.
	lookup("short.signed.test", dns.TypeAAAA)
	queries(3)

	// Denials: cached for the negative TTL, error included.
	_, err1 := lookup("nx.signed.test", dns.TypeTLSA)
	clock.Advance(119 * time.Second)
	_, err2 := lookup("nx.signed.test", dns.TypeTLSA)
	queries(4)
	if !errors.Is(err2, resolver.ErrNXDOMAIN) || err1 != err2 {
		t.Errorf("cached denial: %v, first %v", err2, err1)
	}
	clock.Advance(time.Second)
	lookup("nx.signed.test", dns.TypeTLSA)
	queries(5)

	// A denial without an SOA record is not cached (RFC 2308, Section 5).
	s.NegativeTTL(-1)
	lookup("nosoa.signed.test", dns.TypeA)
	lookup("nosoa.signed.test", dns.TypeA)
	queries(7)

	// A failure is not cached: once the data is good again, it is seen.
	s.Bogus("fixed.signed.test").A("fixed.signed.test", "192.0.2.8")
	if _, err := r.LookupSecure(ctx, "fixed.signed.test", dns.TypeA); err == nil {
		t.Fatal("bogus data: no error")
	}
	s.DNSFault("fixed.signed.test", mtaststest.DNSNormal)
	if a, err := lookup("fixed.signed.test", dns.TypeA); err != nil || a.Security != resolver.Secure {
		t.Errorf("after the fix: %+v, %v", a, err)
	}

	// A hit allocates nothing.
	allocs := testing.AllocsPerRun(100, func() {
		if a, _ := r.LookupSecure(ctx, "fixed.signed.test", dns.TypeA); a == nil {
			t.Fatal("cache miss")
		}
	})
	if allocs != 0 {
		t.Errorf("a cache hit allocates %v times", allocs)
	}

	// No cache at all.
	r = secureStub(s, clock)
	r.CacheSize = -1
	s.ResetCounters()
	lookup("short.signed.test", dns.TypeA)
	lookup("short.signed.test", dns.TypeA)
	queries(2)
}

// TestLookupSecureCacheBound checks that the cache keeps at most
// CacheSize outcomes, the least recently used going first.
func TestLookupSecureCacheBound(t *testing.T) {
	s := dnssecWorld(t)
	for i := range 3 {
		s.A(fmt.Sprintf("h%d.signed.test", i), "192.0.2.1")
	}
	r := secureStub(s, nil)
	r.CacheSize = 2
	ctx := t.Context()
	for _, h := range []int{0, 1, 0, 2, 0, 1} {
		if _, err := r.LookupSecure(ctx, fmt.Sprintf("h%d.signed.test", h), dns.TypeA); err != nil {
			t.Fatal(err)
		}
	}
	// h0, h1 asked; h0 a hit; h2 evicts h1; h0 a hit; h1 asked again.
	for h, want := range []int{1, 2, 1} {
		if n := s.Queries(fmt.Sprintf("h%d.signed.test", h), "A"); n != want {
			t.Errorf("h%d: %d queries, want %d", h, n, want)
		}
	}
}

func TestFailureReason(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{&net.DNSError{Err: "no such host", IsNotFound: true}, ""},
		{context.DeadlineExceeded, "timeout"},
		{&net.DNSError{Err: "operation was canceled", UnwrapErr: context.Canceled}, "timeout"},
		{&net.DNSError{Err: "i/o timeout", IsTimeout: true}, "timeout"},
		{&net.DNSError{Err: "read udp", UnwrapErr: &net.OpError{Op: "read", Err: errors.New("connection refused")}}, "timeout"},
		{&net.DNSError{Err: "server misbehaving", UnwrapErr: &resolver.ExtendedError{Code: 6}}, "dns-ede-6"},
		{fmt.Errorf("wrapped: %w", &net.DNSError{Err: "x", UnwrapErr: &resolver.ExtendedError{Code: 65535}}), "dns-ede-65535"},
		{&net.DNSError{Err: "malformed dns answer: truncated"}, "malformed"},
		{errors.New("something else"), "malformed"},
	} {
		if got := resolver.FailureReason(tt.err); got != tt.want {
			t.Errorf("FailureReason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestSecurityString(t *testing.T) {
	if resolver.Secure.String() != "secure" || resolver.Insecure.String() != "insecure" || resolver.Security(0) != resolver.Insecure {
		t.Errorf("Security strings: %v %v", resolver.Secure, resolver.Insecure)
	}
}

func BenchmarkLookupSecureCached(b *testing.B) {
	s := mtaststest.NewServer(b).Signed("signed.test").A("mx.signed.test", "192.0.2.1")
	r := stub(s)
	ctx := b.Context()
	if _, err := r.LookupSecure(ctx, "mx.signed.test", dns.TypeA); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if a, _ := r.LookupSecure(ctx, "mx.signed.test", dns.TypeA); a == nil {
			b.Fatal("miss")
		}
	}
}
