package resolver_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/strictmx/strictmx/internal/domain"
	"github.com/strictmx/strictmx/mtasts/mtaststest"
	"github.com/strictmx/strictmx/mtasts/resolver"
)

// Limits of a Stub, as its documentation gives them.
const (
	maxCNAMEs    = 8
	maxAnswerRRs = 1000
)

// stub returns a Stub that asks the harness s only.
func stub(s *mtaststest.Server) *resolver.Stub {
	return &resolver.Stub{Servers: []string{s.DNSAddr()}, Timeout: mtaststest.ResolverTimeout}
}

func dnsErr(t *testing.T, err error) *net.DNSError {
	t.Helper()
	var de *net.DNSError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *net.DNSError", err, err)
	}
	return de
}

func TestLookupTXT(t *testing.T) {
	s := mtaststest.NewServer(t).RR(
		// Several strings per RR are concatenated with no separator.
		`_mta-sts.example.test. 300 IN TXT "v=STSv1; " "id=20240101" ""`,
		// A second RR stays a second string.
		`_mta-sts.example.test. 300 IN TXT "other"`,
		// Escapes in zone syntax become raw bytes on the wire and must
		// come back as those bytes, not as miekg/dns escapes.
		`odd.example.test. 300 IN TXT "a\"b\\c\255d\009e;f"`,
	)
	r := stub(s)
	ctx := t.Context()

	for _, name := range []string{"_mta-sts.example.test", "_mta-sts.example.test.", "_MTA-STS.Example.Test"} {
		got, err := r.LookupTXT(ctx, name)
		if err != nil {
			t.Fatalf("LookupTXT(%q): %v", name, err)
		}
		want := []string{"v=STSv1; id=20240101", "other"}
		if !slices.Equal(got, want) {
			t.Errorf("LookupTXT(%q) = %q, want %q", name, got, want)
		}
	}

	got, err := r.LookupTXT(ctx, "odd.example.test")
	if err != nil {
		t.Fatal(err)
	}
	if want := "a\"b\\c\xffd\te;f"; len(got) != 1 || got[0] != want {
		t.Errorf("LookupTXT(odd) = %q, want [%q]", got, want)
	}
}

func TestLookupOutcomes(t *testing.T) {
	s := mtaststest.NewServer(t).
		A("nodata.example.test", "192.0.2.1").
		CNAME("chain-nx.example.test", "gone.example.test").
		DNSFault("servfail.example.test", mtaststest.DNSServFail).
		DNSFault("refused.example.test", mtaststest.DNSRefused).
		DNSRcode("notimp.example.test", dns.RcodeNotImplemented).
		DNSRcode("formerr.example.test", dns.RcodeFormatError)
	r := stub(s)

	tests := []struct {
		name                         string
		notFound, temporary, timeout bool
		errText                      string
		is                           error
	}{
		// Final "absent" answers.
		{name: "nx.example.test", notFound: true, errText: "no such host", is: resolver.ErrNXDOMAIN},
		{name: "nodata.example.test", notFound: true, errText: "no such record", is: resolver.ErrNODATA},
		{name: "chain-nx.example.test", notFound: true, errText: "no such host", is: resolver.ErrNXDOMAIN},
		// Temporary failures, kept apart.
		{name: "servfail.example.test", temporary: true, errText: "server misbehaving"},
		{name: "refused.example.test", errText: "refused"},
		{name: "notimp.example.test", errText: "dns error code NOTIMP"},
		{name: "formerr.example.test", errText: "dns error code FORMERR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			txt, err := r.LookupTXT(t.Context(), tt.name)
			if err == nil {
				t.Fatalf("LookupTXT = %q, want an error", txt)
			}
			de := dnsErr(t, err)
			if de.IsNotFound != tt.notFound || de.IsTemporary != tt.temporary || de.IsTimeout != tt.timeout {
				t.Errorf("IsNotFound, IsTemporary, IsTimeout = %v, %v, %v; want %v, %v, %v",
					de.IsNotFound, de.IsTemporary, de.IsTimeout, tt.notFound, tt.temporary, tt.timeout)
			}
			if de.Err != tt.errText {
				t.Errorf("Err = %q, want %q", de.Err, tt.errText)
			}
			if de.Name != tt.name || de.Server != s.DNSAddr() {
				t.Errorf("Name, Server = %q, %q; want %q, %q", de.Name, de.Server, tt.name, s.DNSAddr())
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
			for _, other := range []error{resolver.ErrNXDOMAIN, resolver.ErrNODATA} {
				if other != tt.is && errors.Is(err, other) {
					t.Errorf("errors.Is(%v, %v) = true", err, other)
				}
			}
		})
	}
}

// chain adds to s a CNAME chain of links links starting at
// <prefix>0.example.test, ending in a TXT record, and returns its start.
func chain(s *mtaststest.Server, prefix string, links int) string {
	for i := range links {
		s.CNAME(fmt.Sprintf("%s%d.example.test", prefix, i), fmt.Sprintf("%s%d.example.test", prefix, i+1))
	}
	s.TXT(fmt.Sprintf("%s%d.example.test", prefix, links), "end of "+prefix)
	return prefix + "0.example.test"
}

func TestLookupCNAME(t *testing.T) {
	for _, mode := range []mtaststest.CNAMEMode{mtaststest.CNAMEChain, mtaststest.CNAMEChainLoops, mtaststest.CNAMEOneLink} {
		t.Run(fmt.Sprint("mode=", mode), func(t *testing.T) {
			s := mtaststest.NewServer(t).CNAMEMode(mode).
				CNAME("loop1.example.test", "loop2.example.test").
				// Written with RR to keep the target's case.
				RR(`loop2.example.test. 300 IN CNAME LOOP1.example.test.`).
				CNAME("self.example.test", "self.example.test").
				CNAME("dangling.example.test", "nodata.example.test").
				A("nodata.example.test", "192.0.2.1")
			r := stub(s)

			// Eight links are followed: in one query when the server
			// sends the chain, in one per link otherwise.
			name := chain(s, "ok", maxCNAMEs)
			got, err := r.LookupTXT(t.Context(), name)
			if err != nil || len(got) != 1 || got[0] != "end of ok" {
				t.Errorf("8 links: LookupTXT = %q, %v", got, err)
			}
			wantQueries := 1
			if mode == mtaststest.CNAMEOneLink {
				wantQueries = maxCNAMEs + 1
			}
			if n := s.TotalQueries(); n != wantQueries {
				t.Errorf("8 links took %d queries, want %d", n, wantQueries)
			}

			// Nine are not.
			name = chain(s, "long", maxCNAMEs+1)
			_, err = r.LookupTXT(t.Context(), name)
			if !errors.Is(err, resolver.ErrCNAMEChainTooLong) || dnsErr(t, err).IsNotFound {
				t.Errorf("9 links: got %v, want ErrCNAMEChainTooLong", err)
			}

			// Loops: the Stub sees them in one answer or across
			// answers, unless the server gives up first.
			for _, name := range []string{"loop1.example.test", "self.example.test"} {
				_, err = r.LookupTXT(t.Context(), name)
				if mode == mtaststest.CNAMEChain {
					if de := dnsErr(t, err); de.Err != "server misbehaving" {
						t.Errorf("%s: got %+v, want the server's SERVFAIL", name, de)
					}
					continue
				}
				if !errors.Is(err, resolver.ErrCNAMELoop) || dnsErr(t, err).IsNotFound {
					t.Errorf("%s: got %v, want ErrCNAMELoop", name, err)
				}
			}

			// A chain that ends in NODATA is NODATA.
			_, err = r.LookupTXT(t.Context(), "dangling.example.test")
			if !errors.Is(err, resolver.ErrNODATA) || !dnsErr(t, err).IsNotFound {
				t.Errorf("dangling: got %v, want NODATA", err)
			}
		})
	}
}

func TestLookupTTL(t *testing.T) {
	for _, mode := range []mtaststest.CNAMEMode{mtaststest.CNAMEChain, mtaststest.CNAMEOneLink} {
		s := mtaststest.NewServer(t).CNAMEMode(mode).
			TXT("_mta-sts.example.test", "v=STSv1; id=1").
			RR(`alias.example.test. 60 IN CNAME _mta-sts.example.test.`).
			A("nodata.example.test", "192.0.2.1").
			DNSFault("servfail.example.test", mtaststest.DNSServFail).
			NegativeSOA(time.Hour, 2*time.Minute)
		r := stub(s)
		for _, tt := range []struct {
			name string
			ttl  time.Duration
		}{
			{"_mta-sts.example.test", 300 * time.Second},
			// The least TTL along the CNAME chain.
			{"alias.example.test", 60 * time.Second},
			// RFC 2308, Section 5: min(SOA TTL, SOA MINIMUM).
			{"nx.example.test", 2 * time.Minute},
			{"nodata.example.test", 2 * time.Minute},
			{"servfail.example.test", 0},
		} {
			_, ttl, err := r.LookupTXTWithTTL(t.Context(), tt.name)
			if ttl != tt.ttl {
				t.Errorf("mode %d %s: TTL %v (err %v), want %v", mode, tt.name, ttl, err, tt.ttl)
			}
		}
		// The SOA's own TTL when it is the lesser.
		s.NegativeSOA(30*time.Second, time.Hour)
		if _, ttl, _ := r.LookupTXTWithTTL(t.Context(), "nx.example.test"); ttl != 30*time.Second {
			t.Errorf("mode %d: SOA TTL 30s, MINIMUM 1h: TTL %v, want 30s", mode, ttl)
		}
	}
	// Without an SOA, a negative answer may not be cached at all.
	s := mtaststest.NewServer(t).NegativeTTL(-1)
	if _, ttl, err := stub(s).LookupTXTWithTTL(t.Context(), "nx.example.test"); ttl != 0 || !dnsErr(t, err).IsNotFound {
		t.Errorf("no SOA: TTL %v, %v", ttl, err)
	}
}

func TestLookupManyRRs(t *testing.T) {
	values := func(n int) []string {
		v := make([]string, n)
		for i := range v {
			v[i] = fmt.Sprint(i)
		}
		return v
	}
	s := mtaststest.NewServer(t).
		TXT("limit.example.test", values(maxAnswerRRs)...).
		TXT("over.example.test", values(maxAnswerRRs+1)...).
		TXT("thousands.example.test", values(3000)...) // about 50 KB, over TCP
	r := stub(s)

	got, err := r.LookupTXT(t.Context(), "limit.example.test")
	if err != nil || len(got) != maxAnswerRRs || got[999] != "999" {
		t.Errorf("at the limit: %d records, %v", len(got), err)
	}
	for _, name := range []string{"over.example.test", "thousands.example.test"} {
		_, err = r.LookupTXT(t.Context(), name)
		if !errors.Is(err, resolver.ErrAnswerTooLarge) {
			t.Errorf("%s: got %v, want ErrAnswerTooLarge", name, err)
		}
		if de := dnsErr(t, err); de.IsNotFound || de.Name != name {
			t.Errorf("%s: got %+v, want a temporary-class error for the name", name, de)
		}
	}
}

func TestLookupMX(t *testing.T) {
	s := mtaststest.NewServer(t).
		MX("example.test", 20, "mx2.example.test").
		MX("example.test", 10, "mx1.example.test").
		MX("example.test", 20, "mx3.example.test").
		RR(`example.test. 300 IN MX 5 bad\.name.example.test.`).
		MX("null.example.test", 0, ".").
		RR(`allbad.example.test. 300 IN MX 0 bad\032name.example.test.`).
		CNAME("alias.example.test", "example.test")
	r := stub(s)
	str := func(mxs []*net.MX) string {
		var s []string
		for _, mx := range mxs {
			s = append(s, fmt.Sprintf("%d %s", mx.Pref, mx.Host))
		}
		return strings.Join(s, ", ")
	}

	for _, name := range []string{"example.test", "example.test.", "alias.example.test"} {
		got, err := r.LookupMX(t.Context(), name)
		// Sorted by preference, answer order kept within one
		// preference; the escaped name is left out.
		if want := "10 mx1.example.test., 20 mx2.example.test., 20 mx3.example.test."; err != nil || str(got) != want {
			t.Errorf("LookupMX(%q) = %q, %v; want %q", name, str(got), err, want)
		}
	}

	// RFC 7505 null MX comes back for the caller to see.
	got, err := r.LookupMX(t.Context(), "null.example.test")
	if err != nil || str(got) != "0 ." {
		t.Errorf("null MX: %q, %v", str(got), err)
	}

	_, err = r.LookupMX(t.Context(), "allbad.example.test")
	if de := dnsErr(t, err); de.IsNotFound || de.Err != "resolver: no usable mx host in dns answer" || de.Name != "allbad.example.test" {
		t.Errorf("only bad names: got %+v", de)
	}

	_, err = r.LookupMX(t.Context(), "none.example.test")
	if !errors.Is(err, resolver.ErrNXDOMAIN) || !dnsErr(t, err).IsNotFound {
		t.Errorf("no MX: got %v, want not found", err)
	}
}

func TestLookupBadName(t *testing.T) {
	r := &resolver.Stub{Servers: []string{"127.0.0.1:1"}} // never asked
	for _, name := range []string{
		"", ".", "a..b", ".a", "a b.test", "a\\.b.test", "ä.test", "a@b",
		strings.Repeat("a", 64) + ".test",
		strings.Repeat("a.", 127) + "ab",
	} {
		_, err := r.LookupTXT(t.Context(), name)
		if de := dnsErr(t, err); !de.IsNotFound || !errors.Is(err, domain.ErrInvalid) || de.Server != "" || de.Name != name {
			t.Errorf("LookupTXT(%q): got %+v, want an invalid-name error", name, de)
		}
		_, err = r.LookupNetIP(t.Context(), "ip", name)
		if de := dnsErr(t, err); !de.IsNotFound || !errors.Is(err, domain.ErrInvalid) || de.Server != "" {
			t.Errorf("LookupNetIP(%q): got %+v, want an invalid-name error", name, de)
		}
	}
}

func TestLookupNetIP(t *testing.T) {
	s := mtaststest.NewServer(t).
		A("both.example.test", "192.0.2.1").
		A("both.example.test", "2001:db8::1").
		A("both.example.test", "192.0.2.2").
		A("both.example.test", "2001:db8::2").
		A("v4.example.test", "192.0.2.4").
		A("v6.example.test", "2001:db8::6").
		CNAME("alias.example.test", "hop.example.test").
		CNAME("hop.example.test", "both.example.test").
		TXT("txt.example.test", "no addresses").
		CNAME("gone.example.test", "nx.example.test")
	// 1001 AAAA records: the AAAA query fails (ErrAnswerTooLarge, not an
	// absence); the A query of big6 succeeds, that of big6-only is NODATA.
	for i := range maxAnswerRRs + 1 {
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)}).String()
		s.A("big6.example.test", a).A("big6-only.example.test", a)
	}
	s.A("big6.example.test", "192.0.2.9")
	r := stub(s)
	addrs := func(ss ...string) []netip.Addr {
		out := []netip.Addr{}
		for _, a := range ss {
			out = append(out, netip.MustParseAddr(a))
		}
		return out
	}

	tests := []struct {
		network, host string
		want          []netip.Addr
		is            error // for a not-found error
	}{
		// Both families for "ip", IPv4 first, answer order kept.
		{"ip", "both.example.test", addrs("192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2"), nil},
		{"ip4", "both.example.test", addrs("192.0.2.1", "192.0.2.2"), nil},
		{"ip6", "both.example.test.", addrs("2001:db8::1", "2001:db8::2"), nil},
		{"ip", "BOTH.Example.Test", addrs("192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2"), nil},
		// CNAMEs are followed for each family.
		{"ip", "alias.example.test", addrs("192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2"), nil},
		{"ip6", "alias.example.test", addrs("2001:db8::1", "2001:db8::2"), nil},
		// One family only: "ip" is not an absence.
		{"ip", "v4.example.test", addrs("192.0.2.4"), nil},
		{"ip", "v6.example.test", addrs("2001:db8::6"), nil},
		{"ip6", "v4.example.test", nil, resolver.ErrNODATA},
		{"ip4", "v6.example.test", nil, resolver.ErrNODATA},
		// Absent in both.
		{"ip", "txt.example.test", nil, resolver.ErrNODATA},
		{"ip", "nx.example.test", nil, resolver.ErrNXDOMAIN},
		{"ip4", "nx.example.test", nil, resolver.ErrNXDOMAIN},
		{"ip", "gone.example.test", nil, resolver.ErrNXDOMAIN},
		// A failure of one family does not hide the other's addresses.
		{"ip", "big6.example.test", addrs("192.0.2.9"), nil},
		// IP literals, without a query.
		{"ip", "192.0.2.77", addrs("192.0.2.77"), nil},
		{"ip4", "::ffff:192.0.2.78", addrs("192.0.2.78"), nil},
		{"ip6", "2001:db8::77", addrs("2001:db8::77"), nil},
		{"ip", "fe80::1%eth0", addrs("fe80::1%eth0"), nil},
		{"ip6", "192.0.2.77", nil, resolver.ErrNODATA},
		{"ip4", "2001:db8::77", nil, resolver.ErrNODATA},
	}
	for _, tt := range tests {
		got, err := r.LookupNetIP(t.Context(), tt.network, tt.host)
		if tt.is != nil {
			de := dnsErr(t, err)
			if !de.IsNotFound || !errors.Is(err, tt.is) || de.Name != tt.host || got != nil {
				t.Errorf("LookupNetIP(%s, %s) = %v, %+v; want not found, %v", tt.network, tt.host, got, de, tt.is)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("LookupNetIP(%s, %s) = %v, %v; want %v", tt.network, tt.host, got, err, tt.want)
		}
		for _, a := range got {
			if a.Is4In6() {
				t.Errorf("LookupNetIP(%s, %s): %v is IPv4-mapped", tt.network, tt.host, a)
			}
		}
	}
	if n := s.Queries("192.0.2.77", "A"); n != 0 {
		t.Errorf("an IP literal was asked for %d times", n)
	}

	// "ip" with one family absent and the other failing is the failure,
	// not an absence.
	_, err := r.LookupNetIP(t.Context(), "ip6", "big6.example.test")
	if !errors.Is(err, resolver.ErrAnswerTooLarge) {
		t.Errorf("ip6 over the limit: %v, want ErrAnswerTooLarge", err)
	}
	_, err = r.LookupNetIP(t.Context(), "ip", "big6-only.example.test")
	if de := dnsErr(t, err); de.IsNotFound || !errors.Is(err, resolver.ErrAnswerTooLarge) {
		t.Errorf("ip, A NODATA and AAAA over the limit: %+v, want ErrAnswerTooLarge", de)
	}
	s.DNSFault("servfail.example.test", mtaststest.DNSServFail)
	_, err = r.LookupNetIP(t.Context(), "ip", "servfail.example.test")
	if de := dnsErr(t, err); de.IsNotFound || !de.IsTemporary || de.Err != "server misbehaving" {
		t.Errorf("ip, SERVFAIL: %+v", de)
	}

	// Networks other than those of net.Resolver.LookupNetIP.
	for _, network := range []string{"", "tcp", "udp4", "IP"} {
		_, err := r.LookupNetIP(t.Context(), network, "both.example.test")
		var une net.UnknownNetworkError
		if de := dnsErr(t, err); !errors.As(err, &une) || de.IsNotFound || string(une) != network {
			t.Errorf("network %q: %+v, want an unknown-network error", network, de)
		}
	}

	// A cancelled context stops both queries of "ip".
	s.DNSFault("slow.example.test", mtaststest.DNSTimeout)
	ctx, cancel := context.WithCancel(t.Context())
	s.OnQuery(func(name, rrtype string) {
		if name == "slow.example.test." {
			cancel()
		}
	})
	slow := &resolver.Stub{Servers: []string{s.DNSAddr()}, Timeout: time.Hour}
	if _, err := slow.LookupNetIP(ctx, "ip", "slow.example.test"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
}

func TestLookupNetIPMatchesNet(t *testing.T) {
	// net.Resolver.LookupNetIP, asked the same harness, finds the same
	// addresses (it may sort them, and it may return IPv4 addresses
	// IPv4-mapped).
	s := mtaststest.NewServer(t).
		A("both.example.test", "192.0.2.1").
		A("both.example.test", "2001:db8::1").
		CNAME("alias.example.test", "both.example.test")
	nr := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, s.DNSAddr())
	}}
	for _, network := range []string{"ip", "ip4", "ip6"} {
		for _, host := range []string{"both.example.test.", "alias.example.test."} {
			want, err := nr.LookupNetIP(t.Context(), network, host)
			if err != nil {
				t.Fatalf("net: %v", err)
			}
			for i := range want {
				want[i] = want[i].Unmap()
			}
			got, err := stub(s).LookupNetIP(t.Context(), network, host)
			slices.SortFunc(want, netip.Addr.Compare)
			slices.SortFunc(got, netip.Addr.Compare)
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("LookupNetIP(%s, %s) = %v, %v; net says %v", network, host, got, err, want)
			}
		}
	}
	// Both say "not found" for a name without addresses.
	_, nerr := nr.LookupNetIP(t.Context(), "ip", "nx.example.test.")
	_, err := stub(s).LookupNetIP(t.Context(), "ip", "nx.example.test.")
	if !dnsErr(t, nerr).IsNotFound || !dnsErr(t, err).IsNotFound {
		t.Errorf("nx: net %v, Stub %v", nerr, err)
	}
}

func BenchmarkLookupTXT(b *testing.B) {
	s := mtaststest.NewServer(b).TXT("_mta-sts.example.test", "v=STSv1; id=20240101")
	r := stub(s)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.LookupTXT(ctx, "_mta-sts.example.test"); err != nil {
			b.Fatal(err)
		}
	}
}
