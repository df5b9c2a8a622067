package mtasts

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/strictmx/strictmx/internal/testpki"
	"github.com/strictmx/strictmx/tlsrpt"
)

// pki is one test CA and the certificates the tests need, made once.
var pki = sync.OnceValues(func() (*testWorld, error) {
	ca, err := testpki.New()
	if err != nil {
		return nil, err
	}
	other, err := testpki.New()
	if err != nil {
		return nil, err
	}
	w := &testWorld{ca: ca, certs: map[string]tls.Certificate{}}
	for name, opts := range map[string]testpki.LeafOptions{
		"valid":    {DNSNames: []string{"mx1.example.test"}},
		"wildcard": {DNSNames: []string{"*.example.test"}},
		"expired":  expiredLeaf("mx1.example.test"),
		"wrong":    {DNSNames: []string{"other.example.org"}},
		"domain":   {DNSNames: []string{"example.test"}},
		"self":     {DNSNames: []string{"mx1.example.test"}, SelfSigned: true},
	} {
		if w.certs[name], err = ca.Leaf(opts); err != nil {
			return nil, err
		}
	}
	if w.certs["unknown-ca"], err = other.Leaf(testpki.LeafOptions{DNSNames: []string{"mx1.example.test"}}); err != nil {
		return nil, err
	}
	return w, nil
})

func expiredLeaf(name string) testpki.LeafOptions {
	nb, na := testpki.ExpiredValidity()
	return testpki.LeafOptions{DNSNames: []string{name}, NotBefore: nb, NotAfter: na}
}

type testWorld struct {
	ca    *testpki.CA
	certs map[string]tls.Certificate
}

func world(t testing.TB) *testWorld {
	t.Helper()
	w, err := pki()
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// pipe returns the two ends of a loopback TCP connection (net.Pipe has no
// buffer, and a TLS 1.3 server writes its tickets while the client writes
// its Finished message). Both ends are closed when the test ends.
func pipe(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	deadline := time.Now().Add(30 * time.Second)
	_ = client.SetDeadline(deadline)
	_ = server.SetDeadline(deadline)
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// handshake runs a TLS handshake over loopback between a server with cert
// and a client with cfg, returning the client's error and the SNI the server
// saw.
func handshake(t testing.TB, cert tls.Certificate, maxVersion uint16, cfg *tls.Config) (sni string, err error) {
	t.Helper()
	c, s := pipe(t)
	srv := tls.Server(s, &tls.Config{
		Certificates: []tls.Certificate{cert},
		MaxVersion:   maxVersion,
		MinVersion:   tls.VersionTLS10,
		GetConfigForClient: func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
			sni = hi.ServerName
			return nil, nil
		},
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Handshake()
		s.Close()
	}()
	cli := tls.Client(c, cfg)
	err = cli.Handshake()
	c.Close()
	<-done
	return sni, err
}

func TestVerifyHandshakes(t *testing.T) {
	w := world(t)
	tests := []struct {
		cert       string
		maxVersion uint16
		rt         tlsrpt.ResultType
		reason     string
	}{
		{"valid", 0, "", ""},
		{"wildcard", 0, "", ""},
		{"expired", 0, tlsrpt.ResultCertificateExpired, ""},
		{"wrong", 0, tlsrpt.ResultCertificateHostMismatch, ""},
		// A certificate for the policy domain is not one for the MX host.
		{"domain", 0, tlsrpt.ResultCertificateHostMismatch, ""},
		{"self", 0, tlsrpt.ResultCertificateNotTrusted, tlsrpt.ReasonSelfSigned},
		{"unknown-ca", 0, tlsrpt.ResultCertificateNotTrusted, tlsrpt.ReasonUnknownCA},
		{"valid", tls.VersionTLS11, tlsrpt.ResultValidationFailure, tlsrpt.ReasonTLSVersion},
	}
	for _, mode := range []Mode{ModeEnforce, ModeTesting} {
		policy := enforcePolicy
		if mode == ModeTesting {
			policy = testingPolicy
		}
		for _, tt := range tests {
			t.Run(string(mode)+"/"+tt.cert+"/"+tls.VersionName(tt.maxVersion), func(t *testing.T) {
				plan := planFor(t, policy, "mx1.example.test.")
				h := &plan.Hosts[0]
				if !h.Try || !h.Verify || h.RequireTLS != (mode == ModeEnforce) {
					t.Fatalf("host plan %+v", h)
				}
				sni, err := handshake(t, w.certs[tt.cert], tt.maxVersion, h.TLSConfig(&tls.Config{RootCAs: w.ca.Pool()}))
				if sni != "mx1.example.test" {
					t.Errorf("server saw SNI %q", sni)
				}
				if mode == ModeTesting && err != nil {
					t.Fatalf("testing-mode handshake failed: %v", err)
				}
				if mode == ModeEnforce && (err == nil) != (tt.rt == "") {
					t.Fatalf("enforce handshake error %v; want failure %q", err, tt.rt)
				}
				d := h.Done(err)
				if d.ResultType != tt.rt || d.Reason != tt.reason || !d.Counted {
					t.Fatalf("decision %+v; want %q/%q", d, tt.rt, tt.reason)
				}
				wantDeliver := tt.rt == "" || mode == ModeTesting
				if d.Deliver != wantDeliver {
					t.Fatalf("Deliver = %v; want %v", d.Deliver, wantDeliver)
				}
				if tt.rt != "" && !errors.Is(d.Err, ErrCertificate) && !errors.Is(d.Err, ErrTLSVersion) {
					t.Fatalf("error %v is neither ErrCertificate nor ErrTLSVersion", d.Err)
				}
			})
		}
	}
}

// ticketHandshake runs a TLS handshake over loopback and reads one byte,
// so that a TLS 1.3 client gets the session ticket the server sends after
// the handshake (for a resumption with cfg's ClientSessionCache).
func ticketHandshake(t testing.TB, serverCfg, cfg *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	c, s := pipe(t)
	go func() {
		srv := tls.Server(s, serverCfg)
		if srv.Handshake() == nil {
			_, _ = srv.Write([]byte("x"))
		}
		s.Close()
	}()
	cli := tls.Client(c, cfg)
	if err := cli.Handshake(); err != nil {
		return tls.ConnectionState{}, err
	}
	buf := make([]byte, 1)
	_, _ = cli.Read(buf)
	return cli.ConnectionState(), nil
}

func TestVerifyResumedSession(t *testing.T) {
	w := world(t)
	// The server's certificate expires between the first handshake and the
	// resumption: verification must run again and see it.
	cache := tls.NewLRUClientSessionCache(4)
	clock := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	cert, err := w.ca.Leaf(testpki.LeafOptions{DNSNames: []string{"mx1.example.test"}, NotAfter: clock.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	serverCfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	run := func(now time.Time) (tls.ConnectionState, error) {
		plan := planFor(t, enforcePolicy, "mx1.example.test")
		cfg := plan.Hosts[0].TLSConfig(&tls.Config{RootCAs: w.ca.Pool(), ClientSessionCache: cache, Time: func() time.Time { return now }})
		return ticketHandshake(t, serverCfg, cfg)
	}
	if _, err := run(clock); err != nil {
		t.Fatal(err)
	}
	st, err := run(clock)
	if err != nil || !st.DidResume {
		t.Fatalf("second handshake: resumed=%v err=%v; want a resumed session", st.DidResume, err)
	}
	if _, err := run(clock.Add(2 * time.Hour)); err == nil {
		t.Fatal("resumed session with an expired certificate was accepted")
	}
}

// sameRecord answers every TXT lookup with one `_mta-sts` record, so that
// CheckID finds the cached policy's id unchanged.
type sameRecord string

func (r sameRecord) LookupTXT(context.Context, string) ([]string, error) {
	return []string{string(r)}, nil
}

// A HostPlan taken by value out of Plan.Hosts records into the same state
// as the element itself: Replan and Done see what a copy recorded.
func TestHostPlanCopiesShareState(t *testing.T) {
	ctx := context.Background()
	t.Run("enforce", func(t *testing.T) {
		c := &Client{Resolver: sameRecord("v=STSv1; id=1;")}
		r, err := c.Preload(ctx, "example.test", "1", []byte(enforcePolicy))
		if err != nil {
			t.Fatal(err)
		}
		plan := r.Plan(benchMX()[:2], PlanOptions{}) // a.mx and b.mx, both in the policy
		for _, h := range plan.Hosts {
			h.TLSConfig(nil)
			certErr := &CertificateError{Host: h.Host, ResultType: tlsrpt.ResultCertificateExpired, Err: errors.New("expired")}
			if d := h.Done(certErr); d.Deliver || d.ResultType != tlsrpt.ResultCertificateExpired {
				t.Fatalf("%s: decision %+v", h.Host, d)
			}
		}
		next, err := c.Replan(ctx, plan)
		var derr *NoAcceptableMXError
		if next != nil || !errors.As(err, &derr) {
			t.Fatalf("Replan = %v, %v; want a NoAcceptableMXError", next, err)
		}
		if len(derr.Hosts) != len(plan.Hosts) {
			t.Fatalf("Replan decisions %+v; want %d", derr.Hosts, len(plan.Hosts))
		}
		for i, d := range derr.Hosts {
			if d.Host != plan.Hosts[i].Host || d.ResultType != tlsrpt.ResultCertificateExpired ||
				!errors.Is(d.Err, ErrCertificate) || errors.Is(d.Err, ErrMXMismatch) {
				t.Errorf("Replan decision %+v; want the certificate failure Done recorded", d)
			}
		}
	})
	t.Run("testing", func(t *testing.T) {
		// What a copy's TLSConfig records in a testing handshake is judged
		// by Done on the element.
		plan := planFor(t, testingPolicy, "mx1.example.test")
		for _, h := range plan.Hosts {
			cfg := h.TLSConfig(nil)
			if err := cfg.VerifyConnection(tls.ConnectionState{Version: tls.VersionTLS11}); err != nil {
				t.Fatalf("testing-mode VerifyConnection failed: %v", err)
			}
		}
		d := plan.Hosts[0].Done(nil)
		if !d.Deliver || d.ResultType != tlsrpt.ResultValidationFailure || d.Reason != tlsrpt.ReasonTLSVersion || !errors.Is(d.Err, ErrTLSVersion) {
			t.Fatalf("decision %+v; want the TLS version failure the copy recorded", d)
		}
	})
}

// BenchmarkHandshakeVerified compares a handshake verified by HostPlan's
// TLSConfig with one verified by crypto/tls itself (same roots, same name).
func BenchmarkHandshakeVerified(b *testing.B) {
	w := world(b)
	cert := w.certs["valid"]
	b.Run("crypto-tls", func(b *testing.B) {
		cfg := &tls.Config{RootCAs: w.ca.Pool(), ServerName: "mx1.example.test", MinVersion: tls.VersionTLS12}
		for b.Loop() {
			if _, err := handshake(b, cert, 0, cfg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("mtasts", func(b *testing.B) {
		plan := planFor(b, enforcePolicy, "mx1.example.test")
		base := &tls.Config{RootCAs: w.ca.Pool()}
		for b.Loop() {
			if _, err := handshake(b, cert, 0, plan.Hosts[0].TLSConfig(base)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
