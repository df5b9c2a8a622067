package resolver

// In-package tests of the pure answer reading (answer.go), on hand-built
// messages and with no server. Everything that needs a server is tested
// from package resolver_test against mtaststest.

import (
	"errors"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// reply returns a response to a query for (qname, qtype) holding the
// records rrs, written in zone-file syntax, after edit (if not nil).
func reply(tb testing.TB, qname string, qtype uint16, edit func(m *dns.Msg), rrs ...string) *dns.Msg {
	tb.Helper()
	m := new(dns.Msg).SetReply(new(dns.Msg).SetQuestion(qname, qtype))
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			tb.Fatalf("bad test record %q: %v", s, err)
		}
		m.Answer = append(m.Answer, rr)
	}
	if edit != nil {
		edit(m)
	}
	return m
}

func soa(ttl, minimum uint32) dns.RR {
	return &dns.SOA{
		Hdr: dns.RR_Header{Name: "example.test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:  "ns.example.test.", Mbox: "hostmaster.example.test.", Serial: 1, Minttl: minimum,
	}
}

func TestReadAnswer(t *testing.T) {
	const qname = "a.example.test."
	chain := []string{qname}
	tests := []struct {
		name string
		m    *dns.Msg
		// Exactly one of these is set.
		want     []string // the records found, in zone-file syntax
		next     string   // the name to ask next
		errIs    error    // errors.Is target, for NXDOMAIN, NODATA, loops, size
		errText  string   // Err, for the others
		ttl      uint32
		auth     bool
		notFound bool
	}{
		// Records.
		{
			name: "records",
			m:    reply(t, qname, dns.TypeTXT, nil, qname+` 300 IN TXT "x"`, `other.example.test. 30 IN TXT "y"`, qname+` 200 IN TXT "z"`),
			want: []string{qname + "\t300\tIN\tTXT\t\"x\"", qname + "\t200\tIN\tTXT\t\"z\""},
			// The least TTL of the whole answer section, unrelated
			// records included.
			ttl: 30,
		},
		{
			name: "case of owner name",
			m:    reply(t, qname, dns.TypeTXT, nil, `A.Example.TEST. 300 IN TXT "x"`),
			want: []string{"A.Example.TEST.\t300\tIN\tTXT\t\"x\""},
			ttl:  300,
		},
		{
			name: "AD bit carried",
			m:    reply(t, qname, dns.TypeA, func(m *dns.Msg) { m.AuthenticatedData = true }, qname+` 60 IN A 192.0.2.1`),
			want: []string{qname + "\t60\tIN\tA\t192.0.2.1"},
			ttl:  60, auth: true,
		},
		{
			name: "CNAME chain in the answer",
			m:    reply(t, qname, dns.TypeA, nil, qname+` 60 IN CNAME B.example.test.`, `b.example.test. 300 IN A 192.0.2.1`),
			want: []string{"b.example.test.\t300\tIN\tA\t192.0.2.1"},
			ttl:  60,
		},
		{
			name: "CNAME chain leaving the answer",
			m:    reply(t, qname, dns.TypeA, func(m *dns.Msg) { m.AuthenticatedData = true }, qname+` 60 IN CNAME B.example.test.`),
			next: "b.example.test.", ttl: 60, auth: true,
		},

		// Absence (RFC 2308, Section 2), with the negative TTL of
		// Section 5: the lesser of the SOA's TTL and MINIMUM.
		{
			name:  "NXDOMAIN",
			m:     reply(t, qname, dns.TypeTXT, func(m *dns.Msg) { m.Rcode = dns.RcodeNameError; m.Ns = []dns.RR{soa(3600, 120)} }),
			errIs: ErrNXDOMAIN, notFound: true, ttl: 120,
		},
		{
			name: "NXDOMAIN at the end of a chain",
			m: reply(t, qname, dns.TypeTXT, func(m *dns.Msg) { m.Rcode = dns.RcodeNameError; m.Ns = []dns.RR{soa(60, 600)} },
				qname+` 30 IN CNAME gone.example.test.`),
			errIs: ErrNXDOMAIN, notFound: true, ttl: 30,
		},
		{
			name: "NODATA",
			m: reply(t, qname, dns.TypeTXT, func(m *dns.Msg) { m.Ns = []dns.RR{soa(60, 600)}; m.AuthenticatedData = true },
				qname+` 300 IN A 192.0.2.1`),
			errIs: ErrNODATA, notFound: true, ttl: 60, auth: true,
		},
		{
			name:  "NODATA without SOA",
			m:     reply(t, qname, dns.TypeTXT, nil),
			errIs: ErrNODATA, notFound: true, ttl: 0,
		},
		{
			name:  "records of another class",
			m:     reply(t, qname, dns.TypeTXT, nil, qname+` 300 CH TXT "x"`),
			errIs: ErrNODATA, notFound: true,
		},

		// Failures: no TTL, no AD bit.
		{name: "SERVFAIL", m: reply(t, qname, dns.TypeTXT, func(m *dns.Msg) { m.Rcode = dns.RcodeServerFailure }), errText: "server misbehaving"},
		{name: "REFUSED", m: reply(t, qname, dns.TypeTXT, func(m *dns.Msg) { m.Rcode = dns.RcodeRefused }), errText: "refused"},
		{name: "NOTIMP", m: reply(t, qname, dns.TypeTXT, func(m *dns.Msg) { m.Rcode = dns.RcodeNotImplemented }), errText: "dns error code NOTIMP"},
		{
			name:  "loop",
			m:     reply(t, qname, dns.TypeTXT, nil, qname+` 300 IN CNAME b.example.test.`, `b.example.test. 300 IN CNAME A.example.test.`),
			errIs: ErrCNAMELoop,
		},
		{
			name:  "self loop",
			m:     reply(t, qname, dns.TypeTXT, func(m *dns.Msg) { m.AuthenticatedData = true }, qname+` 300 IN CNAME `+qname),
			errIs: ErrCNAMELoop,
		},
		{
			name:  "too many records",
			m:     reply(t, qname, dns.TypeTXT, func(m *dns.Msg) { m.Answer = slices.Repeat(m.Answer, maxAnswerRRs+1) }, qname+` 300 IN TXT "x"`),
			errIs: ErrAnswerTooLarge,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd, err := readAnswer(tt.m, qname, tt.m.Question[0].Qtype, chain)
			switch {
			case tt.errIs != nil || tt.errText != "":
				if err == nil {
					t.Fatalf("got %+v, want an error", rd)
				}
				if tt.errIs != nil && !errors.Is(err, tt.errIs) || tt.errText != "" && err.Err != tt.errText {
					t.Errorf("got %+v, want %v%s", err, tt.errIs, tt.errText)
				}
				if err.IsNotFound != tt.notFound {
					t.Errorf("IsNotFound = %v, want %v", err.IsNotFound, tt.notFound)
				}
				if rd.rrs != nil || rd.next != "" {
					t.Errorf("error %v with results %+v", err, rd)
				}
			case err != nil:
				t.Fatalf("unexpected error %+v", err)
			case tt.next != "":
				if rd.next != tt.next || !slices.Equal(rd.chain, []string{qname, tt.next}) || rd.rrs != nil {
					t.Errorf("next %q, chain %q, %d records; want next %q", rd.next, rd.chain, len(rd.rrs), tt.next)
				}
			default:
				var got []string
				for _, rr := range rd.rrs {
					got = append(got, rr.String())
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("records %q, want %q", got, tt.want)
				}
			}
			if rd.ttl != tt.ttl || rd.authenticated != tt.auth {
				t.Errorf("ttl, authenticated = %d, %v; want %d, %v", rd.ttl, rd.authenticated, tt.ttl, tt.auth)
			}
		})
	}
}

func TestReadAnswerMalformed(t *testing.T) {
	const qname = "a.example.test."
	edit := func(f func(m *dns.Msg)) *dns.Msg { return reply(t, qname, dns.TypeTXT, f) }
	chain := []string{qname}
	for name, m := range map[string]*dns.Msg{
		"not a response":   edit(func(m *dns.Msg) { m.Response = false }),
		"other name":       edit(func(m *dns.Msg) { m.Question[0].Name = "b.example.test." }),
		"other type":       edit(func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeA }),
		"two questions":    edit(func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }),
		"truncated on TCP": edit(func(m *dns.Msg) { m.Truncated = true }),
	} {
		_, err := readAnswer(m, qname, dns.TypeTXT, chain)
		if err == nil || err.IsNotFound || !strings.HasPrefix(err.Err, "malformed dns answer") {
			t.Errorf("%s: got %+v, want a malformed-answer error", name, err)
		}
	}
	// A response with no question section is read (a Spec note in
	// readAnswer).
	m := edit(func(m *dns.Msg) { m.Question = nil })
	if _, err := readAnswer(m, qname, dns.TypeTXT, chain); !errors.Is(err, ErrNODATA) {
		t.Errorf("no question: got %+v, want NODATA", err)
	}
}

func TestReadAnswerChainLength(t *testing.T) {
	// A chain of n CNAMEs within one answer, ending in a TXT record.
	answer := func(n int) *dns.Msg {
		var rrs []string
		for i := range n {
			rrs = append(rrs, strings.Repeat("x", i)+`a.example.test. 300 IN CNAME `+strings.Repeat("x", i+1)+`a.example.test.`)
		}
		rrs = append(rrs, strings.Repeat("x", n)+`a.example.test. 300 IN TXT "end"`)
		return reply(t, "a.example.test.", dns.TypeTXT, nil, rrs...)
	}
	chain := []string{"a.example.test."}
	if rd, err := readAnswer(answer(maxCNAMEs), "a.example.test.", dns.TypeTXT, chain); err != nil || len(rd.rrs) != 1 {
		t.Errorf("%d links: %+v, %v", maxCNAMEs, rd, err)
	}
	if _, err := readAnswer(answer(maxCNAMEs+1), "a.example.test.", dns.TypeTXT, chain); !errors.Is(err, ErrCNAMEChainTooLong) || err.IsNotFound {
		t.Errorf("%d links: %v, want ErrCNAMEChainTooLong", maxCNAMEs+1, err)
	}
	// Links already followed in earlier responses count.
	long := []string{"p1.test.", "p2.test.", "p3.test.", "p4.test.", "p5.test.", "p6.test.", "p7.test.", "p8.test.", "a.example.test."}
	if _, err := readAnswer(answer(1), "a.example.test.", dns.TypeTXT, long); !errors.Is(err, ErrCNAMEChainTooLong) {
		t.Errorf("9th link in a later response: %v, want ErrCNAMEChainTooLong", err)
	}
	// The caller's chain is never written to.
	base := make([]string, 1, 10)
	base[0] = "a.example.test."
	rd, _ := readAnswer(reply(t, "a.example.test.", dns.TypeTXT, nil, `a.example.test. 1 IN CNAME b.example.test.`), "a.example.test.", dns.TypeTXT, base)
	if len(base[:cap(base)][1]) != 0 || !slices.Equal(rd.chain, []string{"a.example.test.", "b.example.test."}) {
		t.Errorf("chain %q, base %q", rd.chain, base[:2])
	}
}

func TestResultFold(t *testing.T) {
	txt := &dns.TXT{Hdr: dns.RR_Header{Name: "b.", Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: []string{"x"}}
	notFound := &net.DNSError{Err: errTextNODATA, UnwrapErr: ErrNODATA, IsNotFound: true}
	failed := &net.DNSError{Err: errTextSERVFAIL, IsTemporary: true}

	res := newResult()
	if res.ttl != math.MaxUint32 || !res.authenticated {
		t.Fatalf("newResult = %+v", res)
	}
	// Two links then the records: least TTL, AD only if every response
	// had it.
	res.fold(reading{next: "b.", ttl: 600, authenticated: true}, nil)
	res.fold(reading{rrs: []dns.RR{txt}, ttl: 60, authenticated: true}, nil)
	if len(res.rrs) != 1 || res.ttl != 60 || !res.authenticated {
		t.Errorf("authenticated chain: %+v", res)
	}
	res = newResult()
	res.fold(reading{next: "b.", ttl: 600, authenticated: false}, nil)
	res.fold(reading{rrs: []dns.RR{txt}, ttl: 900, authenticated: true}, nil)
	if res.ttl != 600 || res.authenticated {
		t.Errorf("chain with one unauthenticated link: %+v", res)
	}
	// An absence keeps TTL and AD for negative caching.
	res = newResult()
	res.fold(reading{ttl: 120, authenticated: true}, notFound)
	if res.ttl != 120 || !res.authenticated || res.rrs != nil {
		t.Errorf("absence: %+v", res)
	}
	// Any other failure leaves nothing.
	res = newResult()
	res.fold(reading{next: "b.", ttl: 600, authenticated: true}, nil)
	res.fold(reading{}, failed)
	if res.ttl != 0 || res.authenticated || res.rrs != nil {
		t.Errorf("failure: %+v", res)
	}
}

func TestNegativeTTL(t *testing.T) {
	for _, tt := range []struct {
		ns   []dns.RR
		want uint32
	}{
		{nil, 0},
		{[]dns.RR{soa(3600, 120)}, 120},
		{[]dns.RR{soa(60, 600)}, 60},
		// The first SOA counts; other records are skipped.
		{[]dns.RR{&dns.NS{Hdr: dns.RR_Header{Name: "example.test.", Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 5}, Ns: "ns."}, soa(30, 40), soa(1, 1)}, 30},
	} {
		if got := negativeTTL(&dns.Msg{Ns: tt.ns}); got != tt.want {
			t.Errorf("negativeTTL(%v) = %d, want %d", tt.ns, got, tt.want)
		}
	}
	if got := answerTTL(&dns.Msg{}); got != math.MaxUint32 {
		t.Errorf("answerTTL(empty) = %d", got)
	}
}

func TestQueryName(t *testing.T) {
	for name, want := range map[string]string{
		"Example.TEST":                    "example.test.",
		"_mta-sts.example.test.":          "_mta-sts.example.test.",
		"a":                               "a.",
		strings.Repeat("a", 63) + ".test": strings.Repeat("a", 63) + ".test.",
	} {
		if got, ok := queryName(name); !ok || got != want {
			t.Errorf("queryName(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
	for _, name := range []string{
		"", ".", "..", "a..b", ".a", "a b.test", `a\.b.test`, "ä.test", "a@b", "a.b..",
		strings.Repeat("a", 64) + ".test",
		strings.Repeat("a.", 127) + "ab",
	} {
		if got, ok := queryName(name); ok {
			t.Errorf("queryName(%q) = %q, want not ok", name, got)
		}
	}
}

func TestTXTStrings(t *testing.T) {
	txt := func(s ...string) dns.RR {
		return &dns.TXT{Hdr: dns.RR_Header{Name: "x.", Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: s}
	}
	// Strings joined with no separator, one string per record, escapes
	// undone; a record of no strings is the empty string.
	rrs := []dns.RR{txt("v=STSv1; ", "id=1", ""), txt(`a\"b\\c\255d\009e;f`), txt(), txt(`\`)}
	want := []string{"v=STSv1; id=1", "a\"b\\c\xffd\te;f", "", `\`}
	if got, err := txtStrings(rrs, maxTXTBytes); err != nil || !slices.Equal(got, want) {
		t.Errorf("txtStrings = %q, %v; want %q", got, err, want)
	}

	// The wire format cannot carry 64 KiB of TXT data in one message, so
	// the limit is tested here with smaller limits.
	rrs = []dns.RR{txt("abc", "de"), txt(`\255\"`)} // 5 + 2 bytes decoded
	if got, err := txtStrings(rrs, 7); err != nil || !slices.Equal(got, []string{"abcde", "\xff\""}) {
		t.Errorf("limit 7: %q, %v", got, err)
	}
	for _, limit := range []int{0, 4, 6} {
		if got, err := txtStrings(rrs, limit); !errors.Is(err, ErrAnswerTooLarge) {
			t.Errorf("limit %d: %q, %v; want ErrAnswerTooLarge", limit, got, err)
		}
	}
}

func TestMXRecords(t *testing.T) {
	mx := func(pref uint16, host string) dns.RR {
		return &dns.MX{Hdr: dns.RR_Header{Name: "x.", Rrtype: dns.TypeMX, Class: dns.ClassINET}, Preference: pref, Mx: host}
	}
	got, err := mxRecords([]dns.RR{mx(20, "mx2.example.test."), mx(10, "mx1.example.test"), mx(20, "MX3.example.test."), mx(5, `bad\.name.`), mx(0, "")})
	var s []string
	for _, m := range got {
		s = append(s, m.Host)
	}
	if want := []string{"mx1.example.test.", "mx2.example.test.", "MX3.example.test."}; err != nil || !slices.Equal(s, want) {
		t.Errorf("mxRecords = %q, %v; want %q", s, err, want)
	}
	if got, err := mxRecords([]dns.RR{mx(0, ".")}); err != nil || len(got) != 1 || got[0].Host != "." {
		t.Errorf("null MX: %v, %v", got, err)
	}
	if _, err := mxRecords([]dns.RR{mx(0, `bad\032name.`)}); !errors.Is(err, errNoUsableMX) {
		t.Errorf("only bad names: %v, want errNoUsableMX", err)
	}
}

func TestAddrRecords(t *testing.T) {
	hdr := func(t uint16) dns.RR_Header { return dns.RR_Header{Name: "x.", Rrtype: t, Class: dns.ClassINET} }
	rrs := []dns.RR{
		&dns.A{Hdr: hdr(dns.TypeA), A: net.IPv4(192, 0, 2, 1)}, // 16-byte form, as net.IPv4 makes
		&dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: net.ParseIP("2001:db8::1")},
		&dns.A{Hdr: hdr(dns.TypeA), A: net.IP{198, 51, 100, 7}},
		&dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: net.ParseIP("::ffff:192.0.2.9")}, // a AAAA record says IPv6
		// Empty RDATA unpacks to no address; the wrong family is left out.
		&dns.A{Hdr: hdr(dns.TypeA)},
		&dns.AAAA{Hdr: hdr(dns.TypeAAAA)},
		&dns.A{Hdr: hdr(dns.TypeA), A: net.ParseIP("2001:db8::2")},
		&dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: net.IP{192, 0, 2, 3}},
		&dns.TXT{Hdr: hdr(dns.TypeTXT)},
	}
	got, err := addrRecords(rrs)
	want := []netip.Addr{
		netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1"),
		netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("::ffff:192.0.2.9"),
	}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("addrRecords = %v, %v; want %v", got, err, want)
	}
	if !got[0].Is4() {
		t.Errorf("%v is not in its 4-byte form", got[0])
	}
	if _, err := addrRecords(rrs[4:]); !errors.Is(err, errNoUsableAddr) {
		t.Errorf("no usable address: %v, want errNoUsableAddr", err)
	}
	if got, err := addrRecords(nil); err != nil || len(got) != 0 {
		t.Errorf("no records: %v, %v", got, err)
	}
}

// packed returns m in wire format, for fuzz seeds.
func packed(tb testing.TB, m *dns.Msg) []byte {
	tb.Helper()
	b, err := m.Pack()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzTXTAnswer feeds arbitrary DNS messages, as the answer to a TXT query
// and to an MX query, through the answer handling: it must not panic, and
// what it returns must stay within the limits.
func FuzzTXTAnswer(f *testing.F) {
	const qname = "_mta-sts.example.test."
	seed := func(edit func(m *dns.Msg), rrs ...string) {
		f.Add(packed(f, reply(f, qname, dns.TypeTXT, edit, rrs...)))
	}
	// A plain record, split into strings.
	seed(nil, qname+` 300 IN TXT "v=STSv1; " "id=1"`)
	// Bytes that miekg/dns shows as escapes.
	seed(nil, qname+` 300 IN TXT "\000\255\"\\;"`)
	// A CNAME chain answered in full, and one that leaves the answer.
	seed(nil, qname+` 300 IN CNAME a.example.test.`, `a.example.test. 300 IN TXT "x"`)
	seed(nil, qname+` 300 IN CNAME b.example.test.`)
	// A CNAME loop.
	seed(nil, qname+` 300 IN CNAME c.example.test.`, `c.example.test. 300 IN CNAME `+qname)
	// NXDOMAIN, SERVFAIL, and TC.
	seed(func(m *dns.Msg) { m.Rcode = dns.RcodeNameError })
	seed(func(m *dns.Msg) { m.Rcode = dns.RcodeServerFailure })
	seed(func(m *dns.Msg) { m.Truncated = true })
	// MX records, a null MX among them.
	seed(nil, qname+` 300 IN MX 10 mx.example.test.`, qname+` 300 IN MX 0 .`)

	f.Fuzz(func(t *testing.T, data []byte) {
		m := new(dns.Msg)
		if err := m.Unpack(data); err != nil {
			return
		}
		for _, qtype := range []uint16{dns.TypeTXT, dns.TypeMX} {
			rd, err := readAnswer(m, qname, qtype, []string{qname})
			checkReading(t, m, qtype, rd, err)
			if err != nil || rd.next != "" {
				continue
			}
			if qtype == dns.TypeTXT {
				txts, err := txtStrings(rd.rrs, maxTXTBytes)
				total := 0
				for _, s := range txts {
					total += len(s)
				}
				if err == nil && (len(txts) != len(rd.rrs) || total > maxTXTBytes) {
					t.Fatalf("%d strings, %d bytes from %d records", len(txts), total, len(rd.rrs))
				}
			} else {
				mxs, err := mxRecords(rd.rrs)
				if err == nil && (len(mxs) == 0 || len(mxs) > len(rd.rrs)) {
					t.Fatalf("%d MX from %d records", len(mxs), len(rd.rrs))
				}
				for i := 1; err == nil && i < len(mxs); i++ {
					if mxs[i-1].Pref > mxs[i].Pref {
						t.Fatalf("MX not sorted: %v", mxs)
					}
				}
			}
		}
	})
}

// FuzzAddrAnswer feeds arbitrary DNS messages, as the answer to an A and
// to an AAAA query, through the answer reading and the address extraction,
// and folds each reading into a result as a lookup does: it must not
// panic, the addresses must be of the family asked for, and the TTL and
// AD bit must be those of the message.
func FuzzAddrAnswer(f *testing.F) {
	const qname = "mx.example.test."
	seed := func(qtype uint16, edit func(m *dns.Msg), rrs ...string) {
		f.Add(packed(f, reply(f, qname, qtype, edit, rrs...)))
	}
	ad := func(m *dns.Msg) { m.AuthenticatedData = true }
	// Addresses of both families, with the AD bit.
	seed(dns.TypeA, ad, qname+` 300 IN A 192.0.2.1`, qname+` 60 IN A 192.0.2.2`)
	seed(dns.TypeAAAA, ad, qname+` 300 IN AAAA 2001:db8::1`)
	// An A record in an AAAA answer, and an IPv4-mapped AAAA.
	seed(dns.TypeAAAA, nil, qname+` 300 IN A 192.0.2.1`, qname+` 300 IN AAAA ::ffff:192.0.2.1`)
	// A CNAME to addresses, and one that leaves the answer.
	seed(dns.TypeA, nil, qname+` 30 IN CNAME host.example.test.`, `host.example.test. 300 IN A 192.0.2.1`)
	seed(dns.TypeA, ad, qname+` 30 IN CNAME host.example.test.`)
	// NXDOMAIN and NODATA with an SOA, for the negative TTL.
	seed(dns.TypeA, func(m *dns.Msg) { m.Rcode = dns.RcodeNameError; m.Ns = []dns.RR{soa(3600, 120)} })
	seed(dns.TypeAAAA, func(m *dns.Msg) { m.Ns = []dns.RR{soa(60, 600)} }, qname+` 300 IN A 192.0.2.1`)
	// Empty RDATA: an A record of no address.
	f.Add(packed(f, reply(f, qname, dns.TypeA, func(m *dns.Msg) {
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: qname, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}}}
	})))

	f.Fuzz(func(t *testing.T, data []byte) {
		m := new(dns.Msg)
		if err := m.Unpack(data); err != nil {
			return
		}
		for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
			rd, err := readAnswer(m, qname, qtype, []string{qname})
			checkReading(t, m, qtype, rd, err)

			res := newResult()
			res.fold(rd, err)
			if err != nil && !err.IsNotFound && (res.ttl != 0 || res.authenticated) {
				t.Fatalf("failure %v left %+v", err, res)
			}
			if err != nil || rd.next != "" {
				continue
			}
			if res.ttl != rd.ttl || res.authenticated != m.AuthenticatedData || len(res.rrs) != len(rd.rrs) {
				t.Fatalf("fold: %+v from %+v", res, rd)
			}
			ips, aerr := addrRecords(rd.rrs)
			if aerr != nil {
				if !errors.Is(aerr, errNoUsableAddr) {
					t.Fatalf("addrRecords: %v", aerr)
				}
				continue
			}
			if len(ips) == 0 || len(ips) > len(rd.rrs) {
				t.Fatalf("%d addresses from %d records", len(ips), len(rd.rrs))
			}
			for _, ip := range ips {
				if qtype == dns.TypeA && !ip.Is4() || qtype == dns.TypeAAAA && !ip.Is6() {
					t.Fatalf("address %v for %s", ip, dns.TypeToString[qtype])
				}
			}
		}
	})
}

// checkReading checks what readAnswer returned for m against the
// invariants every caller relies on.
func checkReading(t *testing.T, m *dns.Msg, qtype uint16, rd reading, err *net.DNSError) {
	t.Helper()
	if err != nil {
		if rd.rrs != nil || rd.next != "" {
			t.Fatalf("error %v with results", err)
		}
		if err.IsNotFound {
			if rd.ttl > negativeTTL(m) || rd.authenticated != m.AuthenticatedData {
				t.Fatalf("absence %v: ttl %d (negative %d), AD %v", err, rd.ttl, negativeTTL(m), rd.authenticated)
			}
		} else if rd.ttl != 0 || rd.authenticated {
			t.Fatalf("failure %v with ttl %d, AD %v", err, rd.ttl, rd.authenticated)
		}
		return
	}
	if rd.ttl != answerTTL(m) || rd.authenticated != m.AuthenticatedData {
		t.Fatalf("ttl %d (answer %d), AD %v (message %v)", rd.ttl, answerTTL(m), rd.authenticated, m.AuthenticatedData)
	}
	if rd.next != "" {
		if rd.rrs != nil || len(rd.chain) < 2 || len(rd.chain) > maxCNAMEs+1 || rd.chain[len(rd.chain)-1] != rd.next {
			t.Fatalf("next %q with %d records and chain %q", rd.next, len(rd.rrs), rd.chain)
		}
		return
	}
	if len(rd.rrs) == 0 || len(rd.rrs) > maxAnswerRRs {
		t.Fatalf("%d records", len(rd.rrs))
	}
	for _, rr := range rd.rrs {
		if rr.Header().Rrtype != qtype {
			t.Fatalf("record %v in the answer to %s", rr, dns.TypeToString[qtype])
		}
	}
}

func BenchmarkReadAnswer(b *testing.B) {
	const qname = "_mta-sts.example.test."
	m := reply(b, qname, dns.TypeTXT, nil,
		qname+` 300 IN CNAME a.example.test.`,
		`a.example.test. 300 IN TXT "v=STSv1; " "id=20240101"`,
		`a.example.test. 300 IN TXT "v=spf1 -all"`,
	)
	chain := []string{qname}
	b.ReportAllocs()
	for b.Loop() {
		rd, err := readAnswer(m, qname, dns.TypeTXT, chain)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := txtStrings(rd.rrs, maxTXTBytes); err != nil {
			b.Fatal(err)
		}
	}
}
