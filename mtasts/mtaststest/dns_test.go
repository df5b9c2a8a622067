package mtaststest_test

// Tests of the DNS server's switches on the wire, with plain miekg/dns
// exchanges; server_test.go tests the records through resolver.Stub.

import (
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/strictmx/strictmx/mtasts/mtaststest"
)

// exchange asks s for (name, qtype) over network ("udp" or "tcp").
func exchange(t *testing.T, s *mtaststest.Server, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	q := new(dns.Msg).SetQuestion(dns.Fqdn(name), qtype)
	q.SetEdns0(4096, false)
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	resp, _, err := c.ExchangeContext(t.Context(), q, s.DNSAddr())
	if err != nil {
		t.Fatalf("exchange %s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return resp
}

// answer returns the answer section of m in zone-file syntax.
func answer(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		out = append(out, strings.ReplaceAll(rr.String(), "\t", " "))
	}
	return out
}

func TestDNSRcode(t *testing.T) {
	s := mtaststest.NewServer(t)
	d := s.Domain("example.test").Record("1")
	name := d.RecordName()

	for _, rc := range []int{dns.RcodeNotImplemented, dns.RcodeFormatError, dns.RcodeNameError, dns.RcodeNotAuth, dns.RcodeSuccess} {
		s.DNSRcode(name, rc)
		resp := exchange(t, s, "udp", name, dns.TypeTXT)
		if resp.Rcode != rc || len(resp.Answer) != 0 || len(resp.Ns) != 0 {
			t.Errorf("DNSRcode %s: rcode %s, %d answers, %d authority records; want %s and none",
				dns.RcodeToString[rc], dns.RcodeToString[resp.Rcode], len(resp.Answer), len(resp.Ns), dns.RcodeToString[rc])
		}
	}
	// Any type, over TCP too (the last code set: NOERROR with nothing).
	if resp := exchange(t, s, "tcp", name, dns.TypeMX); resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 0 {
		t.Errorf("over TCP: %v", resp)
	}

	// A DNSFault replaces it, and DNSNormal undoes both.
	s.DNSFault(name, mtaststest.DNSRefused)
	if resp := exchange(t, s, "udp", name, dns.TypeTXT); resp.Rcode != dns.RcodeRefused {
		t.Errorf("after DNSFault: rcode %s", dns.RcodeToString[resp.Rcode])
	}
	s.DNSRcode(name, dns.RcodeNotImplemented).DNSFault(name, mtaststest.DNSNormal)
	if resp := exchange(t, s, "udp", name, dns.TypeTXT); resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
		t.Errorf("after DNSNormal: %v", resp)
	}
	// Domain.Reset undoes it too.
	s.DNSRcode(name, dns.RcodeNotImplemented)
	d.Reset()
	if resp := exchange(t, s, "udp", name, dns.TypeTXT); resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
		t.Errorf("after Reset: %v", resp)
	}

	// A code that does not fit the header is a setup mistake.
	func() {
		s := mtaststest.NewServer(nil) // panics on setup mistakes
		defer s.Close()
		defer func() {
			if recover() == nil {
				t.Error("DNSRcode(16) did not fail")
			}
		}()
		s.DNSRcode(name, 16)
	}()
}

func TestCNAMEMode(t *testing.T) {
	s := mtaststest.NewServer(t).
		CNAME("a.example.test", "b.example.test").
		// A target written with RR keeps its case; the chain is still
		// followed.
		RR(`b.example.test. 60 IN CNAME C.Example.Test.`).
		TXT("c.example.test", "end").
		CNAME("loop1.example.test", "loop2.example.test").
		CNAME("loop2.example.test", "loop1.example.test")
	tests := []struct {
		mode        mtaststest.CNAMEMode
		chain, loop []string
		loopRcode   int
	}{
		{
			mode: mtaststest.CNAMEChain,
			chain: []string{
				"a.example.test. 300 IN CNAME b.example.test.",
				"b.example.test. 60 IN CNAME C.Example.Test.",
				`c.example.test. 300 IN TXT "end"`,
			},
			loopRcode: dns.RcodeServerFailure,
		},
		{
			mode: mtaststest.CNAMEChainLoops,
			chain: []string{
				"a.example.test. 300 IN CNAME b.example.test.",
				"b.example.test. 60 IN CNAME C.Example.Test.",
				`c.example.test. 300 IN TXT "end"`,
			},
			loop: []string{
				"loop1.example.test. 300 IN CNAME loop2.example.test.",
				"loop2.example.test. 300 IN CNAME loop1.example.test.",
			},
		},
		{
			mode:  mtaststest.CNAMEOneLink,
			chain: []string{"a.example.test. 300 IN CNAME b.example.test."},
			loop:  []string{"loop1.example.test. 300 IN CNAME loop2.example.test."},
		},
	}
	for _, tt := range tests {
		s.CNAMEMode(tt.mode)
		resp := exchange(t, s, "udp", "a.example.test", dns.TypeTXT)
		if got := answer(resp); resp.Rcode != dns.RcodeSuccess || !slices.Equal(got, tt.chain) {
			t.Errorf("mode %d: chain %s %q, want %q", tt.mode, dns.RcodeToString[resp.Rcode], got, tt.chain)
		}
		resp = exchange(t, s, "udp", "loop1.example.test", dns.TypeTXT)
		if got := answer(resp); resp.Rcode != tt.loopRcode || !slices.Equal(got, tt.loop) {
			t.Errorf("mode %d: loop %s %q, want %s %q", tt.mode, dns.RcodeToString[resp.Rcode], got, dns.RcodeToString[tt.loopRcode], tt.loop)
		}
		// The CNAME itself, asked for, is never chased.
		resp = exchange(t, s, "udp", "a.example.test", dns.TypeCNAME)
		if got := answer(resp); len(got) != 1 {
			t.Errorf("mode %d: CNAME query: %q", tt.mode, got)
		}
	}
}

func TestStrayReplies(t *testing.T) {
	s := mtaststest.NewServer(t).TXT("_mta-sts.example.test", "v=STSv1; id=1")
	nc, err := net.Dial("udp", s.DNSAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	co := &dns.Conn{Conn: nc, UDPSize: 4096}
	read := func(q *dns.Msg, n int) []*dns.Msg {
		t.Helper()
		if err := co.WriteMsg(q); err != nil {
			t.Fatal(err)
		}
		var got []*dns.Msg
		for range n {
			nc.SetReadDeadline(time.Now().Add(2 * time.Second))
			m, err := co.ReadMsg()
			if err != nil {
				t.Fatalf("after %d replies: %v", len(got), err)
			}
			got = append(got, m)
		}
		return got
	}

	s.StrayReplies(3)
	q := new(dns.Msg).SetQuestion("_mta-sts.example.test.", dns.TypeTXT)
	got := read(q, 4)
	ids := map[uint16]bool{}
	for i, m := range got[:3] {
		if m.Id == q.Id || m.Rcode != dns.RcodeNameError || len(m.Answer) != 0 || !slices.Equal(m.Question, q.Question) {
			t.Errorf("stray %d: %v", i, m)
		}
		ids[m.Id] = true
	}
	if len(ids) != 3 {
		t.Errorf("stray IDs not distinct: %v", ids)
	}
	if m := got[3]; m.Id != q.Id || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
		t.Errorf("answer after the strays: %v", m)
	}
	// An ID at the top of the range wraps without becoming the query's.
	q.Id = 0xffff
	for i, m := range read(q, 4)[:3] {
		if m.Id == q.Id {
			t.Errorf("stray %d has the query's ID", i)
		}
	}

	// None over TCP, and none once turned off.
	if resp := exchange(t, s, "tcp", "_mta-sts.example.test", dns.TypeTXT); len(resp.Answer) != 1 {
		t.Errorf("over TCP: %v", resp)
	}
	s.StrayReplies(0)
	if resp := exchange(t, s, "udp", "_mta-sts.example.test", dns.TypeTXT); len(resp.Answer) != 1 {
		t.Errorf("after StrayReplies(0): %v", resp)
	}
}

func TestNegativeSOA(t *testing.T) {
	s := mtaststest.NewServer(t).A("host.example.test", "192.0.2.1")
	soa := func(name string) *dns.SOA {
		t.Helper()
		resp := exchange(t, s, "udp", name, dns.TypeTXT)
		if len(resp.Ns) == 0 {
			return nil
		}
		return resp.Ns[0].(*dns.SOA)
	}
	for _, name := range []string{"nx.example.test", "host.example.test"} {
		if rr := soa(name); rr == nil || rr.Hdr.Ttl != 300 || rr.Minttl != 300 || rr.Hdr.Name != "example.test." {
			t.Errorf("%s: default SOA %v", name, rr)
		}
	}
	s.NegativeSOA(time.Hour, 2*time.Minute)
	if rr := soa("nx.example.test"); rr == nil || rr.Hdr.Ttl != 3600 || rr.Minttl != 120 {
		t.Errorf("NegativeSOA(1h, 2m): %v", rr)
	}
	s.NegativeTTL(45 * time.Second)
	if rr := soa("nx.example.test"); rr == nil || rr.Hdr.Ttl != 45 || rr.Minttl != 45 {
		t.Errorf("NegativeTTL(45s): %v", rr)
	}
	for _, set := range [][2]time.Duration{{-1, time.Minute}, {time.Minute, -1}} {
		s.NegativeSOA(set[0], set[1])
		if rr := soa("nx.example.test"); rr != nil {
			t.Errorf("NegativeSOA(%v, %v): %v, want no SOA", set[0], set[1], rr)
		}
	}
}

func TestOnQuery(t *testing.T) {
	s := mtaststest.NewServer(t).TXT("_mta-sts.example.test", "v=STSv1; id=1")
	var (
		mu   sync.Mutex
		seen []string
	)
	s.OnQuery(func(name, rrtype string) {
		mu.Lock()
		seen = append(seen, name+" "+rrtype)
		mu.Unlock()
		// f may change the records for this very query.
		if rrtype == "TXT" {
			s.TXT("_mta-sts.example.test", "v=STSv1; id=2")
		}
	})
	resp := exchange(t, s, "udp", "_MTA-STS.example.test", dns.TypeTXT)
	if got := answer(resp); len(got) != 1 || !strings.Contains(got[0], "id=2") {
		t.Errorf("answer %q, want the record OnQuery set", got)
	}
	exchange(t, s, "tcp", "example.test", dns.TypeMX)

	// A query that is never answered is reported too.
	s.DNSFault("silent.example.test", mtaststest.DNSTimeout)
	c := &dns.Client{Timeout: 100 * time.Millisecond}
	if _, _, err := c.Exchange(new(dns.Msg).SetQuestion("silent.example.test.", dns.TypeA), s.DNSAddr()); err == nil {
		t.Error("DNSTimeout answered")
	}
	mu.Lock()
	got := seen
	mu.Unlock()
	if want := []string{"_mta-sts.example.test. TXT", "example.test. MX", "silent.example.test. A"}; !slices.Equal(got, want) {
		t.Errorf("OnQuery saw %q, want %q", got, want)
	}

	s.OnQuery(nil)
	exchange(t, s, "udp", "example.test", dns.TypeA)
	mu.Lock()
	if len(seen) != 3 {
		t.Errorf("OnQuery(nil) left f called: %q", seen)
	}
	mu.Unlock()
}

func TestTCPQueries(t *testing.T) {
	s := mtaststest.NewServer(t).TXT("_mta-sts.example.test", "v=STSv1; id=1")
	exchange(t, s, "udp", "_mta-sts.example.test", dns.TypeTXT)
	exchange(t, s, "tcp", "_mta-sts.example.test", dns.TypeTXT)
	exchange(t, s, "tcp", "example.test", dns.TypeMX)
	if s.TotalQueries() != 3 || s.TCPQueries() != 2 {
		t.Errorf("TotalQueries, TCPQueries = %d, %d; want 3, 2", s.TotalQueries(), s.TCPQueries())
	}
	s.ResetCounters()
	if s.TCPQueries() != 0 {
		t.Errorf("ResetCounters left TCPQueries = %d", s.TCPQueries())
	}
}
