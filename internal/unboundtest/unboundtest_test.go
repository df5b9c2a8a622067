package unboundtest

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/strictmx/strictmx/internal/testpki"
)

func TestNewSkipsWithoutEnv(t *testing.T) {
	t.Setenv(EnvVar, "")
	ran := false
	t.Run("skip", func(t *testing.T) {
		New(t)
		ran = true
	})
	if ran {
		t.Fatalf("New did not skip with %s unset", EnvVar)
	}
}

func TestBuildRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		zone Zone
	}{
		{"unknown zone", Zone{Name: "example.com", Records: []string{"www A 192.0.2.1"}}},
		{"zone outside the tree", Zone{Name: "test."}},
		{"unparsable line", Zone{Name: Signed, Records: []string{"www A not-an-address"}}},
		{"owner outside the zone", Zone{Name: Signed, Records: []string{"www.example.com. A 192.0.2.1"}}},
		{"owner in a delegated zone", Zone{Name: Signed, Records: []string{"mx." + Child + " A 192.0.2.1"}}},
		{"owner in the unsigned zone", Zone{Name: Signed, Records: []string{"mx." + Unsigned + " A 192.0.2.1"}}},
		{"delegation of its own", Zone{Name: Signed, Records: []string{"sub NS ns.dane.test."}}},
		{"DS record", Zone{Name: Signed, Records: []string{"sub DS 1 13 2 " + strings.Repeat("00", 32)}}},
		{"SOA record", Zone{Name: Child, Records: []string{"@ SOA a. b. 2 1 1 1 1"}}},
		{"bogus in the unsigned zone", Zone{Name: Unsigned, Bogus: []string{InsecureName}}},
		{"bogus name without records", Zone{Name: Signed, Bogus: []string{"nothing"}}},
		{"bogus name in a delegated zone", Zone{Name: Signed, Bogus: []string{ChildName}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := build([]Zone{tc.zone}); !errors.Is(err, ErrZone) {
				t.Fatalf("build(%+v) = %v, want ErrZone", tc.zone, err)
			}
		})
	}
}

func TestBuild(t *testing.T) {
	tree, err := build([]Zone{
		{Name: "DANE.test", Records: []string{"@ MX 10 mx", "mx A 127.0.0.1"}, Bogus: []string{"mx"}},
		{Name: Child, Records: []string{TLSA("mx."+Child, 25, 3, 1, 1, strings.Repeat("ab", 32))}},
		{Name: Signed, Records: DANEMX(Signed, "mx2."+Signed, 25, strings.Repeat("cd", 32))},
	})
	if err != nil {
		t.Fatal(err)
	}
	has := func(z *zoneData, want string) bool {
		for _, rr := range z.rrs {
			if strings.Join(strings.Fields(rr.String()), " ") == want {
				return true
			}
		}
		return false
	}
	for _, c := range []struct {
		zone int
		rr   string
	}{
		{0, "dane.test. 300 IN MX 10 mx.dane.test."},
		{0, "mx.dane.test. 300 IN A 127.0.0.1"},
		{0, "dane.test. 300 IN MX 10 mx2.dane.test."},
		{0, "mx2.dane.test. 300 IN A 127.0.0.1"},
		{0, "_25._tcp.mx2.dane.test. 300 IN TLSA 3 1 1 " + strings.Repeat("cd", 32)},
		{1, "_25._tcp.mx.child.dane.test. 300 IN TLSA 3 1 1 " + strings.Repeat("ab", 32)},
	} {
		if !has(tree[c.zone], c.rr) {
			t.Errorf("zone %s lacks %q", tree[c.zone].name, c.rr)
		}
	}
	if got := tree[0].bogus; len(got) != 2 || got[0] != BogusName || got[1] != "mx.dane.test." {
		t.Errorf("bogus names of %s = %q", Signed, got)
	}
}

// query asks srv for name and type with DO=1 and AD=1, and the CD bit as
// given.
func query(t *testing.T, srv *Server, name string, qtype uint16, cd bool) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(dns.DefaultMsgSize, true)
	m.AuthenticatedData = true
	m.CheckingDisabled = cd
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	r, _, err := (&dns.Client{}).ExchangeContext(ctx, m, srv.Addr())
	if err != nil {
		t.Fatalf("%s %s: %v%s", name, dns.TypeToString[qtype], err, srv.Log())
	}
	return r
}

// ede returns the RFC 8914 extended error codes of r.
func ede(r *dns.Msg) []uint16 {
	var codes []uint16
	if opt := r.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				codes = append(codes, e.InfoCode)
			}
		}
	}
	return codes
}

func TestServer(t *testing.T) {
	ca, err := testpki.New()
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Leaf(testpki.LeafOptions{DNSNames: []string{"mx.dane.test"}})
	if err != nil {
		t.Fatal(err)
	}
	digest := SPKISHA256(leaf.Leaf)
	var addr string
	t.Run("run", func(t *testing.T) {
		srv := New(t,
			Zone{Name: Signed, Records: DANEMX(Signed, "mx.dane.test.", 25, digest)},
			Zone{Name: Child, Records: []string{"broken A 192.0.2.99"}, Bogus: []string{"broken"}},
			Zone{Name: Unsigned, Records: []string{"mx A 127.0.0.1", TLSA("mx."+Unsigned, 25, 3, 1, 1, digest)}},
		)
		addr = srv.Addr()
		if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
			t.Errorf("address %s is not on 127.0.0.1", addr)
		}
		if !strings.HasPrefix(srv.TrustAnchor(), Signed) {
			t.Errorf("trust anchor %q is not for %s", srv.TrustAnchor(), Signed)
		}
		for _, c := range []struct {
			name  string
			qtype uint16
			rcode int
			ad    bool
			rrs   int // records of qtype in the answer
		}{
			// Secure: answers and denials from signed zones.
			{SecureName, dns.TypeA, dns.RcodeSuccess, true, 1},
			{ChildName, dns.TypeA, dns.RcodeSuccess, true, 1},
			{"nothing.dane.test.", dns.TypeA, dns.RcodeNameError, true, 0},
			{"nothing." + Child, dns.TypeA, dns.RcodeNameError, true, 0},
			{SecureName, dns.TypeAAAA, dns.RcodeSuccess, true, 0},
			{Signed, dns.TypeMX, dns.RcodeSuccess, true, 1},
			{"_25._tcp.mx.dane.test.", dns.TypeTLSA, dns.RcodeSuccess, true, 1},
			// Insecure: the unsigned zone, answers and denials.
			{InsecureName, dns.TypeA, dns.RcodeSuccess, false, 1},
			{"nothing." + Unsigned, dns.TypeA, dns.RcodeNameError, false, 0},
			{"_25._tcp.mx." + Unsigned, dns.TypeTLSA, dns.RcodeSuccess, false, 1},
			// Failed: broken signatures.
			{BogusName, dns.TypeA, dns.RcodeServerFailure, false, 0},
			{"broken." + Child, dns.TypeA, dns.RcodeServerFailure, false, 0},
			// Outside the tree: the tree's own root denies it, at once
			// and unsigned, with no query to the internet.
			{"example.com.", dns.TypeA, dns.RcodeNameError, false, 0},
		} {
			r := query(t, srv, c.name, c.qtype, false)
			n := 0
			for _, rr := range r.Answer {
				if rr.Header().Rrtype == c.qtype {
					n++
				}
			}
			if r.Rcode != c.rcode || r.AuthenticatedData != c.ad || n != c.rrs {
				t.Errorf("%s %s: rcode %s, ad %v, %d records; want %s, %v, %d%s", c.name, dns.TypeToString[c.qtype],
					dns.RcodeToString[r.Rcode], r.AuthenticatedData, n, dns.RcodeToString[c.rcode], c.ad, c.rrs, srv.Log())
			}
		}
		// The TLSA record carries the digest as given.
		r := query(t, srv, "_25._tcp.mx.dane.test.", dns.TypeTLSA, false)
		if tlsa, ok := r.Answer[0].(*dns.TLSA); !ok || tlsa.Certificate != digest {
			t.Errorf("TLSA answer %v, want digest %s", r.Answer, digest)
		}
		// A SERVFAIL for bogus data says why: DNSSEC Bogus (6).
		if codes := ede(query(t, srv, BogusName, dns.TypeA, false)); len(codes) == 0 || codes[0] != dns.ExtendedErrorCodeDNSBogus {
			t.Errorf("%s: EDE codes %v, want %d", BogusName, codes, dns.ExtendedErrorCodeDNSBogus)
		}
		// With CD=1 the bogus data comes back, unflagged.
		r = query(t, srv, BogusName, dns.TypeA, true)
		if r.Rcode != dns.RcodeSuccess || r.AuthenticatedData || len(r.Answer) == 0 {
			t.Errorf("%s with CD=1: rcode %s, ad %v, answer %v", BogusName, dns.RcodeToString[r.Rcode], r.AuthenticatedData, r.Answer)
		}
		if !strings.Contains(srv.Log(), "validation failure") {
			t.Errorf("the log has no validation failure:%s", srv.Log())
		}
	})
	if addr == "" {
		return // skipped
	}
	// Cleanup of the subtest stopped the server.
	m := new(dns.Msg)
	m.SetQuestion(SecureName, dns.TypeA)
	if r, _, err := (&dns.Client{Timeout: 500 * time.Millisecond}).Exchange(m, addr); err == nil {
		t.Errorf("server at %s still answers after cleanup: %v", addr, r)
	}
}

func TestTwoServers(t *testing.T) {
	a, b := New(t), New(t)
	if a.Addr() == b.Addr() {
		t.Fatalf("two servers share %s", a.Addr())
	}
	// Each server has keys of its own.
	if a.TrustAnchor() == b.TrustAnchor() {
		t.Errorf("two servers share the trust anchor %s", a.TrustAnchor())
	}
	for _, srv := range []*Server{a, b} {
		if r := query(t, srv, SecureName, dns.TypeA, false); !r.AuthenticatedData {
			t.Errorf("%s at %s is not secure", SecureName, srv.Addr())
		}
	}
}

// A port another process holds makes unbound exit, and run report it (New
// then tries another port) rather than share the port or hang.
func TestRunPortTaken(t *testing.T) {
	srv := New(t)
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	port := udp.LocalAddr().(*net.UDPAddr).Port
	if tcp, err := net.Listen("tcp4", udp.LocalAddr().String()); err == nil {
		defer tcp.Close()
	}
	// A second server of the same tree: its own directory and trust
	// anchor file, the first server's signed zone files.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "trust-anchor.ds"), []byte(srv.anchor+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Server{dir: dir, logFile: filepath.Join(dir, "unbound.log"), bin: srv.bin, tree: srv.tree, files: srv.files}
	ctx, cancel := context.WithTimeout(t.Context(), readyTimeout)
	defer cancel()
	err = s.run(ctx, port)
	if err == nil {
		s.stop(t)
		t.Fatalf("unbound started on port %d, which this test holds", port)
	}
	t.Logf("run: %v", err)
	if errors.Is(err, errNotValidating) || ctx.Err() != nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("run on a taken port: %v; want unbound's exit", err)
	}
	if s.proc != nil {
		t.Errorf("run left unbound (pid %d) running", s.proc.Cmd.Process.Pid)
	}
	// The first server is unharmed.
	if r := query(t, srv, SecureName, dns.TypeA, false); !r.AuthenticatedData {
		t.Errorf("%s is not secure after the failed start", SecureName)
	}
}
