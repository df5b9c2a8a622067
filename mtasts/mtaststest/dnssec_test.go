package mtaststest_test

// Tests of the DNSSEC switches on the wire: the header bits and options of
// raw miekg/dns answers, as a validating stub resolver reads them.

import (
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/strictmx/strictmx/mtasts/mtaststest"
)

// qbits are the DNSSEC bits of a query.
type qbits struct {
	ad, do, cd bool
	noEDNS     bool
}

func (b qbits) String() string {
	s := ""
	for _, f := range []struct {
		on   bool
		name string
	}{{b.ad, "AD"}, {b.do, "DO"}, {b.cd, "CD"}, {b.noEDNS, "noEDNS"}} {
		if f.on {
			s += f.name + " "
		}
	}
	if s == "" {
		return "no bits"
	}
	return s[:len(s)-1]
}

// query asks s for (name, qtype) over UDP with the given bits.
func query(t *testing.T, s *mtaststest.Server, name string, qtype uint16, b qbits) *dns.Msg {
	t.Helper()
	q := new(dns.Msg).SetQuestion(dns.Fqdn(name), qtype)
	q.AuthenticatedData = b.ad
	q.CheckingDisabled = b.cd
	if !b.noEDNS {
		q.SetEdns0(4096, b.do)
	}
	c := &dns.Client{Timeout: 2 * time.Second}
	resp, _, err := c.ExchangeContext(t.Context(), q, s.DNSAddr())
	if err != nil {
		t.Fatalf("query %s %s (%v): %v", name, dns.TypeToString[qtype], b, err)
	}
	return resp
}

// secure is how a validating stub resolver asks: AD and DO, never CD.
var secure = qbits{ad: true, do: true}

func TestSignedAD(t *testing.T) {
	s := mtaststest.NewServer(t)
	s.A("mx.example.test", "127.0.0.1").
		A("host.sub.example.test", "127.0.0.1").
		A("host.signed.sub.example.test", "127.0.0.1").
		A("other.test", "127.0.0.1")

	// Nothing marked: no AD anywhere, as before DNSSEC came in.
	if resp := query(t, s, "mx.example.test", dns.TypeA, secure); resp.AuthenticatedData || len(resp.Answer) != 1 {
		t.Errorf("nothing signed: AD=%v, %d answers; want AD=0 and the record", resp.AuthenticatedData, len(resp.Answer))
	}

	s.Signed("example.test").Unsigned("sub.example.test").Signed("signed.sub.example.test")

	// The query bits: AD or DO asks for the AD bit; CD or neither never
	// gets it.
	for _, tc := range []struct {
		b    qbits
		want bool
	}{
		{qbits{ad: true, do: true}, true},
		{qbits{ad: true}, true},
		{qbits{ad: true, noEDNS: true}, true},
		{qbits{do: true}, true},
		{qbits{}, false},
		{qbits{noEDNS: true}, false},
		{qbits{ad: true, do: true, cd: true}, false},
		{qbits{do: true, cd: true}, false},
	} {
		resp := query(t, s, "mx.example.test", dns.TypeA, tc.b)
		if resp.AuthenticatedData != tc.want || resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
			t.Errorf("signed record, query %v: AD=%v rcode %s, %d answers; want AD=%v and the record",
				tc.b, resp.AuthenticatedData, dns.RcodeToString[resp.Rcode], len(resp.Answer), tc.want)
		}
		if resp.CheckingDisabled != tc.b.cd {
			t.Errorf("query %v: CD=%v in the reply; want it copied", tc.b, resp.CheckingDisabled)
		}
	}

	// Which names are signed: the nearest mark wins.
	for _, tc := range []struct {
		name  string
		qtype uint16
		rcode int
		want  bool
	}{
		// Records.
		{"mx.example.test", dns.TypeA, dns.RcodeSuccess, true},
		{"MX.Example.Test", dns.TypeA, dns.RcodeSuccess, true},
		{"host.sub.example.test", dns.TypeA, dns.RcodeSuccess, false},
		{"host.signed.sub.example.test", dns.TypeA, dns.RcodeSuccess, true},
		{"other.test", dns.TypeA, dns.RcodeSuccess, false},
		// Denials: NODATA and NXDOMAIN are signed or not like records.
		{"mx.example.test", dns.TypeAAAA, dns.RcodeSuccess, true},
		{"nothing.example.test", dns.TypeA, dns.RcodeNameError, true},
		{"_25._tcp.mx.example.test", dns.TypeTLSA, dns.RcodeNameError, true},
		{"nothing.sub.example.test", dns.TypeA, dns.RcodeNameError, false},
		{"nothing.signed.sub.example.test", dns.TypeTLSA, dns.RcodeNameError, true},
		{"nothing.other.test", dns.TypeA, dns.RcodeNameError, false},
	} {
		resp := query(t, s, tc.name, tc.qtype, secure)
		if resp.AuthenticatedData != tc.want || resp.Rcode != tc.rcode {
			t.Errorf("%s %s: AD=%v rcode %s; want AD=%v rcode %s", tc.name, dns.TypeToString[tc.qtype],
				resp.AuthenticatedData, dns.RcodeToString[resp.Rcode], tc.want, dns.RcodeToString[tc.rcode])
		}
		if got := s.IsSigned(tc.name); got != tc.want {
			t.Errorf("IsSigned(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}

	// The DO bit comes back in the OPT record; AD-only queries without
	// EDNS0 get no OPT record.
	if opt := query(t, s, "mx.example.test", dns.TypeA, qbits{do: true}).IsEdns0(); opt == nil || !opt.Do() {
		t.Errorf("DO query: reply OPT %v, want one with DO", opt)
	}
	if opt := query(t, s, "mx.example.test", dns.TypeA, qbits{}).IsEdns0(); opt == nil || opt.Do() {
		t.Errorf("EDNS0 query without DO: reply OPT %v, want one without DO", opt)
	}
	if opt := query(t, s, "mx.example.test", dns.TypeA, qbits{ad: true, noEDNS: true}).IsEdns0(); opt != nil {
		t.Errorf("query without EDNS0: reply OPT %v, want none", opt)
	}

	// Signed(".") signs everything; a mark can be changed.
	s.Signed(".")
	if resp := query(t, s, "other.test", dns.TypeA, secure); !resp.AuthenticatedData {
		t.Error(`Signed("."): other.test answered without AD`)
	}
	s.Unsigned("example.test")
	if resp := query(t, s, "mx.example.test", dns.TypeA, secure); resp.AuthenticatedData {
		t.Error("Unsigned after Signed: still AD")
	}
}

func TestSignedCNAME(t *testing.T) {
	s := mtaststest.NewServer(t)
	s.Signed("signed.test").Signed("also.test")
	s.CNAME("in.signed.test", "mx.also.test").A("mx.also.test", "127.0.0.1")
	s.CNAME("out.signed.test", "mx.plain.test").A("mx.plain.test", "127.0.0.1")
	s.CNAME("alias.plain.test", "mx.also.test")
	s.CNAME("dangling.signed.test", "gone.plain.test")
	s.CNAME("long.signed.test", "in.signed.test")

	for _, tc := range []struct {
		name    string
		answers int
		want    bool
	}{
		{"in.signed.test", 2, true},    // signed all the way
		{"long.signed.test", 3, true},  // two links, all signed
		{"out.signed.test", 2, false},  // into an unsigned zone
		{"alias.plain.test", 2, false}, // from an unsigned zone
		{"dangling.signed.test", 1, false},
	} {
		resp := query(t, s, tc.name, dns.TypeA, secure)
		if resp.AuthenticatedData != tc.want || len(resp.Answer) != tc.answers {
			t.Errorf("%s A: AD=%v, %d answers; want AD=%v, %d", tc.name, resp.AuthenticatedData, len(resp.Answer), tc.want, tc.answers)
		}
	}
	// A query for the CNAME itself is the one link's own state.
	if resp := query(t, s, "out.signed.test", dns.TypeCNAME, secure); !resp.AuthenticatedData || len(resp.Answer) != 1 {
		t.Errorf("out.signed.test CNAME: AD=%v, %d answers; want AD=1 and the CNAME", resp.AuthenticatedData, len(resp.Answer))
	}
	// One link per query: each answer is its owner's.
	s.CNAMEMode(mtaststest.CNAMEOneLink)
	if resp := query(t, s, "out.signed.test", dns.TypeA, secure); !resp.AuthenticatedData || len(resp.Answer) != 1 {
		t.Errorf("one link, out.signed.test A: AD=%v, %d answers; want AD=1 and the CNAME", resp.AuthenticatedData, len(resp.Answer))
	}
	// A loop is SERVFAIL without AD.
	s.CNAMEMode(mtaststest.CNAMEChain).CNAME("loop1.signed.test", "loop2.signed.test").CNAME("loop2.signed.test", "loop1.signed.test")
	if resp := query(t, s, "loop1.signed.test", dns.TypeA, secure); resp.Rcode != dns.RcodeServerFailure || resp.AuthenticatedData {
		t.Errorf("loop: rcode %s AD=%v; want SERVFAIL without AD", dns.RcodeToString[resp.Rcode], resp.AuthenticatedData)
	}
}

// edeCodes returns the EDE INFO-CODEs of m's OPT record.
func edeCodes(m *dns.Msg) []uint16 {
	var out []uint16
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				out = append(out, e.InfoCode)
			}
		}
	}
	return out
}

func TestBogus(t *testing.T) {
	s := mtaststest.NewServer(t)
	s.Signed("example.test")
	tlsa := "_25._tcp.mx.example.test"
	s.A("mx.example.test", "127.0.0.1").A("mx.example.test", "::1").
		TLSA(tlsa, 3, 1, 1, make([]byte, 32)).
		CNAME("alias.example.test", "mx.example.test")

	s.Bogus(tlsa)
	resp := query(t, s, tlsa, dns.TypeTLSA, secure)
	if resp.Rcode != dns.RcodeServerFailure || resp.AuthenticatedData || len(resp.Answer) != 0 || len(resp.Ns) != 0 {
		t.Errorf("bogus TLSA: rcode %s AD=%v, %d answers, %d authority; want SERVFAIL, AD=0, nothing",
			dns.RcodeToString[resp.Rcode], resp.AuthenticatedData, len(resp.Answer), len(resp.Ns))
	}
	if codes := edeCodes(resp); len(codes) != 0 {
		t.Errorf("Bogus without EDE: EDE codes %v", codes)
	}
	// Every type of the name, also when it has no such records.
	if resp := query(t, s, tlsa, dns.TypeTXT, secure); resp.Rcode != dns.RcodeServerFailure {
		t.Errorf("bogus name, TXT: rcode %s", dns.RcodeToString[resp.Rcode])
	}
	// CD=1: the data comes, unvalidated, without AD.
	resp = query(t, s, tlsa, dns.TypeTLSA, qbits{ad: true, do: true, cd: true})
	if resp.Rcode != dns.RcodeSuccess || resp.AuthenticatedData || len(resp.Answer) != 1 {
		t.Errorf("bogus TLSA with CD: rcode %s AD=%v, %d answers; want the record without AD",
			dns.RcodeToString[resp.Rcode], resp.AuthenticatedData, len(resp.Answer))
	}

	// With an EDE code, for EDNS0 queries only.
	s.BogusEDE(tlsa, dns.ExtendedErrorCodeDNSBogus)
	resp = query(t, s, tlsa, dns.TypeTLSA, secure)
	if codes := edeCodes(resp); resp.Rcode != dns.RcodeServerFailure || len(codes) != 1 || codes[0] != 6 {
		t.Errorf("BogusEDE 6: rcode %s, EDE codes %v; want SERVFAIL with [6]", dns.RcodeToString[resp.Rcode], codes)
	}
	resp = query(t, s, tlsa, dns.TypeTLSA, qbits{ad: true, noEDNS: true})
	if resp.Rcode != dns.RcodeServerFailure || resp.IsEdns0() != nil {
		t.Errorf("BogusEDE, query without EDNS0: rcode %s, OPT %v; want SERVFAIL, no OPT", dns.RcodeToString[resp.Rcode], resp.IsEdns0())
	}
	// Over TCP too.
	if resp := exchange(t, s, "tcp", tlsa, dns.TypeTLSA); resp.Rcode != dns.RcodeServerFailure || len(edeCodes(resp)) != 1 {
		t.Errorf("BogusEDE over TCP: rcode %s, EDE %v", dns.RcodeToString[resp.Rcode], edeCodes(resp))
	}

	// DNSNormal undoes it.
	s.DNSFault(tlsa, mtaststest.DNSNormal)
	if resp := query(t, s, tlsa, dns.TypeTLSA, secure); resp.Rcode != dns.RcodeSuccess || !resp.AuthenticatedData {
		t.Errorf("after DNSNormal: rcode %s AD=%v", dns.RcodeToString[resp.Rcode], resp.AuthenticatedData)
	}

	// One type only: a broken AAAA beside a good A.
	s.Bogus("mx.example.test", dns.TypeAAAA)
	if resp := query(t, s, "mx.example.test", dns.TypeAAAA, secure); resp.Rcode != dns.RcodeServerFailure {
		t.Errorf("bogus AAAA: rcode %s", dns.RcodeToString[resp.Rcode])
	}
	if resp := query(t, s, "mx.example.test", dns.TypeA, secure); resp.Rcode != dns.RcodeSuccess || !resp.AuthenticatedData {
		t.Errorf("A beside a bogus AAAA: rcode %s AD=%v; want a secure answer", dns.RcodeToString[resp.Rcode], resp.AuthenticatedData)
	}
	// A chain through a bogus name fails as a whole.
	if resp := query(t, s, "alias.example.test", dns.TypeAAAA, secure); resp.Rcode != dns.RcodeServerFailure || len(resp.Answer) != 0 {
		t.Errorf("CNAME to a bogus AAAA: rcode %s, %d answers", dns.RcodeToString[resp.Rcode], len(resp.Answer))
	}
	if resp := query(t, s, "alias.example.test", dns.TypeA, secure); resp.Rcode != dns.RcodeSuccess || !resp.AuthenticatedData {
		t.Errorf("CNAME to a good A: rcode %s AD=%v", dns.RcodeToString[resp.Rcode], resp.AuthenticatedData)
	}
	// A bogus CNAME fails the chains through it, not the CNAME's target.
	s.DNSFault("mx.example.test", mtaststest.DNSNormal).Bogus("alias.example.test", dns.TypeCNAME)
	if resp := query(t, s, "alias.example.test", dns.TypeA, secure); resp.Rcode != dns.RcodeServerFailure {
		t.Errorf("bogus CNAME, A query: rcode %s", dns.RcodeToString[resp.Rcode])
	}
	if resp := query(t, s, "mx.example.test", dns.TypeA, secure); resp.Rcode != dns.RcodeSuccess {
		t.Errorf("target of a bogus CNAME: rcode %s", dns.RcodeToString[resp.Rcode])
	}

	// A DNSFault takes precedence.
	s.Bogus(tlsa).DNSFault(tlsa, mtaststest.DNSRefused)
	if resp := query(t, s, tlsa, dns.TypeTLSA, secure); resp.Rcode != dns.RcodeRefused {
		t.Errorf("Bogus and DNSRefused: rcode %s", dns.RcodeToString[resp.Rcode])
	}

	// Bogus counts its queries like any other.
	s.DNSFault(tlsa, mtaststest.DNSNormal).Bogus(tlsa).ResetCounters()
	query(t, s, tlsa, dns.TypeTLSA, secure)
	query(t, s, tlsa, dns.TypeTLSA, secure)
	if n, total := s.Queries(tlsa, "TLSA"), s.TotalQueries(); n != 2 || total != 2 {
		t.Errorf("Queries(%s, TLSA) = %d, TotalQueries = %d; want 2, 2", tlsa, n, total)
	}
}

func TestADWithRcode(t *testing.T) {
	s := mtaststest.NewServer(t)
	name := "_25._tcp.mx.example.test"
	s.TLSA(name, 3, 1, 1, make([]byte, 32))

	for _, rc := range []int{dns.RcodeRefused, dns.RcodeFormatError, dns.RcodeServerFailure, dns.RcodeNotImplemented} {
		s.ADWithRcode(name, rc)
		// Whatever the query asked: AD is the hostile part.
		for _, b := range []qbits{secure, {}, {cd: true, do: true}} {
			resp := query(t, s, name, dns.TypeTLSA, b)
			if resp.Rcode != rc || !resp.AuthenticatedData || len(resp.Answer) != 0 || len(resp.Ns) != 0 {
				t.Errorf("ADWithRcode %s, query %v: rcode %s AD=%v, %d answers; want %[1]s with AD, nothing else",
					dns.RcodeToString[rc], b, dns.RcodeToString[resp.Rcode], resp.AuthenticatedData, len(resp.Answer))
			}
		}
	}
	// DNSRcode replaces it, without AD; ADWithRcode replaces a fault.
	s.DNSRcode(name, dns.RcodeRefused)
	if resp := query(t, s, name, dns.TypeTLSA, secure); resp.Rcode != dns.RcodeRefused || resp.AuthenticatedData {
		t.Errorf("DNSRcode after ADWithRcode: rcode %s AD=%v; want REFUSED without AD", dns.RcodeToString[resp.Rcode], resp.AuthenticatedData)
	}
	s.DNSFault(name, mtaststest.DNSServFail).ADWithRcode(name, dns.RcodeFormatError)
	if resp := query(t, s, name, dns.TypeTLSA, secure); resp.Rcode != dns.RcodeFormatError || !resp.AuthenticatedData {
		t.Errorf("ADWithRcode after DNSFault: rcode %s AD=%v", dns.RcodeToString[resp.Rcode], resp.AuthenticatedData)
	}
	s.DNSFault(name, mtaststest.DNSNormal)
	if resp := query(t, s, name, dns.TypeTLSA, secure); resp.Rcode != dns.RcodeSuccess || resp.AuthenticatedData || len(resp.Answer) != 1 {
		t.Errorf("after DNSNormal: rcode %s AD=%v, %d answers; want the unsigned record", dns.RcodeToString[resp.Rcode], resp.AuthenticatedData, len(resp.Answer))
	}

	// Out-of-range codes are setup mistakes.
	func() {
		s := mtaststest.NewServer(nil)
		defer s.Close()
		defer func() {
			if recover() == nil {
				t.Error("ADWithRcode(16) did not fail the setup")
			}
		}()
		s.ADWithRcode(name, 16)
	}()
}
