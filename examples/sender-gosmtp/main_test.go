package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"strings"
	"testing"

	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/mtaststest"
)

func TestGoSMTPSender(t *testing.T) {
	s := mtaststest.NewServer(t)
	s.Domain("example.test").Record("1").
		Policy(mtasts.ModeEnforce, 86400, "mx1.example.test", "mx2.example.test").
		MXHost(10, "mx1.example.test", mtaststest.MXConfig{Certificate: mtaststest.CertWrongName}).
		MXHost(20, "mx2.example.test", mtaststest.MXConfig{})
	w := &world{client: s.Client(), mx: s.Resolver(), dial: s.DialContext, tls: &tls.Config{RootCAs: s.RootCAs()}}
	var out bytes.Buffer
	code := run(context.Background(), []string{"-from", "a@sender.test", "-to", "b@example.test"},
		strings.NewReader("Subject: hi\r\n\r\nhello\r\n"), &out, io.Discard, w)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "mx1.example.test: TLS or verification failed [certificate-host-mismatch]") {
		t.Fatalf("output:\n%s", out.String())
	}
	m := s.LookupMXHost("mx2.example.test").Messages()
	if len(m) != 1 || !m[0].TLS || m[0].ServerName != "mx2.example.test" {
		t.Fatalf("mx2 got %+v", m)
	}
	if !strings.Contains(out.String(), "mx2.example.test: delivered over TLS 1.") {
		t.Errorf("output does not say how the message went:\n%s", out.String())
	}
	// One connection per host: STARTTLS on the connection that said EHLO.
	for _, h := range []string{"mx1.example.test", "mx2.example.test"} {
		if n := s.LookupMXHost(h).Connections(); n != 1 {
			t.Errorf("%s: %d connections, want 1", h, n)
		}
	}

	// With every host bad, the failure is temporary.
	s.LookupMXHost("mx2.example.test").Configure(mtaststest.MXConfig{NoSTARTTLS: true})
	out.Reset()
	if code := run(context.Background(), []string{"-from", "a@sender.test", "-to", "b@example.test"},
		strings.NewReader("x"), &out, io.Discard, w); code != 75 {
		t.Fatalf("exit %d; want 75:\n%s", code, out.String())
	}
}

// The MX step: the implicit MX is tried; a null MX and a domain that does
// not exist are permanent failures; a failed MX lookup is temporary.
func TestMXOutcomes(t *testing.T) {
	s := mtaststest.NewServer(t)
	s.MXHost("", 0, "implicit.test", mtaststest.MXConfig{})
	s.A("implicit.test", "127.0.0.1") // exists, no MX: NODATA
	s.MX("null.test", 0, ".")
	s.A("servfail.test", "127.0.0.1").DNSFault("servfail.test", mtaststest.DNSServFail)
	w := &world{client: s.Client(), mx: s.Resolver(), dial: s.DialContext, tls: &tls.Config{RootCAs: s.RootCAs()}}
	for _, tt := range []struct {
		domain string
		code   int
		out    string
	}{
		{"implicit.test", 0, "implicit.test: delivered"},
		{"null.test", 1, "failed: " + mtasts.ErrNullMX.Error()},
		{"nope.test", 1, "failed: " + mtasts.ErrNoSuchDomain.Error()},
		{"servfail.test", 75, "temporary failure: " + mtasts.ErrDNSTemporary.Error()},
	} {
		var out bytes.Buffer
		code := run(context.Background(), []string{"-from", "a@sender.test", "-to", "b@" + tt.domain},
			strings.NewReader("Subject: hi\r\n\r\nhello\r\n"), &out, io.Discard, w)
		if code != tt.code || !strings.Contains(out.String(), tt.out) {
			t.Errorf("%s: exit %d, want %d with %q:\n%s", tt.domain, code, tt.code, tt.out, out.String())
		}
	}
}
