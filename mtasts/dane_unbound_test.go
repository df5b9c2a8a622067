package mtasts_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strictmx/strictmx/internal/testpki"
	"github.com/strictmx/strictmx/internal/unboundtest"
	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/dane"
	"github.com/strictmx/strictmx/mtasts/resolver"
	"github.com/strictmx/strictmx/tlsrpt"
)

// With a real validating resolver (Debian's unbound, zones signed by
// ldns-signzone), a delivery to a DANE host succeeds only with a matching
// record; a broken signature on the TLSA RRset skips the host.
func TestDANEDeliveryUnbound(t *testing.T) {
	ca, err := testpki.New()
	if err != nil {
		t.Fatal(err)
	}
	// A certificate no root pool trusts for a name it does not have: only
	// DANE-EE can accept it.
	cert, err := ca.Leaf(testpki.LeafOptions{DNSNames: []string{"unrelated.example"}})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				_ = c.(*tls.Conn).Handshake()
			}()
		}
	}()
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	port, _ := strconv.Atoi(p)

	digest := unboundtest.SPKISHA256(leaf)
	wrong := strings.Repeat("00", 32)
	records := append(unboundtest.DANEMX("dane.test.", "mx.dane.test.", port, digest),
		unboundtest.DANEMX("wrong.dane.test.", "mx.wrong.dane.test.", port, wrong)...)
	records = append(records, unboundtest.DANEMX("bogus-tlsa.dane.test.", "mx.bogus-tlsa.dane.test.", port, digest)...)
	srv := unboundtest.New(t, unboundtest.Zone{Name: unboundtest.Signed, Records: records,
		Bogus: []string{"_" + p + "._tcp.mx.bogus-tlsa.dane.test."}})

	f := &dane.Finder{Resolver: &resolver.Stub{Servers: []string{srv.Addr()}}, Port: port}
	for _, tt := range []struct {
		domain string
		ok     bool
		rt     tlsrpt.ResultType
	}{
		{"dane.test", true, ""},
		{"wrong.dane.test", false, tlsrpt.ResultCertificateNotTrusted},
		{"bogus-tlsa.dane.test", false, tlsrpt.ResultDNSSECInvalid},
	} {
		t.Run(tt.domain, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			mx, _, sec, err := mtasts.ResolveMXSecure(ctx, f.Resolver, tt.domain)
			if err != nil || sec != resolver.Secure {
				t.Fatalf("MX %v %v, %v; want a secure MX RRset", mx, sec, err)
			}
			res := &mtasts.Result{Domain: tt.domain}
			plan := res.Plan(mx, mtasts.PlanOptions{MXSecurity: sec})
			plan.FindDANE(ctx, f)
			h := &plan.Hosts[0]
			var d mtasts.Decision
			if !h.Try {
				d = h.Skipped()
			} else {
				if !h.DANE {
					t.Fatalf("host plan %+v; want DANE", h)
				}
				conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), h.TLSConfig(nil))
				if err == nil {
					conn.Close()
				}
				d = h.Done(err)
			}
			if d.Deliver != tt.ok || d.TLSA.ResultType != tt.rt || !d.TLSA.Counted {
				t.Fatalf("decision %+v; want deliver=%v, tlsa %q", d, tt.ok, tt.rt)
			}
		})
	}
}
