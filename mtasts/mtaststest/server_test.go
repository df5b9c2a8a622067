package mtaststest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/mtaststest"
)

func lookupTXT(t *testing.T, s *mtaststest.Server, name string) ([]string, *net.DNSError) {
	t.Helper()
	txt, err := s.Resolver().LookupTXT(t.Context(), name)
	if err == nil {
		return txt, nil
	}
	var de *net.DNSError
	if !errors.As(err, &de) {
		t.Fatalf("LookupTXT(%s): %v is not a *net.DNSError", name, err)
	}
	return nil, de
}

func TestDNS(t *testing.T) {
	s := mtaststest.NewServer(t)
	s.TXT("_mta-sts.example.test", "v=STSv1; id=1").
		TXTStrings("split.example.test", "v=STSv1; ", `id=2\`).
		TXT("long.example.test", strings.Repeat("y", 1000)).
		MX("example.test", 20, "mx2.example.test").
		MX("example.test.", 10, "MX1.example.test").
		A("mx1.example.test", "127.0.0.1").
		A("mx1.example.test", "::1").
		CNAME("alias.example.test", "_mta-sts.example.test").
		RR(`raw.example.test. 60 IN TXT "a" "b"`)
	r := s.Resolver()
	ctx := t.Context()

	for name, want := range map[string][]string{
		"_mta-sts.example.test": {"v=STSv1; id=1"},
		"split.example.test":    {`v=STSv1; id=2\`},
		"long.example.test":     {strings.Repeat("y", 1000)},
		"alias.example.test":    {"v=STSv1; id=1"},
		"raw.example.test":      {"ab"},
	} {
		if got, err := lookupTXT(t, s, name); err != nil || !slices.Equal(got, want) {
			t.Errorf("TXT %s = %q, %v; want %q", name, got, err, want)
		}
	}
	mxs, err := r.LookupMX(ctx, "example.test")
	if err != nil || len(mxs) != 2 || mxs[0].Host != "MX1.example.test." || mxs[1].Pref != 20 {
		t.Errorf("MX = %v, %v", mxs, err)
	}
	// NXDOMAIN for unknown names, NODATA for names with other records
	// and for empty non-terminals.
	for name, wantNotFound := range map[string]bool{"nx.example.test": true, "mx1.example.test": true, "example.test": true, "test": true} {
		if _, de := lookupTXT(t, s, name); de == nil || de.IsNotFound != wantNotFound {
			t.Errorf("TXT %s: got %+v, want not found", name, de)
		}
	}

	// Negative answers carry an SOA whose TTL bounds negative caching.
	for _, tt := range []struct{ set, want time.Duration }{
		{0, mtaststest.DefaultSOAMinimum}, {30 * time.Second, 30 * time.Second}, {-1, 0},
	} {
		if tt.set != 0 {
			s.NegativeTTL(tt.set)
		}
		if _, ttl, err := r.LookupTXTWithTTL(ctx, "nx.example.test"); err == nil || ttl != tt.want {
			t.Errorf("NegativeTTL(%v): TTL %v, %v; want %v", tt.set, ttl, err, tt.want)
		}
	}
	if _, ttl, err := r.LookupTXTWithTTL(ctx, "_mta-sts.example.test"); err != nil || ttl != 300*time.Second {
		t.Errorf("positive TTL %v, %v", ttl, err)
	}

	// Replacing and deleting.
	s.TXT("_mta-sts.example.test", "v=STSv1; id=3", "other")
	if got, _ := lookupTXT(t, s, "_mta-sts.example.test"); !slices.Equal(got, []string{"v=STSv1; id=3", "other"}) {
		t.Errorf("after replace: %q", got)
	}
	s.TXT("_mta-sts.example.test")
	if _, de := lookupTXT(t, s, "_mta-sts.example.test"); de == nil || !de.IsNotFound {
		t.Errorf("after removing TXT: %+v", de)
	}
	s.Delete("mx1.example.test")
	if _, err := r.LookupMX(ctx, "mx1.example.test"); err == nil {
		t.Error("deleted name still answers")
	}

	// Counters: the alias lookup is answered in one query for the alias,
	// so four lookups of the name itself.
	if n := s.Queries("_MTA-STS.example.test.", "txt"); n != 4 {
		t.Errorf("Queries(_mta-sts, TXT) = %d, want 4", n)
	}
	if n := s.Queries("example.test", "MX"); n != 1 {
		t.Errorf("Queries(example.test, MX) = %d, want 1", n)
	}
	total := s.TotalQueries()
	if total < 10 {
		t.Errorf("TotalQueries = %d", total)
	}
	s.ResetCounters()
	if s.TotalQueries() != 0 || s.Queries("example.test", "MX") != 0 {
		t.Error("ResetCounters left counts")
	}
}

func TestDNSFaults(t *testing.T) {
	s := mtaststest.NewServer(t)
	d := s.Domain("example.test").Record("1")
	name := d.RecordName()

	tests := []struct {
		fault   mtaststest.DNSFault
		errText string
		timeout bool
	}{
		{mtaststest.DNSServFail, "server misbehaving", false},
		{mtaststest.DNSRefused, "refused", false},
		{mtaststest.DNSTimeout, "i/o timeout", true},
	}
	for _, tt := range tests {
		d.DNSFault(tt.fault)
		_, de := lookupTXT(t, s, name)
		if de == nil || de.IsNotFound || de.Err != tt.errText || de.IsTimeout != tt.timeout {
			t.Errorf("fault %d: got %+v, want %q", tt.fault, de, tt.errText)
		}
	}

	// Truncation: the answer comes over TCP.
	d.DNSFault(mtaststest.DNSTruncate)
	if got, de := lookupTXT(t, s, name); de != nil || len(got) != 1 {
		t.Errorf("DNSTruncate: %q, %+v", got, de)
	}
	d.Reset()
	if got, de := lookupTXT(t, s, name); de != nil || len(got) != 1 {
		t.Errorf("after Reset: %q, %+v", got, de)
	}
	// One query each, plus UDP and TCP for the truncation.
	if n := d.RecordQueries(); n != 6 {
		t.Errorf("RecordQueries = %d, want 6", n)
	}

	// A large answer is truncated over UDP by the server itself.
	big := strings.Repeat("z", 5000)
	s.TXT("big.example.test", big)
	if got, de := lookupTXT(t, s, "big.example.test"); de != nil || len(got) != 1 || got[0] != big {
		t.Errorf("big TXT: %d records, %+v", len(got), de)
	}
	if n := s.Queries("big.example.test", "TXT"); n != 2 {
		t.Errorf("big TXT took %d queries, want 2 (UDP then TCP)", n)
	}
}

// get fetches the policy of domain with a plain HTTP client wired to s.
func get(s *mtaststest.Server, domain string) (*http.Response, []byte, error) {
	resp, err := s.HTTPClient().Get("https://mta-sts." + domain + mtaststest.PolicyPath)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, body, err
}

func TestPolicyHost(t *testing.T) {
	s := mtaststest.NewServer(t)
	d := s.Domain("Example.Test.").Policy(mtasts.ModeEnforce, 86400, "mx1.example.test", "*.example.test")
	want := "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmx: *.example.test\r\nmax_age: 86400\r\n"

	resp, body, err := get(s, "example.test")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || string(body) != want || resp.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("got %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if resp.TLS.Version < tls.VersionTLS12 || resp.TLS.PeerCertificates[0].DNSNames[0] != "mta-sts.example.test" {
		t.Errorf("TLS %x, certificate %v", resp.TLS.Version, resp.TLS.PeerCertificates[0].DNSNames)
	}
	if _, err := mtasts.ParsePolicy(body); err != nil {
		t.Errorf("served policy does not parse: %v", err)
	}

	// Other domains are served by SNI, with their own certificate.
	s.Domain("other.test").PolicyText("version: STSv1\nmode: none\nmax_age: 1\n")
	resp, body, err = get(s, "other.test")
	if err != nil || !strings.Contains(string(body), "mode: none") || resp.TLS.PeerCertificates[0].DNSNames[0] != "mta-sts.other.test" {
		t.Errorf("other.test: %v %q", err, body)
	}
	// A domain without a policy answers 404.
	if resp, _, err := get(s, "nopolicy.test"); err != nil || resp.StatusCode != 404 {
		t.Errorf("no policy: %v %v", resp, err)
	}
	if n, total := d.Fetches(), s.TotalFetches(); n != 1 || total != 3 {
		t.Errorf("fetches %d, total %d; want 1 and 3", n, total)
	}
}

func TestPolicyHostHTTPFaults(t *testing.T) {
	s := mtaststest.NewServer(t)
	d := s.Domain("example.test").Policy(mtasts.ModeTesting, 3600, "mx.example.test")

	d.Status(404)
	if resp, _, err := get(s, "example.test"); err != nil || resp.StatusCode != 404 {
		t.Errorf("Status(404): %v, %v", resp, err)
	}
	d.Status(500)
	if resp, _, err := get(s, "example.test"); err != nil || resp.StatusCode != 500 {
		t.Errorf("Status(500): %v, %v", resp, err)
	}
	d.Status(0).Redirect("https://mta-sts.elsewhere.test/.well-known/mta-sts.txt")
	if resp, _, err := get(s, "example.test"); err != nil || resp.StatusCode != 302 ||
		resp.Header.Get("Location") != "https://mta-sts.elsewhere.test/.well-known/mta-sts.txt" {
		t.Errorf("Redirect: %v, %v", resp, err)
	}
	d.Redirect("").ContentType("TEXT/PLAIN; charset=utf-8")
	if resp, _, err := get(s, "example.test"); err != nil || resp.Header.Get("Content-Type") != "TEXT/PLAIN; charset=utf-8" {
		t.Errorf("ContentType: %v, %v", resp, err)
	}
	d.ContentType("text/html")
	if resp, _, err := get(s, "example.test"); err != nil || resp.Header.Get("Content-Type") != "text/html" {
		t.Errorf("ContentType: %v, %v", resp, err)
	}
	d.ContentType("")
	if resp, _, err := get(s, "example.test"); err != nil || resp.Header.Values("Content-Type") != nil {
		t.Errorf("no Content-Type: %v, %v", resp.Header, err)
	}
	d.Reset().ExtraHeaders(100)
	if resp, _, err := get(s, "example.test"); err != nil || resp.Header.Get("X-Pad-100") == "" {
		t.Errorf("ExtraHeaders: %v, %v", resp, err)
	}
	d.Reset().NoPolicy()
	if resp, _, err := get(s, "example.test"); err != nil || resp.StatusCode != 404 {
		t.Errorf("NoPolicy: %v, %v", resp, err)
	}
	// Other paths are not the policy.
	resp, err := s.HTTPClient().Get("https://mta-sts.example.test/")
	if err != nil || resp.StatusCode != 404 {
		t.Errorf("GET /: %v, %v", resp, err)
	}
	resp.Body.Close()
}

func TestPolicySize(t *testing.T) {
	s := mtaststest.NewServer(t)
	d := s.Domain("example.test")
	base := "version: STSv1\r\nmode: enforce\r\nmx: mx.example.test\r\nmax_age: 86400\r\n"
	for _, n := range []int64{
		int64(len(base)),            // nothing to add
		int64(len(base)) + 1,        // under one pad line: a blank line
		int64(len(base)) + 10,       // the shortest pad line
		int64(len(base)) + 1000 + 5, // a line, then less than the shortest
		mtasts.MaxPolicySize,        // the largest accepted
		mtasts.MaxPolicySize + 1,    // one too many
	} {
		d.PolicyText(base).PolicySize(n)
		resp, body, err := get(s, "example.test")
		if err != nil {
			t.Fatalf("size %d: %v", n, err)
		}
		if int64(len(body)) != n || resp.ContentLength != n || !strings.HasPrefix(string(body), base) {
			t.Errorf("size %d: got %d bytes (Content-Length %d)", n, len(body), resp.ContentLength)
		}
		p, err := mtasts.ParsePolicy(body)
		if err != nil {
			t.Errorf("size %d: padded policy does not parse: %v", n, err)
			continue
		}
		if blank := n-int64(len(base)) < 10 && n > int64(len(base)); blank != (len(p.Warnings) > 0) {
			t.Errorf("size %d: warnings %q", n, p.Warnings)
		}
	}

	// A huge size is an endless body: the client stops reading.
	d.PolicySize(1 << 40)
	resp, err := s.HTTPClient().Get("https://mta-sts.example.test" + mtaststest.PolicyPath)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if n != 1<<20 || err != nil || resp.ContentLength != 1<<40 {
		t.Errorf("endless body: read %d, %v; Content-Length %d", n, err, resp.ContentLength)
	}
}

func TestTrickle(t *testing.T) {
	s := mtaststest.NewServer(t)
	d := s.Domain("example.test").Policy(mtasts.ModeEnforce, 86400, "mx.example.test")

	// Quick enough to finish: every byte arrives.
	d.Trickle(time.Microsecond)
	if _, body, err := get(s, "example.test"); err != nil || !strings.HasPrefix(string(body), "version: STSv1") {
		t.Errorf("fast trickle: %q, %v", body, err)
	}

	// Too slow for the client's timeout.
	d.Trickle(time.Hour)
	c := s.HTTPClient()
	c.Timeout = 200 * time.Millisecond
	resp, err := c.Get("https://mta-sts.example.test" + mtaststest.PolicyPath)
	if err == nil {
		var body []byte
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Fatalf("slow trickle read %q without error", body)
		}
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("slow trickle: %v, want a timeout", err)
	}
	// Close does not wait an hour: the test's cleanup proves it.
}

func TestPolicyHostTLS(t *testing.T) {
	s := mtaststest.NewServer(t)
	d := s.Domain("example.test").Policy(mtasts.ModeEnforce, 86400, "mx.example.test")

	d.Certificate(mtaststest.CertExpired)
	_, _, err := get(s, "example.test")
	var invalid x509.CertificateInvalidError
	if !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
		t.Errorf("expired: %v", err)
	}
	d.Certificate(mtaststest.CertWrongName)
	_, _, err = get(s, "example.test")
	var host x509.HostnameError
	if !errors.As(err, &host) {
		t.Errorf("wrong name: %v", err)
	}
	d.Certificate(mtaststest.CertSelfSigned)
	_, _, err = get(s, "example.test")
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("self-signed: %v", err)
	}
	d.Certificate(mtaststest.CertValid).TLS11Only()
	if _, _, err = get(s, "example.test"); err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("TLS 1.1 only, client wants 1.2: %v", err)
	}
	// The host really speaks TLS 1.1 (not just nothing).
	conn, err := s.DialContext(t.Context(), "tcp", "mta-sts.example.test:443")
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(conn, &tls.Config{ServerName: "mta-sts.example.test", RootCAs: s.RootCAs(), MinVersion: tls.VersionTLS10})
	if err := tc.HandshakeContext(t.Context()); err != nil || tc.ConnectionState().Version != tls.VersionTLS11 {
		t.Errorf("TLS 1.1 client: %v, version %x", err, tc.ConnectionState().Version)
	}
	tc.Close()

	d.Reset()
	if _, _, err := get(s, "example.test"); err != nil {
		t.Errorf("after Reset: %v", err)
	}
	// A certificate from another CA is not trusted by the harness pool;
	// the harness CA is.
	if !s.CA().IsCA || !s.RootCAs().Equal(s.RootCAs()) {
		t.Error("CA or RootCAs wrong")
	}
}

func TestDialContext(t *testing.T) {
	s := mtaststest.NewServer(t)
	for _, addr := range []string{"example.test:443", "mta-sts.:443", "mta-sts.example.test:80", "mx.example.test:25", "127.0.0.1:443", "bad"} {
		conn, err := s.DialContext(t.Context(), "tcp", addr)
		if !errors.Is(err, mtaststest.ErrNotServed) {
			t.Errorf("dial %s: %v, want ErrNotServed", addr, err)
		}
		if conn != nil {
			conn.Close()
		}
	}
	conn, err := s.DialContext(t.Context(), "tcp", "MTA-STS.Example.Test.:443")
	if err != nil {
		t.Fatal(err)
	}
	if conn.RemoteAddr().String() != s.PolicyAddr() {
		t.Errorf("dialled %s, want %s", conn.RemoteAddr(), s.PolicyAddr())
	}
	conn.Close()
}

func TestClientLookup(t *testing.T) {
	s := mtaststest.NewServer(t)
	d := s.Domain("example.test").
		Record("1").
		Policy(mtasts.ModeEnforce, 86400, "mx1.example.test").
		MX(10, "mx1.example.test")
	c := s.Client()

	res, err := c.Lookup(t.Context(), "example.test")
	if err != nil {
		t.Fatal(err)
	}
	if res.Policy == nil || res.Mode() != mtasts.ModeEnforce || res.ID != "1" || res.Source != mtasts.SourceFetch {
		t.Fatalf("Lookup = %+v", res)
	}
	if d.Fetches() != 1 || d.RecordQueries() != 1 {
		t.Errorf("fetches %d, TXT queries %d; want 1 and 1", d.Fetches(), d.RecordQueries())
	}

	// A broken policy host on a new domain is a fetch failure result.
	s.Domain("broken.test").Record("1").Policy(mtasts.ModeEnforce, 86400, "mx.broken.test").Certificate(mtaststest.CertSelfSigned)
	res, err = c.Lookup(t.Context(), "broken.test")
	if err != nil || res.Policy != nil || res.Failure == "" {
		t.Errorf("self-signed policy host: %+v, %v", res, err)
	}
}

// Setup changes while lookups run: run with -race.
func TestConcurrentSetup(t *testing.T) {
	s := mtaststest.NewServer(t)
	d := s.Domain("example.test").Record("0").Policy(mtasts.ModeEnforce, 86400, "mx.example.test")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			r := s.Resolver()
			for ctx.Err() == nil {
				r.LookupTXT(ctx, d.RecordName())
				if resp, _, err := get(s, "example.test"); err == nil && resp.StatusCode != 200 && resp.StatusCode != 500 {
					t.Errorf("status %d", resp.StatusCode)
				}
			}
		})
	}
	for i := range 50 {
		d.Record(fmt.Sprint(i)).Status([]int{200, 500}[i%2])
	}
	cancel()
	wg.Wait()
}
