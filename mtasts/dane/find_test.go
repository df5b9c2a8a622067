package dane_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/strictmx/strictmx/internal/testclock"
	"github.com/strictmx/strictmx/mtasts/dane"
	"github.com/strictmx/strictmx/mtasts/mtaststest"
	"github.com/strictmx/strictmx/mtasts/resolver"
	"github.com/strictmx/strictmx/tlsrpt"
)

// digest is the data of the test's 3 1 1 records: a SHA2-256 digest's
// length, not of any key.
var digest = bytes.Repeat([]byte{0xab}, 32)

// daneWorld returns a harness with a signed zone (signed.test), an
// unsigned one (unsigned.test) and an unsigned sub-zone of the signed one
// (opt.signed.test).
func daneWorld(t testing.TB) *mtaststest.Server {
	t.Helper()
	return mtaststest.NewServer(t).Signed("signed.test").Unsigned("opt.signed.test")
}

// host adds an MX host with an IPv4 and an IPv6 address to s, and with
// tlsa set a 3 1 1 record at its _25._tcp name.
func host(s *mtaststest.Server, name string, tlsa bool) *mtaststest.Server {
	s.A(name, "192.0.2.1").A(name, "2001:db8::1")
	if tlsa {
		s.TLSA("_25._tcp."+name, 3, 1, 1, digest)
	}
	return s
}

// finder returns a Finder asking s, with a clock when c is not nil.
func finder(s *mtaststest.Server, c *testclock.Clock) *dane.Finder {
	r := s.Resolver()
	f := &dane.Finder{Resolver: r}
	if c != nil {
		r.Now = c.Now
	}
	return f
}

// tlsaQueries returns how many TLSA queries s has received for the
// _25._tcp names of hosts.
func tlsaQueries(s *mtaststest.Server, hosts ...string) int {
	n := 0
	for _, h := range hosts {
		n += s.Queries("_25._tcp."+h, "TLSA")
	}
	return n
}

// want is what a test expects of a Host.
type want struct {
	base   string // "" for no RRset
	target string // "" for the name itself
	signed bool
	err    error  // errors.Is target of Host.Err
	reason string // dnssec-invalid reason, with err dane.ErrLookup
	// queried and notQueried are host names whose _25._tcp TLSA name
	// must have been asked once, and must not have been asked.
	queried, notQueried []string
}

func checkHost(t *testing.T, s *mtaststest.Server, h *dane.Host, name string, w want) {
	t.Helper()
	if h.Name != name {
		t.Errorf("Name = %q, want %q", h.Name, name)
	}
	target := w.target
	if target == "" {
		target = name
	}
	if h.Target != target {
		t.Errorf("Target = %q, want %q", h.Target, target)
	}
	if h.Base != w.base || h.Applies() != (w.base != "") {
		t.Errorf("Base = %q, Applies %v; want %q", h.Base, h.Applies(), w.base)
	}
	if h.Signed != w.signed {
		t.Errorf("Signed = %v, want %v", h.Signed, w.signed)
	}
	if w.err == nil && h.Err != nil || w.err != nil && !errors.Is(h.Err, w.err) {
		t.Errorf("Err = %v, want %v", h.Err, w.err)
	}
	var de *dane.Error
	if errors.As(h.Err, &de) != (w.err == dane.ErrLookup) {
		t.Errorf("Err %v: *dane.Error %v, want %v", h.Err, de != nil, w.err == dane.ErrLookup)
	}
	if de != nil {
		if de.ResultType != tlsrpt.ResultDNSSECInvalid || de.Reason != w.reason || de.Host != name {
			t.Errorf("dane.Error %+v, want dnssec-invalid, %q, host %q", de, w.reason, name)
		}
	}
	if h.Applies() {
		if h.RRset == nil || len(h.RRset.Records()) == 0 {
			t.Errorf("Applies with RRset %v", h.RRset)
		}
		if h.TLSASecurity != resolver.Secure {
			t.Errorf("Applies with TLSASecurity %v", h.TLSASecurity)
		}
	}
	if h.Err == nil && len(h.Addrs) == 0 {
		t.Error("no error and no address")
	}
	for _, q := range w.queried {
		if n := tlsaQueries(s, q); n != 1 {
			t.Errorf("%d TLSA queries for _25._tcp.%s, want 1", n, q)
		}
	}
	for _, q := range w.notQueried {
		if n := tlsaQueries(s, q); n != 0 {
			t.Errorf("%d TLSA queries for _25._tcp.%s, want none", n, q)
		}
	}
}

func TestFinderHost(t *testing.T) {
	type test struct {
		name  string                           // the section and case
		setup func(s *mtaststest.Server)       // the zones
		host  string                           // as the MX RRset gives it
		want  want                             //
		more  func(t *testing.T, h *dane.Host) // further checks
	}
	tests := []test{
		// Contract section 3: the signed-zone check.
		{name: "3/signed host with TLSA", host: "mx.signed.test",
			setup: func(s *mtaststest.Server) { host(s, "mx.signed.test", true) },
			want:  want{base: "mx.signed.test", signed: true}},
		{name: "3/name as the MX RRset gives it", host: "MX.Signed.Test.",
			setup: func(s *mtaststest.Server) { host(s, "mx.signed.test", true) },
			want:  want{base: "mx.signed.test", signed: true}},
		{name: "3/signed host, TLSA NODATA", host: "mx.signed.test",
			setup: func(s *mtaststest.Server) { host(s, "mx.signed.test", false).TXT("_25._tcp.mx.signed.test", "x") },
			want:  want{signed: true, queried: []string{"mx.signed.test"}}},
		{name: "3/signed host, TLSA NXDOMAIN", host: "mx.signed.test",
			setup: func(s *mtaststest.Server) { host(s, "mx.signed.test", false) },
			want:  want{signed: true, queried: []string{"mx.signed.test"}},
			more: func(t *testing.T, h *dane.Host) {
				var steps []string
				for _, st := range h.Steps {
					steps = append(steps, fmt.Sprintf("%s %s %v %d %v", st.Name, st.Type, st.Security, st.Records, errors.Is(st.Err, resolver.ErrNXDOMAIN)))
				}
				want := []string{"mx.signed.test A secure 1 false", "mx.signed.test AAAA secure 1 false", "_25._tcp.mx.signed.test TLSA secure 0 true"}
				if !slices.Equal(steps, want) {
					t.Errorf("Steps = %q, want %q", steps, want)
				}
			}},
		{name: "3/unsigned zone sends no TLSA query", host: "mx.unsigned.test",
			setup: func(s *mtaststest.Server) { host(s, "mx.unsigned.test", true) },
			want:  want{notQueried: []string{"mx.unsigned.test"}}},
		{name: "3/unsigned sub-zone of a signed zone", host: "mx.opt.signed.test",
			setup: func(s *mtaststest.Server) { host(s, "mx.opt.signed.test", true) },
			want:  want{notQueried: []string{"mx.opt.signed.test"}}},
		{name: "3/TLSA insecure: no RRset", host: "mx.signed.test",
			setup: func(s *mtaststest.Server) {
				host(s, "mx.signed.test", true)
				s.Unsigned("_tcp.mx.signed.test")
			},
			want: want{signed: true, queried: []string{"mx.signed.test"}},
			more: func(t *testing.T, h *dane.Host) {
				if h.TLSASecurity != resolver.Insecure {
					t.Errorf("TLSASecurity = %v", h.TLSASecurity)
				}
			}},
		{name: "3/broken AAAA keeps IPv4's DANE", host: "mx.signed.test",
			setup: func(s *mtaststest.Server) { host(s, "mx.signed.test", true).Bogus("mx.signed.test", dns.TypeAAAA) },
			want:  want{base: "mx.signed.test", signed: true},
			more: func(t *testing.T, h *dane.Host) {
				if !slices.Equal(h.Addrs, []netip.Addr{netip.MustParseAddr("192.0.2.1")}) {
					t.Errorf("Addrs = %v", h.Addrs)
				}
			}},
		{name: "3/IPv6 only", host: "v6.signed.test",
			setup: func(s *mtaststest.Server) {
				s.A("v6.signed.test", "2001:db8::6").TLSA("_25._tcp.v6.signed.test", 3, 1, 1, digest)
			},
			want: want{base: "v6.signed.test", signed: true}},
		{name: "3/no address: both denied", host: "nx.signed.test",
			want: want{err: dane.ErrNoAddress, notQueried: []string{"nx.signed.test"}}},
		{name: "3/no address: both failed, not dnssec-invalid", host: "mx.signed.test",
			setup: func(s *mtaststest.Server) {
				host(s, "mx.signed.test", true).Bogus("mx.signed.test", dns.TypeA, dns.TypeAAAA)
			},
			want: want{err: dane.ErrNoAddress, notQueried: []string{"mx.signed.test"}}},
		{name: "3/TLSA SERVFAIL", host: "mx.signed.test",
			setup: func(s *mtaststest.Server) { host(s, "mx.signed.test", true).Bogus("_25._tcp.mx.signed.test") },
			want:  want{signed: true, err: dane.ErrLookup, reason: "servfail"}},
		{name: "3/TLSA SERVFAIL with EDE", host: "mx.signed.test",
			setup: func(s *mtaststest.Server) {
				host(s, "mx.signed.test", true)
				s.BogusEDE("_25._tcp.mx.signed.test", dns.ExtendedErrorCodeDNSBogus)
			},
			want: want{signed: true, err: dane.ErrLookup, reason: "dns-ede-6"}},
		{name: "3/TLSA timeout", host: "mx.signed.test",
			setup: func(s *mtaststest.Server) {
				host(s, "mx.signed.test", true)
				s.DNSFault("_25._tcp.mx.signed.test", mtaststest.DNSTimeout)
			},
			want: want{signed: true, err: dane.ErrLookup, reason: "timeout"}},

		// Contract section 3: CNAMEs.
		{name: "3/CNAME secure chain: TLSA at the end", host: "alias.signed.test",
			setup: func(s *mtaststest.Server) {
				host(s, "mx2.signed.test", true)
				s.CNAME("alias.signed.test", "mx2.signed.test").TLSA("_25._tcp.alias.signed.test", 3, 1, 1, digest)
			},
			want: want{base: "mx2.signed.test", target: "mx2.signed.test", signed: true, notQueried: []string{"alias.signed.test"}},
			more: func(t *testing.T, h *dane.Host) {
				if ids := h.IDs("example.test", resolver.Insecure); !slices.Equal(ids, []string{"mx2.signed.test", "alias.signed.test"}) {
					t.Errorf("IDs = %q", ids)
				}
			}},
		{name: "3/CNAME secure chain, nothing at the end: the original", host: "alias.signed.test",
			setup: func(s *mtaststest.Server) {
				host(s, "mx2.signed.test", false)
				s.CNAME("alias.signed.test", "mx2.signed.test").TLSA("_25._tcp.alias.signed.test", 3, 1, 1, digest)
			},
			want: want{base: "alias.signed.test", target: "mx2.signed.test", signed: true, queried: []string{"mx2.signed.test"}},
			more: func(t *testing.T, h *dane.Host) {
				if ids := h.IDs("example.test", resolver.Insecure); !slices.Equal(ids, []string{"alias.signed.test"}) {
					t.Errorf("IDs = %q", ids)
				}
			}},
		{name: "3/CNAME secure chain, insecure TLSA at the end: the original", host: "alias.signed.test",
			setup: func(s *mtaststest.Server) {
				host(s, "mx2.signed.test", true)
				s.Unsigned("_tcp.mx2.signed.test")
				s.CNAME("alias.signed.test", "mx2.signed.test").TLSA("_25._tcp.alias.signed.test", 3, 1, 1, digest)
			},
			want: want{base: "alias.signed.test", target: "mx2.signed.test", signed: true, queried: []string{"mx2.signed.test"}}},
		{name: "3/CNAME secure chain, failure at the end skips the host", host: "alias.signed.test",
			setup: func(s *mtaststest.Server) {
				host(s, "mx2.signed.test", true)
				s.Bogus("_25._tcp.mx2.signed.test")
				s.CNAME("alias.signed.test", "mx2.signed.test").TLSA("_25._tcp.alias.signed.test", 3, 1, 1, digest)
			},
			want: want{target: "mx2.signed.test", signed: true, err: dane.ErrLookup, reason: "servfail",
				queried: []string{"mx2.signed.test"}, notQueried: []string{"alias.signed.test"}}},
		{name: "3/CNAME only the first link secure: the original only", host: "alias.signed.test",
			setup: func(s *mtaststest.Server) {
				host(s, "mx.unsigned.test", true)
				s.CNAME("alias.signed.test", "mx.unsigned.test").TLSA("_25._tcp.alias.signed.test", 3, 1, 1, digest)
			},
			want: want{base: "alias.signed.test", target: "mx.unsigned.test", signed: true, notQueried: []string{"mx.unsigned.test"}},
			more: func(t *testing.T, h *dane.Host) {
				if h.CNAMESecurity != resolver.Secure || h.AddrSecurity != resolver.Insecure {
					t.Errorf("CNAMESecurity %v, AddrSecurity %v", h.CNAMESecurity, h.AddrSecurity)
				}
			}},
		{name: "3/CNAME only the first link secure, no TLSA", host: "alias.signed.test",
			setup: func(s *mtaststest.Server) {
				host(s, "mx.unsigned.test", true)
				s.CNAME("alias.signed.test", "mx.unsigned.test")
			},
			want: want{target: "mx.unsigned.test", signed: true, queried: []string{"alias.signed.test"}, notQueried: []string{"mx.unsigned.test"}}},
		{name: "3/CNAME insecure: no TLSA query", host: "alias.unsigned.test",
			setup: func(s *mtaststest.Server) {
				host(s, "mx2.signed.test", true)
				s.CNAME("alias.unsigned.test", "mx2.signed.test")
			},
			want: want{target: "mx2.signed.test", notQueried: []string{"alias.unsigned.test", "mx2.signed.test"}}},
		{name: "3/CNAME query fails: skipped", host: "alias.signed.test",
			setup: func(s *mtaststest.Server) {
				host(s, "mx.unsigned.test", true)
				s.CNAME("alias.signed.test", "mx.unsigned.test")
				s.OnQuery(func(name, rrtype string) {
					if name == "alias.signed.test." && rrtype == "CNAME" {
						s.DNSFault("alias.signed.test", mtaststest.DNSServFail)
					}
				})
			},
			want: want{target: "mx.unsigned.test", err: dane.ErrLookup, reason: "servfail", notQueried: []string{"alias.signed.test", "mx.unsigned.test"}}},
		{name: "3/TLSA owner an alias, secure", host: "mx.signed.test",
			setup: func(s *mtaststest.Server) {
				host(s, "mx.signed.test", false)
				s.CNAME("_25._tcp.mx.signed.test", "_dane.signed.test").TLSA("_dane.signed.test", 3, 1, 1, digest)
			},
			want: want{base: "mx.signed.test", signed: true}},
		{name: "3/TLSA owner an alias into an unsigned zone", host: "mx.signed.test",
			setup: func(s *mtaststest.Server) {
				host(s, "mx.signed.test", false)
				s.CNAME("_25._tcp.mx.signed.test", "_dane.unsigned.test").TLSA("_dane.unsigned.test", 3, 1, 1, digest)
			},
			want: want{signed: true, queried: []string{"mx.signed.test"}}},

		// Hostile zones: bounded, typed.
		{name: "hostile/thousands of TLSA records", host: "mx.signed.test",
			setup: func(s *mtaststest.Server) {
				host(s, "mx.signed.test", false)
				for i := range 2000 {
					s.TLSA("_25._tcp.mx.signed.test", 3, 1, 1, []byte{byte(i >> 8), byte(i)})
				}
			},
			want: want{signed: true, err: dane.ErrLookup, reason: "malformed"}},
		{name: "hostile/many TLSA records within bounds", host: "mx.signed.test",
			setup: func(s *mtaststest.Server) {
				host(s, "mx.signed.test", false)
				for i := range 900 {
					s.TLSA("_25._tcp.mx.signed.test", 3, 1, 1, []byte{byte(i >> 8), byte(i)})
				}
			},
			want: want{base: "mx.signed.test", signed: true}},
		{name: "hostile/CNAME loop at the host", host: "loop1.signed.test",
			setup: func(s *mtaststest.Server) {
				s.CNAMEMode(mtaststest.CNAMEChainLoops).
					CNAME("loop1.signed.test", "loop2.signed.test").CNAME("loop2.signed.test", "loop1.signed.test")
			},
			want: want{err: dane.ErrNoAddress, notQueried: []string{"loop1.signed.test", "loop2.signed.test"}},
			more: func(t *testing.T, h *dane.Host) {
				if !errors.Is(h.Err, resolver.ErrCNAMELoop) {
					t.Errorf("Err %v does not wrap ErrCNAMELoop", h.Err)
				}
			}},
		{name: "hostile/CNAME loop at the TLSA owner", host: "mx.signed.test",
			setup: func(s *mtaststest.Server) {
				host(s, "mx.signed.test", false)
				s.CNAMEMode(mtaststest.CNAMEOneLink).
					CNAME("_25._tcp.mx.signed.test", "_l.signed.test").CNAME("_l.signed.test", "_25._tcp.mx.signed.test")
			},
			want: want{signed: true, err: dane.ErrLookup, reason: "malformed"}},
		{name: "hostile/TLSA AD with REFUSED", host: "mx.signed.test",
			setup: func(s *mtaststest.Server) {
				host(s, "mx.signed.test", true)
				s.ADWithRcode("_25._tcp.mx.signed.test", dns.RcodeRefused)
			},
			want: want{signed: true, err: dane.ErrLookup, reason: "refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := daneWorld(t)
			if tt.setup != nil {
				tt.setup(s)
			}
			h := finder(s, nil).Host(t.Context(), tt.host)
			name := dnsName(tt.host)
			checkHost(t, s, h, name, tt.want)
			if tt.more != nil {
				tt.more(t, h)
			}
			if len(h.Steps) < 2 || h.Steps[0].Type != "A" || h.Steps[1].Type != "AAAA" {
				t.Errorf("Steps = %+v, want A and AAAA first", h.Steps)
			}
		})
	}
}

// dnsName is name lower case without a trailing dot.
func dnsName(name string) string {
	b := []byte(name)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(bytes.TrimSuffix(b, []byte(".")))
}

// Contract section 2: an insecure MX with a secure TLSA RRset, and the
// reference identifiers by the MX RRset's state. (The MX RRset's own state
// is mtasts.ResolveMXSecure's, tested there.)
func TestFinderInsecureMX(t *testing.T) {
	s := daneWorld(t).MX("unsigned.test", 10, "mx.signed.test")
	host(s, "mx.signed.test", true)
	f := finder(s, nil)
	ctx := t.Context()

	// Insecure MX, secure TLSA: the host still gets DANE, but the
	// next-hop domain is no reference identifier.
	ans, err := f.Resolver.LookupSecure(ctx, "unsigned.test", resolver.TypeMX)
	if err != nil || ans.Security != resolver.Insecure {
		t.Fatal(ans, err)
	}
	sec := ans.Security
	h := f.Host(ctx, ans.MX[0].Host)
	if !h.Applies() || h.Base != "mx.signed.test" {
		t.Fatalf("insecure MX: host %+v", h)
	}
	if ids := h.IDs("unsigned.test", sec); !slices.Equal(ids, []string{"mx.signed.test"}) {
		t.Errorf("insecure MX: IDs = %q", ids)
	}
	if ids := h.IDs("Signed.Test.", resolver.Secure); !slices.Equal(ids, []string{"mx.signed.test", "signed.test"}) {
		t.Errorf("secure MX: IDs = %q", ids)
	}
	// A non-MX destination: the base domain, and the original name if
	// CNAME-expanded, once each.
	if ids := h.IDs("mx.signed.test", resolver.Secure); !slices.Equal(ids, []string{"mx.signed.test"}) {
		t.Errorf("non-MX: IDs = %q", ids)
	}
	// No DANE, no identifiers.
	if ids := f.Host(ctx, "nomx.signed.test").IDs("nomx.signed.test", resolver.Secure); ids != nil {
		t.Errorf("no DANE: IDs = %q", ids)
	}
}

// TestFinderHostLiteral checks that an IP address literal sends no query
// and gets no DANE (contract section 3).
func TestFinderHostLiteral(t *testing.T) {
	s := daneWorld(t)
	f := finder(s, nil)
	for host, want := range map[string]string{
		"192.0.2.1":          "192.0.2.1",
		"[192.0.2.1]":        "192.0.2.1",
		"[IPv6:2001:db8::1]": "2001:db8::1",
		"2001:db8::1":        "2001:db8::1",
		"::ffff:192.0.2.1":   "192.0.2.1",
	} {
		h := f.Host(t.Context(), host)
		if h.Applies() || h.Err != nil || len(h.Addrs) != 1 || h.Addrs[0] != netip.MustParseAddr(want) {
			t.Errorf("%s: %+v", host, h)
		}
	}
	if n := s.TotalQueries(); n != 0 {
		t.Errorf("%d queries for IP literals", n)
	}
	// Not a name, not an address.
	if h := f.Host(t.Context(), "bad_host..test"); !errors.Is(h.Err, dane.ErrNoAddress) || s.TotalQueries() != 0 {
		t.Errorf("bad name: %+v, %d queries", h, s.TotalQueries())
	}
}

func TestFinderPort(t *testing.T) {
	s := daneWorld(t)
	s.A("relay.signed.test", "192.0.2.1").TLSA("_587._tcp.relay.signed.test", 3, 1, 1, digest).
		TLSA("_25._tcp.relay.signed.test", 3, 1, 1, digest)
	f := finder(s, nil)
	f.Port = 587
	h := f.Host(t.Context(), "relay.signed.test")
	if !h.Applies() || s.Queries("_587._tcp.relay.signed.test", "TLSA") != 1 || s.Queries("_25._tcp.relay.signed.test", "TLSA") != 0 {
		t.Errorf("port 587: %+v", h)
	}
}

func TestFinderHostCache(t *testing.T) {
	s := daneWorld(t)
	s.RR("mx.signed.test. 60 IN A 192.0.2.1").
		TLSA("_25._tcp.mx.signed.test", 3, 1, 1, digest).
		NegativeTTL(600 * time.Second)
	clock := testclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	f := finder(s, clock)
	ctx := t.Context()

	h1 := f.Host(ctx, "mx.signed.test")
	if !h1.Applies() {
		t.Fatalf("host %+v", h1)
	}
	// The least TTL used: the A record's 60 s.
	if want := clock.Now().Add(60 * time.Second); !h1.Expires.Equal(want) {
		t.Errorf("Expires %v, want %v", h1.Expires, want)
	}
	s.ResetCounters()
	// A second lookup sends no DNS query, and allocates nothing.
	if h2 := f.Host(ctx, "mx.signed.test."); h2 != h1 {
		t.Error("second lookup: another *Host")
	}
	allocs := testing.AllocsPerRun(100, func() {
		if f.Host(ctx, "mx.signed.test") != h1 {
			t.Fatal("cache miss")
		}
	})
	if allocs != 0 {
		t.Errorf("a cached host allocates %v times", allocs)
	}
	if n := s.TotalQueries(); n != 0 {
		t.Errorf("cached host: %d queries", n)
	}
	// Once stale, asked again.
	clock.Advance(60 * time.Second)
	if h3 := f.Host(ctx, "mx.signed.test"); h3 == h1 || !h3.Applies() || s.TotalQueries() == 0 {
		t.Errorf("stale host: %+v, %d queries", h3, s.TotalQueries())
	}

	// Failures are not cached.
	s.A("bad.signed.test", "192.0.2.2").Bogus("_25._tcp.bad.signed.test")
	for range 2 {
		before := s.Queries("_25._tcp.bad.signed.test", "TLSA")
		if h := f.Host(ctx, "bad.signed.test"); !errors.Is(h.Err, dane.ErrLookup) {
			t.Errorf("bogus TLSA: %+v", h)
		}
		if s.Queries("_25._tcp.bad.signed.test", "TLSA") == before {
			t.Error("a failed host was cached")
		}
	}
	// Nor is a host one of whose lookups failed, even when the other
	// family gave it DANE.
	s.A("half.signed.test", "192.0.2.4").TLSA("_25._tcp.half.signed.test", 3, 1, 1, digest).
		Bogus("half.signed.test", dns.TypeAAAA)
	for range 2 {
		before := s.Queries("half.signed.test", "AAAA")
		if h := f.Host(ctx, "half.signed.test"); !h.Applies() {
			t.Errorf("broken AAAA: %+v", h)
		}
		if s.Queries("half.signed.test", "AAAA") == before {
			t.Error("a host with a failed AAAA lookup was cached")
		}
	}

	// Nor are hosts that failed to resolve.
	s.A("noaddr.signed.test", "192.0.2.3").Bogus("noaddr.signed.test", dns.TypeA, dns.TypeAAAA)
	for range 2 {
		before := s.Queries("noaddr.signed.test", "A")
		if h := f.Host(ctx, "noaddr.signed.test"); !errors.Is(h.Err, dane.ErrNoAddress) {
			t.Errorf("no address: %+v", h)
		}
		if s.Queries("noaddr.signed.test", "A") == before {
			t.Error("an unresolvable host was cached")
		}
	}

	// No host cache: the resolver's cache still spares the queries.
	f2 := finder(s, clock)
	f2.Resolver = f.Resolver
	f2.CacheSize = -1
	f2.Host(ctx, "mx.signed.test")
	s.ResetCounters()
	if h := f2.Host(ctx, "mx.signed.test"); !h.Applies() || s.TotalQueries() != 0 {
		t.Errorf("uncached Finder: %+v, %d queries", h, s.TotalQueries())
	}
}

// TestFinderSecondDelivery is the count: a second delivery to the
// same MX hosts sends no DNS query.
func TestFinderSecondDelivery(t *testing.T) {
	s := daneWorld(t)
	for i := range 5 {
		s.MX("signed.test", uint16(i), fmt.Sprintf("mx%d.signed.test", i))
		host(s, fmt.Sprintf("mx%d.signed.test", i), i%2 == 0)
	}
	f := finder(s, nil)
	deliver := func() {
		ans, err := f.Resolver.LookupSecure(t.Context(), "signed.test", resolver.TypeMX)
		if err != nil || ans.Security != resolver.Secure || len(ans.MX) != 5 {
			t.Fatal(ans, err)
		}
		for i, mx := range ans.MX {
			if h := f.Host(t.Context(), mx.Host); h.Applies() != (i%2 == 0) || h.Err != nil {
				t.Errorf("%s: %+v", mx.Host, h)
			}
		}
	}
	deliver()
	if s.TotalQueries() == 0 {
		t.Fatal("first delivery sent no query")
	}
	s.ResetCounters()
	deliver()
	if n := s.TotalQueries(); n != 0 {
		t.Errorf("second delivery sent %d queries", n)
	}
}

// TestFinderConcurrent runs Host from many goroutines on one Finder, for
// the race detector.
func TestFinderConcurrent(t *testing.T) {
	s := daneWorld(t)
	host(s, "mx.signed.test", true)
	f := finder(s, nil)
	done := make(chan *dane.Host)
	for range 8 {
		go func() { done <- f.Host(t.Context(), "mx.signed.test") }()
	}
	for range 8 {
		if h := <-done; !h.Applies() {
			t.Errorf("host %+v", h)
		}
	}
}

// BenchmarkFinderHostCached looks up five cached hosts per iteration: the
// issue's "under 1 us for 5 MX hosts".
func BenchmarkFinderHostCached(b *testing.B) {
	s := daneWorld(b)
	var hosts []string
	for i := range 5 {
		h := fmt.Sprintf("mx%d.signed.test", i)
		host(s, h, true)
		hosts = append(hosts, h)
	}
	f := finder(s, nil)
	ctx := b.Context()
	for _, h := range hosts {
		if !f.Host(ctx, h).Applies() {
			b.Fatal(h)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, h := range hosts {
			if f.Host(ctx, h).RRset == nil {
				b.Fatal(h)
			}
		}
	}
}

// BenchmarkFinderHostFloor is the floor to read BenchmarkFinderHostCached
// against: for each of the same five hosts, what any cache with expiry
// must do at least, a map lookup and a reading of the clock.
func BenchmarkFinderHostFloor(b *testing.B) {
	m := map[string]*dane.Host{}
	var hosts []string
	for i := range 5 {
		h := fmt.Sprintf("mx%d.signed.test", i)
		m[h] = &dane.Host{Name: h, Expires: time.Now().Add(time.Hour)}
		hosts = append(hosts, h)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, h := range hosts {
			if e := m[h]; e == nil || !time.Now().Before(e.Expires) {
				b.Fatal(h)
			}
		}
	}
}
