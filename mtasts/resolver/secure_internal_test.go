package resolver

// In-package tests of the DNSSEC-aware reading (secure.go and the parts of
// answer.go it relies on), on hand-built messages, and of the query bits
// on a bare loopback server.

import (
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// ad sets the AD bit of a response.
func ad(m *dns.Msg) { m.AuthenticatedData = true }

// readSecure reads m as the one response to a DNSSEC-aware query for
// (qname, qtype), as LookupSecure does when the chain ends in m.
func readSecure(m *dns.Msg, qname string, qtype uint16, trusted bool) (reading, *Answer, error) {
	rd, derr := readAnswer(m, qname, qtype, []string{qname})
	res := newResult()
	res.target = qname
	res.fold(rd, derr)
	var err error
	if derr != nil {
		err = derr
	}
	ans, err := secureAnswer(qname, qname[:len(qname)-1], qtype, res, err, trusted, testNow)
	return rd, ans, err
}

func TestSecureAnswer(t *testing.T) {
	const qname = "mx.example.test."
	tests := []struct {
		name    string
		qtype   uint16
		m       *dns.Msg
		trusted bool
		sec     Security
		failed  string // FailureReason of a failure
		denial  error  // ErrNXDOMAIN or ErrNODATA
		target  string
		ttl     time.Duration
	}{
		// The AD bit, believed only from a trusted server.
		{name: "secure", qtype: dns.TypeA, trusted: true, sec: Secure, ttl: 300 * time.Second,
			m: reply(t, qname, dns.TypeA, ad, qname+" 300 IN A 192.0.2.1")},
		{name: "untrusted", qtype: dns.TypeA, sec: Insecure, ttl: 300 * time.Second,
			m: reply(t, qname, dns.TypeA, ad, qname+" 300 IN A 192.0.2.1")},
		{name: "insecure", qtype: dns.TypeA, trusted: true, sec: Insecure, ttl: 300 * time.Second,
			m: reply(t, qname, dns.TypeA, nil, qname+" 300 IN A 192.0.2.1")},
		// Denials keep their state and their negative TTL.
		{name: "secure NXDOMAIN", qtype: dns.TypeTLSA, trusted: true, sec: Secure, denial: ErrNXDOMAIN, ttl: 60 * time.Second,
			m: reply(t, qname, dns.TypeTLSA, func(m *dns.Msg) { ad(m); m.Rcode = dns.RcodeNameError; m.Ns = []dns.RR{soa(60, 600)} })},
		{name: "insecure NODATA", qtype: dns.TypeTLSA, trusted: true, sec: Insecure, denial: ErrNODATA, ttl: 30 * time.Second,
			m: reply(t, qname, dns.TypeTLSA, func(m *dns.Msg) { m.Ns = []dns.RR{soa(600, 30)} })},
		// An NXDOMAIN at the end of a chain in the answer names its end.
		{name: "NXDOMAIN after CNAME", qtype: dns.TypeA, trusted: true, sec: Secure, denial: ErrNXDOMAIN, target: "gone.example.test",
			m: reply(t, qname, dns.TypeA, func(m *dns.Msg) { ad(m); m.Rcode = dns.RcodeNameError }, qname+" 300 IN CNAME gone.example.test.")},
		// AD with a contradicting rcode: failed, whatever the bit says.
		{name: "AD NXDOMAIN with records", qtype: dns.TypeTLSA, trusted: true, failed: "malformed",
			m: reply(t, qname, dns.TypeTLSA, func(m *dns.Msg) { ad(m); m.Rcode = dns.RcodeNameError }, qname+" 300 IN TLSA 3 1 1 00")},
		{name: "AD SERVFAIL", qtype: dns.TypeTLSA, trusted: true, failed: "servfail",
			m: reply(t, qname, dns.TypeTLSA, func(m *dns.Msg) { ad(m); m.Rcode = dns.RcodeServerFailure }, qname+" 300 IN TLSA 3 1 1 00")},
		{name: "AD REFUSED", qtype: dns.TypeMX, trusted: true, failed: "refused",
			m: reply(t, qname, dns.TypeMX, func(m *dns.Msg) { ad(m); m.Rcode = dns.RcodeRefused })},
		{name: "AD YXDOMAIN", qtype: dns.TypeMX, trusted: true, failed: "servfail",
			m: reply(t, qname, dns.TypeMX, func(m *dns.Msg) { ad(m); m.Rcode = dns.RcodeYXDomain })},
		// EDE codes of a SERVFAIL.
		{name: "EDE", qtype: dns.TypeTLSA, trusted: true, failed: "dns-ede-6",
			m: reply(t, qname, dns.TypeTLSA, func(m *dns.Msg) {
				m.Rcode = dns.RcodeServerFailure
				m.SetEdns0(1232, true)
				opt := m.IsEdns0()
				opt.Option = append(opt.Option, &dns.EDNS0_EDE{InfoCode: 6, ExtraText: "bogus"}, &dns.EDNS0_EDE{InfoCode: 9})
			})},
		// Records none of which is usable, and a truncated answer.
		{name: "empty A", qtype: dns.TypeA, trusted: true, failed: "malformed",
			m: reply(t, qname, dns.TypeA, func(m *dns.Msg) {
				ad(m)
				m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: qname, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}}}
			})},
		{name: "bad TLSA hex", qtype: dns.TypeTLSA, trusted: true, failed: "malformed",
			m: reply(t, qname, dns.TypeTLSA, func(m *dns.Msg) {
				ad(m)
				m.Answer = []dns.RR{&dns.TLSA{Hdr: dns.RR_Header{Name: qname, Rrtype: dns.TypeTLSA, Class: dns.ClassINET, Ttl: 1}, Certificate: "zz"}}
			})},
		{name: "truncated", qtype: dns.TypeA, trusted: true, failed: "malformed",
			m: reply(t, qname, dns.TypeA, func(m *dns.Msg) { ad(m); m.Truncated = true })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ans, err := readSecure(tt.m, qname, tt.qtype, tt.trusted)
			if tt.failed != "" {
				if ans != nil || err == nil || FailureReason(err) != tt.failed {
					t.Fatalf("got %+v, %v (reason %q); want a failure, reason %q", ans, err, FailureReason(err), tt.failed)
				}
				return
			}
			if ans == nil {
				t.Fatalf("got nil, %v", err)
			}
			if tt.denial != nil && !errors.Is(err, tt.denial) || tt.denial == nil && err != nil {
				t.Errorf("error %v, want %v", err, tt.denial)
			}
			target := tt.target
			if target == "" {
				target = "mx.example.test"
			}
			if ans.Security != tt.sec || ans.Target != target || ans.TTL != tt.ttl && tt.ttl != 0 {
				t.Errorf("Security %v, Target %q, TTL %v; want %v, %q, %v", ans.Security, ans.Target, ans.TTL, tt.sec, target, tt.ttl)
			}
			if !ans.Expires.Equal(testNow.Add(ans.TTL)) {
				t.Errorf("Expires %v, want now + %v", ans.Expires, ans.TTL)
			}
		})
	}

	// TTLs beyond MaxCacheTTL are kept, but the answer expires sooner.
	m := reply(t, qname, dns.TypeA, ad, qname+" 2147483647 IN A 192.0.2.1")
	if _, ans, _ := readSecure(m, qname, dns.TypeA, true); ans.TTL != 2147483647*time.Second || !ans.Expires.Equal(testNow.Add(MaxCacheTTL)) {
		t.Errorf("huge TTL: TTL %v, Expires %v", ans.TTL, ans.Expires)
	}

	// EDE text is bounded.
	long := reply(t, qname, dns.TypeA, func(m *dns.Msg) {
		m.Rcode = dns.RcodeServerFailure
		m.SetEdns0(1232, true)
		m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_EDE{InfoCode: 0, ExtraText: string(make([]byte, 4000))}}
	})
	_, _, err := readSecure(long, qname, dns.TypeA, true)
	var ee *ExtendedError
	if !errors.As(err, &ee) || len(ee.Text) != maxEDEText {
		t.Errorf("long EDE text: %v", err)
	}
}

// FuzzSecureAnswer feeds arbitrary DNS messages, as the response to a
// DNSSEC-aware query of each type LookupSecure takes, through the answer
// reading and the security decision, from a trusted and an untrusted
// server: it must not panic; a failure has no answer and a reason; Secure
// needs the AD bit and trust; a denial has no records; records are of
// the type asked for.
func FuzzSecureAnswer(f *testing.F) {
	const qname = "_25._tcp.mx.example.test."
	seed := func(qtype uint16, edit func(m *dns.Msg), rrs ...string) {
		f.Add(packed(f, reply(f, qname, qtype, edit, rrs...)))
	}
	// Secure TLSA records, full and digest forms, one with no data.
	seed(dns.TypeTLSA, ad, qname+" 300 IN TLSA 3 1 1 "+
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", qname+" 60 IN TLSA 2 0 0 3003")
	f.Add(packed(f, reply(f, qname, dns.TypeTLSA, func(m *dns.Msg) {
		ad(m)
		m.Answer = []dns.RR{&dns.TLSA{Hdr: dns.RR_Header{Name: qname, Rrtype: dns.TypeTLSA, Class: dns.ClassINET, Ttl: 1}, Usage: 3}}
	})))
	// A TLSA owner that is a CNAME, in one answer and leaving it.
	seed(dns.TypeTLSA, ad, qname+" 300 IN CNAME _dane.example.test.", "_dane.example.test. 300 IN TLSA 3 1 1 00")
	seed(dns.TypeTLSA, ad, qname+" 300 IN CNAME _dane.example.test.")
	// Secure and insecure denials, one after a CNAME.
	seed(dns.TypeTLSA, func(m *dns.Msg) { ad(m); m.Rcode = dns.RcodeNameError; m.Ns = []dns.RR{soa(3600, 60)} })
	seed(dns.TypeTLSA, func(m *dns.Msg) { m.Ns = []dns.RR{soa(60, 60)} })
	seed(dns.TypeA, func(m *dns.Msg) { ad(m); m.Rcode = dns.RcodeNameError }, qname+" 300 IN CNAME gone.example.test.")
	// AD with contradicting rcodes.
	seed(dns.TypeTLSA, func(m *dns.Msg) { ad(m); m.Rcode = dns.RcodeNameError }, qname+" 300 IN TLSA 3 1 1 00")
	seed(dns.TypeMX, func(m *dns.Msg) { ad(m); m.Rcode = dns.RcodeRefused }, qname+" 300 IN MX 10 mx.example.test.")
	// SERVFAIL with an EDE option.
	seed(dns.TypeA, func(m *dns.Msg) {
		m.Rcode = dns.RcodeServerFailure
		m.SetEdns0(1232, true)
		m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_EDE{InfoCode: 6, ExtraText: "bogus"}}
	})
	// MX, AAAA and CNAME answers with the AD bit.
	seed(dns.TypeMX, ad, qname+" 300 IN MX 10 mx.example.test.", qname+" 300 IN MX 0 .")
	seed(dns.TypeAAAA, ad, qname+" 300 IN AAAA 2001:db8::1", qname+" 300 IN A 192.0.2.1")
	seed(dns.TypeCNAME, ad, qname+" 300 IN CNAME Target.Example.Test.")
	// A CNAME loop.
	seed(dns.TypeA, ad, qname+" 300 IN CNAME c.example.test.", "c.example.test. 300 IN CNAME "+qname)

	reasons := []string{"servfail", "refused", "timeout", "malformed"}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := new(dns.Msg)
		if err := m.Unpack(data); err != nil {
			return
		}
		for _, qtype := range []uint16{dns.TypeMX, dns.TypeA, dns.TypeAAAA, dns.TypeCNAME, dns.TypeTLSA} {
			for _, trusted := range []bool{false, true} {
				rd, ans, err := readSecure(m, qname, qtype, trusted)
				if rd.next != "" {
					continue // the lookup would ask again
				}
				var de *net.DNSError
				if !errors.As(err, &de) && err != nil {
					t.Fatalf("error %v (%T) is not a *net.DNSError", err, err)
				}
				reason := FailureReason(err)
				if ans == nil {
					if err == nil || de.IsNotFound {
						t.Fatalf("no answer with error %v", err)
					}
					if !slices.Contains(reasons, reason) && !(len(reason) > 8 && reason[:8] == "dns-ede-") {
						t.Fatalf("failure %v: reason %q", err, reason)
					}
					continue
				}
				if err != nil && !de.IsNotFound || reason != "" {
					t.Fatalf("answer %+v with error %v (reason %q)", ans, err, reason)
				}
				if ans.Security == Secure && (!trusted || !m.AuthenticatedData) {
					t.Fatalf("Secure from trusted %v, AD %v", trusted, m.AuthenticatedData)
				}
				if ans.Security == Insecure && trusted && m.AuthenticatedData {
					t.Fatalf("Insecure with AD from a trusted server")
				}
				if !ans.Expires.Equal(testNow.Add(min(ans.TTL, MaxCacheTTL))) || ans.TTL < 0 {
					t.Fatalf("TTL %v, Expires %v", ans.TTL, ans.Expires)
				}
				n := len(ans.MX) + len(ans.Addrs) + len(ans.TLSA)
				if ans.CNAME != "" {
					n++
				}
				if err != nil {
					if n != 0 {
						t.Fatalf("denial %v with records %+v", err, ans)
					}
					continue
				}
				if n == 0 || n > len(rd.rrs) {
					t.Fatalf("%d records from %d", n, len(rd.rrs))
				}
				switch qtype {
				case dns.TypeA, dns.TypeAAAA:
					for _, a := range ans.Addrs {
						if a.Is4() != (qtype == dns.TypeA) {
							t.Fatalf("address %v for %s", a, dns.TypeToString[qtype])
						}
					}
				case dns.TypeMX:
					if len(ans.MX) == 0 {
						t.Fatal("MX answer without MX")
					}
				case dns.TypeTLSA:
					if len(ans.TLSA) == 0 {
						t.Fatal("TLSA answer without TLSA")
					}
				case dns.TypeCNAME:
					if ans.CNAME == "" || ans.Target != ans.Name {
						t.Fatalf("CNAME %q, Target %q", ans.CNAME, ans.Target)
					}
				}
			}
		}
	})
}

// TestLookupSecureQueryBits checks the header bits of the queries each
// lookup sends, on a bare server that records them (the harness of
// mtaststest does not show them): LookupSecure sets RD, AD and DO, never
// CD; the other lookups keep their queries without DO.
func TestLookupSecureQueryBits(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	type bits struct{ rd, ad, cd, do bool }
	got := make(chan bits, 16)
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		opt := q.IsEdns0()
		got <- bits{q.RecursionDesired, q.AuthenticatedData, q.CheckingDisabled, opt != nil && opt.Do()}
		m := new(dns.Msg).SetReply(q)
		m.Rcode = dns.RcodeNameError
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })

	r := &Stub{Servers: []string{pc.LocalAddr().String()}, Timeout: time.Second}
	for _, qtype := range []uint16{TypeMX, TypeA, TypeAAAA, TypeCNAME, TypeTLSA} {
		r.LookupSecure(t.Context(), "bits.example.test", qtype)
		if b := <-got; b != (bits{rd: true, ad: true, do: true}) {
			t.Errorf("LookupSecure %s: query bits %+v", dns.TypeToString[qtype], b)
		}
	}
	r.LookupTXT(t.Context(), "bits.example.test")
	if b := <-got; b != (bits{rd: true, ad: true}) {
		t.Errorf("LookupTXT: query bits %+v", b)
	}
}
