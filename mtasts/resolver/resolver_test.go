package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/strictmx/strictmx/internal/domain"
)

// testZone is a DNS server's data for the tests: records by owner name,
// forced response codes, and switches for hostile behaviour.
type testZone struct {
	mu    sync.Mutex
	rrs   map[string][]dns.RR // lower-case FQDN -> records of any type
	rcode map[string]int      // lower-case FQDN -> forced rcode

	// chase puts the whole CNAME chain into one answer, as a recursive
	// resolver does; otherwise each answer holds one link, as an
	// authoritative server out of zone does.
	chase bool
	// truncUDP answers every UDP query with TC set and no records.
	truncUDP atomic.Bool
	// soa, if set, goes into the authority section of negative answers.
	soa dns.RR

	udp, tcp atomic.Int64 // queries served per transport
}

func newTestZone(records ...string) *testZone {
	z := &testZone{rrs: map[string][]dns.RR{}, rcode: map[string]int{}}
	for _, s := range records {
		z.add(s)
	}
	return z
}

// add parses a record in zone-file syntax and adds it.
func (z *testZone) add(s string) {
	rr, err := dns.NewRR(s)
	if err != nil {
		panic(fmt.Sprintf("bad test record %q: %v", s, err))
	}
	z.addRR(rr)
}

func (z *testZone) addRR(rr dns.RR) {
	z.mu.Lock()
	defer z.mu.Unlock()
	n := strings.ToLower(rr.Header().Name)
	z.rrs[n] = append(z.rrs[n], rr)
}

func (z *testZone) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	udp := w.LocalAddr().Network() == "udp"
	if udp {
		z.udp.Add(1)
	} else {
		z.tcp.Add(1)
	}
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Compress = true
	if len(req.Question) != 1 {
		resp.Rcode = dns.RcodeFormatError
		w.WriteMsg(resp)
		return
	}
	q := req.Question[0]
	z.mu.Lock()
	name := strings.ToLower(q.Name)
	if rc, ok := z.rcode[name]; ok {
		z.mu.Unlock()
		resp.Rcode = rc
		w.WriteMsg(resp)
		return
	}
	if _, ok := z.rrs[name]; !ok {
		resp.Rcode = dns.RcodeNameError
	}
	for range 20 {
		var cname string
		for _, rr := range z.rrs[name] {
			switch {
			case rr.Header().Rrtype == q.Qtype:
				resp.Answer = append(resp.Answer, rr)
			case rr.Header().Rrtype == dns.TypeCNAME:
				resp.Answer = append(resp.Answer, rr)
				cname = strings.ToLower(rr.(*dns.CNAME).Target)
			}
		}
		if cname == "" || !z.chase {
			break
		}
		name = cname
		if _, ok := z.rrs[name]; !ok {
			resp.Rcode = dns.RcodeNameError
		}
	}
	if z.soa != nil && !slices.ContainsFunc(resp.Answer, func(rr dns.RR) bool { return rr.Header().Rrtype == q.Qtype }) {
		resp.Ns = append(resp.Ns, z.soa) // a negative answer (RFC 2308)
	}
	z.mu.Unlock()
	if udp {
		if z.truncUDP.Load() {
			resp.Answer = nil
			resp.Truncated = true
		} else {
			size := dns.MinMsgSize
			if opt := req.IsEdns0(); opt != nil {
				size = int(opt.UDPSize())
			}
			resp.Truncate(size)
		}
	}
	w.WriteMsg(resp)
}

// listenSamePort opens a UDP and a TCP listener on one loopback port.
func listenSamePort(t testing.TB) (net.PacketConn, net.Listener) {
	t.Helper()
	for range 50 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, l
		}
		pc.Close()
	}
	t.Fatal("no loopback port free for both UDP and TCP")
	return nil, nil
}

// startDNS serves h on a loopback port over UDP and TCP until the test
// ends, and returns the address.
func startDNS(t testing.TB, h dns.Handler) string {
	t.Helper()
	pc, l := listenSamePort(t)
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: l, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		t.Cleanup(func() { srv.Shutdown() })
	}
	return pc.LocalAddr().String()
}

// startSilentDNS listens on UDP and never answers; each query read is
// sent on the returned channel (if there is room).
func startSilentDNS(t testing.TB) (string, <-chan struct{}) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			select {
			case got <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return pc.LocalAddr().String(), got
}

func dnsErr(t *testing.T, err error) *net.DNSError {
	t.Helper()
	var de *net.DNSError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *net.DNSError", err, err)
	}
	return de
}

func TestDNSResolverTXT(t *testing.T) {
	z := newTestZone(
		// Several strings per RR are concatenated with no separator.
		`_mta-sts.example.test. 300 IN TXT "v=STSv1; " "id=20240101" ""`,
		// A second RR stays a second string.
		`_mta-sts.example.test. 300 IN TXT "other"`,
		// Escapes in zone syntax become raw bytes on the wire and must
		// come back as those bytes, not as miekg/dns escapes.
		`odd.example.test. 300 IN TXT "a\"b\\c\255d\009e;f"`,
	)
	r := &Stub{Servers: []string{startDNS(t, z)}}
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

func TestDNSResolverOutcomes(t *testing.T) {
	z := newTestZone(
		`nodata.example.test. 300 IN A 192.0.2.1`,
		`chain-nx.example.test. 300 IN CNAME gone.example.test.`,
	)
	z.rcode["servfail.example.test."] = dns.RcodeServerFailure
	z.rcode["refused.example.test."] = dns.RcodeRefused
	z.rcode["notimp.example.test."] = dns.RcodeNotImplemented
	r := &Stub{Servers: []string{startDNS(t, z)}}

	tests := []struct {
		name                         string
		notFound, temporary, timeout bool
		errText                      string
	}{
		// Final "absent" answers.
		{name: "nx.example.test", notFound: true, errText: "no such host"},
		{name: "nodata.example.test", notFound: true, errText: "no such record"},
		{name: "chain-nx.example.test", notFound: true, errText: "no such host"},
		// Temporary failures, kept apart.
		{name: "servfail.example.test", temporary: true, errText: "server misbehaving"},
		{name: "refused.example.test", errText: "refused"},
		{name: "notimp.example.test", errText: "dns error code NOTIMP"},
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
			if de.Name != tt.name || de.Server != r.Servers[0] {
				t.Errorf("Name, Server = %q, %q; want %q, %q", de.Name, de.Server, tt.name, r.Servers[0])
			}
		})
	}
}

func TestDNSResolverTimeout(t *testing.T) {
	addr, got := startSilentDNS(t)

	t.Run("Timeout", func(t *testing.T) {
		r := &Stub{Servers: []string{addr}, Timeout: 50 * time.Millisecond}
		_, err := r.LookupTXT(t.Context(), "example.test")
		de := dnsErr(t, err)
		if !de.IsTimeout || !de.IsTemporary || de.IsNotFound || de.Err != "i/o timeout" {
			t.Errorf("got %+v, want a timeout", de)
		}
	})
	t.Run("ContextDeadline", func(t *testing.T) {
		r := &Stub{Servers: []string{addr}, Timeout: time.Hour}
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_, err := r.LookupTXT(ctx, "example.test")
		if !errors.Is(err, context.DeadlineExceeded) || !dnsErr(t, err).IsTimeout {
			t.Errorf("got %v, want a deadline error with IsTimeout", err)
		}
	})
	t.Run("ContextCancel", func(t *testing.T) {
		for len(got) > 0 {
			<-got
		}
		r := &Stub{Servers: []string{addr}, Timeout: time.Hour}
		ctx, cancel := context.WithCancel(t.Context())
		go func() { <-got; cancel() }() // cancel once the query is in flight
		_, err := r.LookupTXT(ctx, "example.test")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
		if de := dnsErr(t, err); de.IsNotFound || de.IsTimeout {
			t.Errorf("got %+v, want neither not-found nor timeout", de)
		}
	})
}

func TestDNSResolverServerOrder(t *testing.T) {
	silent, _ := startSilentDNS(t)
	bad := newTestZone()
	bad.rcode["_mta-sts.example.test."] = dns.RcodeServerFailure
	bad.rcode["nx.example.test."] = dns.RcodeRefused
	good := newTestZone(`_mta-sts.example.test. 300 IN TXT "v=STSv1; id=1"`)
	badAddr, goodAddr := startDNS(t, bad), startDNS(t, good)

	// A timeout and a SERVFAIL move on to the next server.
	r := &Stub{Servers: []string{silent, badAddr, goodAddr}, Timeout: 50 * time.Millisecond}
	got, err := r.LookupTXT(t.Context(), "_mta-sts.example.test")
	if err != nil || len(got) != 1 || got[0] != "v=STSv1; id=1" {
		t.Fatalf("LookupTXT = %q, %v", got, err)
	}

	// NXDOMAIN is final: the next server is not asked.
	before := bad.udp.Load()
	r = &Stub{Servers: []string{goodAddr, badAddr}}
	_, err = r.LookupTXT(t.Context(), "nx.example.test")
	if de := dnsErr(t, err); !de.IsNotFound || de.Server != goodAddr {
		t.Errorf("got %+v, want not found from the first server", de)
	}
	if n := bad.udp.Load() - before; n != 0 {
		t.Errorf("second server asked %d times after NXDOMAIN", n)
	}

	// When all fail, the last server's error is returned.
	r = &Stub{Servers: []string{silent, badAddr}, Timeout: 50 * time.Millisecond}
	_, err = r.LookupTXT(t.Context(), "nx.example.test")
	if de := dnsErr(t, err); de.Err != "refused" || de.Server != badAddr {
		t.Errorf("got %+v, want refused from the last server", de)
	}

	// A missing port means 53.
	if got := dnsWithPort("192.0.2.1"); got != "192.0.2.1:53" {
		t.Errorf("dnsWithPort = %q", got)
	}
	if got := dnsWithPort("::1"); got != "[::1]:53" {
		t.Errorf("dnsWithPort = %q", got)
	}
}

func TestDNSResolverTruncation(t *testing.T) {
	big := strings.Repeat("x", 60000)
	z := newTestZone(
		`_mta-sts.example.test. 300 IN TXT "v=STSv1; id=tcp"`,
	)
	// One RR of 60,000 bytes, in 255-byte strings: only TCP can carry it.
	var parts []string
	for s := big; s != ""; {
		n := min(len(s), 255)
		parts, s = append(parts, s[:n]), s[n:]
	}
	z.addRR(&dns.TXT{Hdr: dns.RR_Header{Name: "big.example.test.", Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300}, Txt: parts})
	r := &Stub{Servers: []string{startDNS(t, z)}}

	// The answer is too big for UDP; miekg/dns truncates it and sets TC.
	got, err := r.LookupTXT(t.Context(), "big.example.test")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != big {
		t.Errorf("got %d records, first %d bytes; want 1 of %d", len(got), len(got[0]), len(big))
	}
	if z.udp.Load() != 1 || z.tcp.Load() != 1 {
		t.Errorf("queries udp=%d tcp=%d, want 1 and 1", z.udp.Load(), z.tcp.Load())
	}

	// A server that truncates everything over UDP.
	z.truncUDP.Store(true)
	got, err = r.LookupTXT(t.Context(), "_mta-sts.example.test")
	if err != nil || len(got) != 1 || got[0] != "v=STSv1; id=tcp" {
		t.Errorf("LookupTXT = %q, %v", got, err)
	}
	if z.tcp.Load() != 2 {
		t.Errorf("tcp queries = %d, want 2", z.tcp.Load())
	}
}

func TestDNSResolverCNAME(t *testing.T) {
	chain := func(z *testZone, prefix string, links int) string {
		for i := range links {
			z.add(fmt.Sprintf("%s%d.example.test. 300 IN CNAME %s%d.example.test.", prefix, i, prefix, i+1))
		}
		z.add(fmt.Sprintf(`%s%d.example.test. 300 IN TXT "end of %s"`, prefix, links, prefix))
		return prefix + "0.example.test"
	}
	for _, chase := range []bool{false, true} {
		t.Run(fmt.Sprintf("chase=%v", chase), func(t *testing.T) {
			z := newTestZone(
				`loop1.example.test. 300 IN CNAME loop2.example.test.`,
				`loop2.example.test. 300 IN CNAME LOOP1.example.test.`,
				`self.example.test. 300 IN CNAME self.example.test.`,
				`dangling.example.test. 300 IN CNAME nodata.example.test.`,
				`nodata.example.test. 300 IN A 192.0.2.1`,
			)
			z.chase = chase
			r := &Stub{Servers: []string{startDNS(t, z)}}

			// Eight links are followed.
			name := chain(z, "ok", dnsMaxCNAMEs)
			got, err := r.LookupTXT(t.Context(), name)
			if err != nil || len(got) != 1 || got[0] != "end of ok" {
				t.Errorf("8 links: LookupTXT = %q, %v", got, err)
			}
			wantQueries := int64(dnsMaxCNAMEs + 1)
			if chase {
				wantQueries = 1
			}
			if n := z.udp.Load(); n != wantQueries {
				t.Errorf("8 links took %d queries, want %d", n, wantQueries)
			}

			// Nine are not.
			name = chain(z, "long", dnsMaxCNAMEs+1)
			_, err = r.LookupTXT(t.Context(), name)
			if !errors.Is(err, ErrCNAMEChainTooLong) || dnsErr(t, err).IsNotFound {
				t.Errorf("9 links: got %v, want ErrCNAMEChainTooLong", err)
			}

			for _, name := range []string{"loop1.example.test", "self.example.test"} {
				_, err = r.LookupTXT(t.Context(), name)
				if !errors.Is(err, ErrCNAMELoop) || dnsErr(t, err).IsNotFound {
					t.Errorf("%s: got %v, want ErrCNAMELoop", name, err)
				}
			}

			// A chain that ends in NODATA is NODATA.
			_, err = r.LookupTXT(t.Context(), "dangling.example.test")
			if !dnsErr(t, err).IsNotFound {
				t.Errorf("dangling: got %v, want not found", err)
			}
		})
	}
}

func TestDNSResolverTTL(t *testing.T) {
	for _, chase := range []bool{false, true} {
		z := newTestZone(
			`_mta-sts.example.test. 300 IN TXT "v=STSv1; id=1"`,
			`alias.example.test. 60 IN CNAME _mta-sts.example.test.`,
			`nodata.example.test. 300 IN A 192.0.2.1`,
		)
		z.chase = chase
		z.rcode["servfail.example.test."] = dns.RcodeServerFailure
		soa, _ := dns.NewRR(`example.test. 3600 IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 120`)
		z.soa = soa
		r := &Stub{Servers: []string{startDNS(t, z)}}
		for _, tt := range []struct {
			name string
			ttl  time.Duration
		}{
			{"_mta-sts.example.test", 300 * time.Second},
			// The least TTL along the CNAME chain.
			{"alias.example.test", 60 * time.Second},
			// RFC 2308: min(SOA TTL, SOA MINIMUM).
			{"nx.example.test", 120 * time.Second},
			{"nodata.example.test", 120 * time.Second},
			{"servfail.example.test", 0},
		} {
			_, ttl, err := r.LookupTXTWithTTL(t.Context(), tt.name)
			if ttl != tt.ttl {
				t.Errorf("chase=%v %s: TTL %v (err %v), want %v", chase, tt.name, ttl, err, tt.ttl)
			}
		}
	}
	// Without an SOA, a negative answer may not be cached at all.
	r := &Stub{Servers: []string{startDNS(t, newTestZone())}}
	if _, ttl, err := r.LookupTXTWithTTL(t.Context(), "nx.example.test"); ttl != 0 || !dnsErr(t, err).IsNotFound {
		t.Errorf("no SOA: TTL %v, %v", ttl, err)
	}
}

func TestDNSResolverManyRRs(t *testing.T) {
	z := newTestZone()
	add := func(name string, n int) {
		for i := range n {
			z.addRR(&dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300}, Txt: []string{fmt.Sprint(i)}})
		}
	}
	add("limit.example.test.", dnsMaxAnswerRRs)
	add("over.example.test.", dnsMaxAnswerRRs+1)
	add("thousands.example.test.", 3000) // about 50 KB, over TCP
	r := &Stub{Servers: []string{startDNS(t, z)}}

	got, err := r.LookupTXT(t.Context(), "limit.example.test")
	if err != nil || len(got) != dnsMaxAnswerRRs || got[999] != "999" {
		t.Errorf("at the limit: %d records, %v", len(got), err)
	}
	for _, name := range []string{"over.example.test", "thousands.example.test"} {
		_, err = r.LookupTXT(t.Context(), name)
		if !errors.Is(err, ErrAnswerTooLarge) {
			t.Errorf("%s: got %v, want ErrAnswerTooLarge", name, err)
		}
		if de := dnsErr(t, err); de.IsNotFound || de.Name != name {
			t.Errorf("%s: got %+v, want a temporary-class error for the name", name, de)
		}
	}
}

func TestDNSTXTSizeLimit(t *testing.T) {
	// The wire format cannot carry 64 KiB of TXT data in one message, so
	// the limit is tested on the pure function with smaller limits.
	txt := func(s ...string) dns.RR {
		return &dns.TXT{Hdr: dns.RR_Header{Name: "x.", Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: s}
	}
	rrs := []dns.RR{txt("abc", "de"), txt(`\255\"`)} // 5 + 2 bytes decoded
	if got, err := dnsTXTStrings(rrs, 7); err != nil || !slices.Equal(got, []string{"abcde", "\xff\""}) {
		t.Errorf("limit 7: %q, %v", got, err)
	}
	for _, limit := range []int{0, 4, 6} {
		if got, err := dnsTXTStrings(rrs, limit); !errors.Is(err, ErrAnswerTooLarge) {
			t.Errorf("limit %d: %q, %v; want ErrAnswerTooLarge", limit, got, err)
		}
	}
}

func TestDNSResolverMX(t *testing.T) {
	z := newTestZone(
		`example.test. 300 IN MX 20 mx2.example.test.`,
		`example.test. 300 IN MX 10 mx1.example.test.`,
		`example.test. 300 IN MX 20 mx3.example.test.`,
		`example.test. 300 IN MX 5 bad\.name.example.test.`,
		`null.example.test. 300 IN MX 0 .`,
		`allbad.example.test. 300 IN MX 0 bad\032name.example.test.`,
		`alias.example.test. 300 IN CNAME example.test.`,
	)
	r := &Stub{Servers: []string{startDNS(t, z)}}
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
	if de := dnsErr(t, err); de.IsNotFound || !errors.Is(err, errDNSNoUsableMX) {
		t.Errorf("only bad names: got %+v", de)
	}

	_, err = r.LookupMX(t.Context(), "none.example.test")
	if !dnsErr(t, err).IsNotFound {
		t.Errorf("no MX: got %v, want not found", err)
	}
}

func TestDNSResolverBadName(t *testing.T) {
	r := &Stub{Servers: []string{"127.0.0.1:1"}} // never asked
	for _, name := range []string{
		"", ".", "a..b", ".a", "a b.test", "a\\.b.test", "ä.test", "a@b",
		strings.Repeat("a", 64) + ".test",
		strings.Repeat("a.", 127) + "ab",
	} {
		_, err := r.LookupTXT(t.Context(), name)
		if de := dnsErr(t, err); !de.IsNotFound || !errors.Is(err, domain.ErrInvalid) || de.Server != "" {
			t.Errorf("LookupTXT(%q): got %+v, want an invalid-name error", name, de)
		}
	}
}

func TestReadDNSAnswerMalformed(t *testing.T) {
	q := new(dns.Msg).SetQuestion("a.example.test.", dns.TypeTXT)
	reply := func(edit func(m *dns.Msg)) *dns.Msg {
		m := new(dns.Msg).SetReply(q)
		edit(m)
		return m
	}
	chain := []string{"a.example.test."}
	for name, m := range map[string]*dns.Msg{
		"not a response":   reply(func(m *dns.Msg) { m.Response = false }),
		"other name":       reply(func(m *dns.Msg) { m.Question[0].Name = "b.example.test." }),
		"other type":       reply(func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeA }),
		"two questions":    reply(func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }),
		"truncated on TCP": reply(func(m *dns.Msg) { m.Truncated = true }),
	} {
		_, _, _, err := readDNSAnswer(m, "a.example.test.", dns.TypeTXT, chain)
		if err == nil || err.IsNotFound || !strings.HasPrefix(err.Err, "malformed dns answer") {
			t.Errorf("%s: got %+v, want a malformed-answer error", name, err)
		}
	}
}

func TestDNSResolvConf(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "resolv.conf")
	os.WriteFile(path, []byte("# test\nnameserver 192.0.2.53\nnameserver 2001:db8::53\noptions ndots:1\n"), 0o600)
	if got, want := dnsResolvConf(path), []string{"192.0.2.53:53", "[2001:db8::53]:53"}; !slices.Equal(got, want) {
		t.Errorf("dnsResolvConf = %q, want %q", got, want)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	for _, p := range []string{empty, filepath.Join(dir, "missing")} {
		if got := dnsResolvConf(p); !slices.Equal(got, []string{"127.0.0.1:53"}) {
			t.Errorf("dnsResolvConf(%s) = %q, want the default", p, got)
		}
	}
}

// FuzzTXTAnswer feeds arbitrary DNS messages, as the answer to a TXT query
// and to an MX query, through the answer handling: it must not panic, and
// what it returns must stay within the limits.
func FuzzTXTAnswer(f *testing.F) {
	const qname = "_mta-sts.example.test."
	q := new(dns.Msg).SetQuestion(qname, dns.TypeTXT)
	seed := func(edit func(m *dns.Msg), rrs ...string) {
		m := new(dns.Msg).SetReply(q)
		for _, s := range rrs {
			rr, err := dns.NewRR(s)
			if err != nil {
				f.Fatal(err)
			}
			m.Answer = append(m.Answer, rr)
		}
		if edit != nil {
			edit(m)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
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
			chain := []string{qname}
			rrs, next, longer, err := readDNSAnswer(m, qname, qtype, chain)
			if err != nil {
				if rrs != nil || next != "" {
					t.Fatalf("error %v with results", err)
				}
				continue
			}
			if next != "" {
				if rrs != nil || len(longer) < 2 || len(longer) > dnsMaxCNAMEs+1 || longer[len(longer)-1] != next {
					t.Fatalf("next %q with %d records and chain %q", next, len(rrs), longer)
				}
				continue
			}
			if len(rrs) == 0 || len(rrs) > dnsMaxAnswerRRs {
				t.Fatalf("%d records", len(rrs))
			}
			if qtype == dns.TypeTXT {
				txts, err := dnsTXTStrings(rrs, dnsMaxTXTBytes)
				total := 0
				for _, s := range txts {
					total += len(s)
				}
				if err == nil && (len(txts) != len(rrs) || total > dnsMaxTXTBytes) {
					t.Fatalf("%d strings, %d bytes from %d records", len(txts), total, len(rrs))
				}
			} else {
				mxs, err := dnsMXRecords(rrs)
				if err == nil && (len(mxs) == 0 || len(mxs) > len(rrs)) {
					t.Fatalf("%d MX from %d records", len(mxs), len(rrs))
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

func BenchmarkDNSResolverLookupTXT(b *testing.B) {
	z := newTestZone(`_mta-sts.example.test. 300 IN TXT "v=STSv1; id=20240101"`)
	r := &Stub{Servers: []string{startDNS(b, z)}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.LookupTXT(ctx, "_mta-sts.example.test"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadDNSAnswer(b *testing.B) {
	const qname = "_mta-sts.example.test."
	q := new(dns.Msg).SetQuestion(qname, dns.TypeTXT)
	m := new(dns.Msg).SetReply(q)
	for _, s := range []string{
		qname + ` 300 IN CNAME a.example.test.`,
		`a.example.test. 300 IN TXT "v=STSv1; " "id=20240101"`,
		`a.example.test. 300 IN TXT "v=spf1 -all"`,
	} {
		rr, _ := dns.NewRR(s)
		m.Answer = append(m.Answer, rr)
	}
	chain := []string{qname}
	b.ReportAllocs()
	for b.Loop() {
		rrs, _, _, err := readDNSAnswer(m, qname, dns.TypeTXT, chain)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := dnsTXTStrings(rrs, dnsMaxTXTBytes); err != nil {
			b.Fatal(err)
		}
	}
}
