package resolver_test

import (
	"context"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/strictmx/strictmx/internal/unboundtest"
	"github.com/strictmx/strictmx/mtasts/resolver"
)

// The three DNSSEC states as a real validating resolver, Debian's unbound,
// gives them (skipped unless STRICTMX_TEST_UNBOUND=1): the tree of
// internal/unboundtest, signed for the test, with records added here.
func TestLookupSecureUnbound(t *testing.T) {
	digest := strings.Repeat("5a", 32)
	srv := unboundtest.New(t,
		unboundtest.Zone{Name: unboundtest.Signed, Records: append(unboundtest.DANEMX("dane.test.", "mx.dane.test.", 25, digest),
			// A CNAME within signed zones, and one into the unsigned zone.
			"alias.dane.test. CNAME "+unboundtest.ChildName,
			"out.dane.test. CNAME "+unboundtest.InsecureName,
			// A CNAME to a bogus name, and a bogus TLSA record.
			"tobogus.dane.test. CNAME "+unboundtest.BogusName,
			"badtlsa.dane.test. A 127.0.0.1",
			unboundtest.TLSA("badtlsa.dane.test.", 25, 3, 1, 1, digest),
		), Bogus: []string{"_25._tcp.badtlsa"}},
		unboundtest.Zone{Name: unboundtest.Unsigned, Records: []string{
			"mx A 127.0.0.1",
			unboundtest.TLSA("mx."+unboundtest.Unsigned, 25, 3, 1, 1, digest),
		}},
	)
	r := &resolver.Stub{Servers: []string{srv.Addr()}}
	if !r.Trusted() {
		t.Fatalf("a Stub on %s (loopback) is not trusted", srv.Addr())
	}
	data, _ := hex.DecodeString(digest)
	addr := func(s string) []netip.Addr { return []netip.Addr{netip.MustParseAddr(s)} }
	trim := func(s string) string { return strings.TrimSuffix(s, ".") }

	for _, c := range []struct {
		name     string
		qtype    uint16
		security resolver.Security
		notFound error // ErrNXDOMAIN or ErrNODATA for a denial
		target   string
		check    func(*resolver.Answer) bool // the records; nil for a denial
	}{
		// Secure: records and denials from signed zones, at the top of
		// the chain of trust and below a DS record.
		{unboundtest.SecureName, dns.TypeA, resolver.Secure, nil, unboundtest.SecureName,
			func(a *resolver.Answer) bool { return slices.Equal(a.Addrs, addr(unboundtest.SecureAddr)) }},
		{unboundtest.ChildName, dns.TypeA, resolver.Secure, nil, unboundtest.ChildName,
			func(a *resolver.Answer) bool { return slices.Equal(a.Addrs, addr(unboundtest.ChildAddr)) }},
		{"dane.test", dns.TypeMX, resolver.Secure, nil, "dane.test",
			func(a *resolver.Answer) bool { return len(a.MX) == 1 && a.MX[0].Host == "mx.dane.test." }},
		{"_25._tcp.mx.dane.test", dns.TypeTLSA, resolver.Secure, nil, "_25._tcp.mx.dane.test",
			func(a *resolver.Answer) bool {
				return slices.EqualFunc(a.TLSA, []resolver.TLSA{{Usage: 3, Selector: 1, MatchingType: 1, Data: data}},
					func(x, y resolver.TLSA) bool {
						return x.Usage == y.Usage && x.Selector == y.Selector && x.MatchingType == y.MatchingType && slices.Equal(x.Data, y.Data)
					})
			}},
		{"nothing.dane.test", dns.TypeA, resolver.Secure, resolver.ErrNXDOMAIN, "nothing.dane.test", nil},
		{"nothing." + unboundtest.Child, dns.TypeTLSA, resolver.Secure, resolver.ErrNXDOMAIN, "nothing." + unboundtest.Child, nil},
		{unboundtest.SecureName, dns.TypeAAAA, resolver.Secure, resolver.ErrNODATA, unboundtest.SecureName, nil},
		{"_25._tcp." + unboundtest.SecureName, dns.TypeTLSA, resolver.Secure, resolver.ErrNXDOMAIN, "_25._tcp." + unboundtest.SecureName, nil},
		// A CNAME chain is secure when every link and the end are.
		{"alias.dane.test", dns.TypeA, resolver.Secure, nil, unboundtest.ChildName,
			func(a *resolver.Answer) bool { return slices.Equal(a.Addrs, addr(unboundtest.ChildAddr)) }},

		// Insecure: the unsigned zone, delegated without a DS record;
		// records and denials alike.
		{unboundtest.InsecureName, dns.TypeA, resolver.Insecure, nil, unboundtest.InsecureName,
			func(a *resolver.Answer) bool { return slices.Equal(a.Addrs, addr(unboundtest.InsecureAddr)) }},
		{"_25._tcp.mx." + unboundtest.Unsigned, dns.TypeTLSA, resolver.Insecure, nil, "_25._tcp.mx." + unboundtest.Unsigned,
			func(a *resolver.Answer) bool { return len(a.TLSA) == 1 }},
		{"nothing." + unboundtest.Unsigned, dns.TypeA, resolver.Insecure, resolver.ErrNXDOMAIN, "nothing." + unboundtest.Unsigned, nil},
		// A signed CNAME into the unsigned zone: the answer is insecure
		// (the AD bit covers every RRset of it), the link itself secure.
		{"out.dane.test", dns.TypeA, resolver.Insecure, nil, unboundtest.InsecureName,
			func(a *resolver.Answer) bool { return slices.Equal(a.Addrs, addr(unboundtest.InsecureAddr)) }},
		{"out.dane.test", dns.TypeCNAME, resolver.Secure, nil, "out.dane.test",
			func(a *resolver.Answer) bool { return a.CNAME == trim(unboundtest.InsecureName) }},
	} {
		ans, err := r.LookupSecure(t.Context(), c.name, c.qtype)
		what := c.name + " " + dns.TypeToString[c.qtype]
		if c.notFound != nil {
			var de *net.DNSError
			if !errors.As(err, &de) || !de.IsNotFound || !errors.Is(err, c.notFound) {
				t.Errorf("%s: error %v, want a denial (%v)%s", what, err, c.notFound, srv.Log())
				continue
			}
		} else if err != nil {
			t.Errorf("%s: %v%s", what, err, srv.Log())
			continue
		}
		if ans == nil {
			t.Errorf("%s: no answer", what)
			continue
		}
		if ans.Security != c.security {
			t.Errorf("%s: %v, want %v%s", what, ans.Security, c.security, srv.Log())
		}
		if ans.Name != trim(c.name) || ans.Target != trim(c.target) {
			t.Errorf("%s: name %q, target %q; want %q, %q", what, ans.Name, ans.Target, trim(c.name), trim(c.target))
		}
		if c.check != nil && !c.check(ans) {
			t.Errorf("%s: records %+v", what, ans)
		}
		if c.check == nil && (len(ans.Addrs) > 0 || len(ans.MX) > 0 || len(ans.TLSA) > 0 || ans.CNAME != "") {
			t.Errorf("%s: a denial with records %+v", what, ans)
		}
		if ans.TTL <= 0 || ans.TTL > unboundtest.TTL*time.Second {
			t.Errorf("%s: TTL %v, want (0, %ds]", what, ans.TTL, unboundtest.TTL)
		}
	}

	// Failed: broken signatures, directly, at the end of a CNAME, and on
	// a TLSA RRset. unbound answers SERVFAIL with EDE 6, DNSSEC Bogus.
	for _, c := range []struct {
		name  string
		qtype uint16
	}{
		{unboundtest.BogusName, dns.TypeA},
		{"tobogus.dane.test", dns.TypeA},
		{"_25._tcp.badtlsa.dane.test", dns.TypeTLSA},
	} {
		what := c.name + " " + dns.TypeToString[c.qtype]
		ans, err := r.LookupSecure(t.Context(), c.name, c.qtype)
		if err == nil || ans != nil {
			t.Errorf("%s: %+v, %v; want the failed state", what, ans, err)
			continue
		}
		var de *net.DNSError
		if !errors.As(err, &de) || de.IsNotFound {
			t.Errorf("%s: error %v is not a failure", what, err)
		}
		var ede *resolver.ExtendedError
		if !errors.As(err, &ede) || ede.Code != dns.ExtendedErrorCodeDNSBogus {
			t.Errorf("%s: error %v carries no EDE %d", what, err, dns.ExtendedErrorCodeDNSBogus)
		}
		if got, want := resolver.FailureReason(err), "dns-ede-6"; got != want {
			t.Errorf("%s: FailureReason %q, want %q", what, got, want)
		}
		// Failures are not cached: the next lookup asks again and fails
		// again.
		if ans, err := r.LookupSecure(t.Context(), c.name, c.qtype); err == nil || ans != nil {
			t.Errorf("%s again: %+v, %v; want the failed state", what, ans, err)
		}
	}
}

// Why LookupSecure never sets CD: with checking disabled a validating
// resolver hands out bogus data as it is, without the AD bit, where a
// query without CD gets SERVFAIL. The data would pass for an insecure
// answer.
func TestCheckingDisabledUnbound(t *testing.T) {
	srv := unboundtest.New(t)
	ask := func(cd bool) *dns.Msg {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(unboundtest.BogusName, dns.TypeA)
		m.SetEdns0(dns.DefaultMsgSize, true)
		m.AuthenticatedData = true
		m.CheckingDisabled = cd
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		resp, _, err := (&dns.Client{}).ExchangeContext(ctx, m, srv.Addr())
		if err != nil {
			t.Fatalf("CD=%v: %v", cd, err)
		}
		return resp
	}
	if resp := ask(false); resp.Rcode != dns.RcodeServerFailure {
		t.Errorf("CD=0: rcode %s, want SERVFAIL", dns.RcodeToString[resp.Rcode])
	}
	resp := ask(true)
	if resp.Rcode != dns.RcodeSuccess || resp.AuthenticatedData {
		t.Fatalf("CD=1: rcode %s, AD %v; want NOERROR without AD", dns.RcodeToString[resp.Rcode], resp.AuthenticatedData)
	}
	var got []string
	for _, rr := range resp.Answer {
		if a, ok := rr.(*dns.A); ok {
			got = append(got, a.A.String())
		}
	}
	if !slices.Equal(got, []string{unboundtest.BogusAddr}) {
		t.Errorf("CD=1: addresses %q, want the bogus %s", got, unboundtest.BogusAddr)
	}
	// The library, asking the same server, sees the failure.
	r := &resolver.Stub{Servers: []string{srv.Addr()}}
	if ans, err := r.LookupSecure(t.Context(), unboundtest.BogusName, dns.TypeA); err == nil {
		t.Errorf("LookupSecure(%s) = %+v, want the failed state", unboundtest.BogusName, ans)
	}
}
