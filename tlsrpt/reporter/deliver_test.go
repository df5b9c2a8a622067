package reporter_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/strictmx/strictmx/internal/dialguard"
	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/resolver"
	"github.com/strictmx/strictmx/tlsrpt"
	"github.com/strictmx/strictmx/tlsrpt/reporter"
	"github.com/strictmx/strictmx/tlsrpt/tlsrpttest"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

var day = tlsrpt.DayOf(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC))

func sampleReport(t *testing.T) (*tlsrpt.Report, []byte) {
	t.Helper()
	var c tlsrpt.Collector
	c.Record(tlsrpt.Result{
		Policy: tlsrpt.Policy{Type: tlsrpt.PolicySTS, Domain: "example.net",
			String: []string{"version: STSv1", "mode: enforce", "mx: mx.example.net", "max_age: 86400"}, MXHost: []string{"mx.example.net"}},
		Time: day.Start().Add(time.Hour),
	})
	c.Record(tlsrpt.Result{
		Policy:     tlsrpt.Policy{Type: tlsrpt.PolicySTS, Domain: "example.net", String: []string{"version: STSv1", "mode: enforce", "mx: mx.example.net", "max_age: 86400"}, MXHost: []string{"mx.example.net"}},
		ResultType: tlsrpt.ResultCertificateExpired, MXHost: "mx.example.net", Time: day.Start().Add(2 * time.Hour),
	})
	a := c.Snapshot()[0]
	r, err := tlsrpt.BuildReport(a, "Sender Org", "tlsrpt@sender.example", tlsrpt.NewReportID(a.Key, "sender.example", 0xabc))
	if err != nil {
		t.Fatal(err)
	}
	js, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	gz, err := tlsrpt.Gzip(js)
	if err != nil {
		t.Fatal(err)
	}
	return r, gz
}

func TestFileName(t *testing.T) {
	got := tlsrpt.FileName("sender.example", "example.net", tlsrpt.DateRange{Start: day.Start(), End: day.End()}, "x1")
	// RFC 8460, Section 5.1: timestamps are the date range in Unix time.
	want := "sender.example!example.net!1795478400!1795564799!x1.json.gz"
	if got != want {
		t.Errorf("FileName = %q, want %q", got, want)
	}
}

func TestPostReport(t *testing.T) {
	_, gz := sampleReport(t)
	srv := tlsrpttest.NewHTTPSServer(t)
	codes := []int{200, 204, 500, 302, 404}
	srv.Status = func(n int) int { return codes[n-1] }
	ctx := context.Background()
	for i, code := range codes {
		err := reporter.PostReport(ctx, srv.ReportClient(), srv.URL+"/tlsrpt", gz)
		ok := code >= 200 && code < 300
		if ok != (err == nil) {
			t.Errorf("status %d: err = %v", code, err)
		}
		if !ok {
			var de *reporter.SendError
			if !errors.As(err, &de) || de.StatusCode != code || !errors.Is(err, reporter.ErrDelivery) {
				t.Errorf("status %d: error %v is not a SendError with the status", code, err)
			}
		}
		if n := len(srv.Posts()); n != i+1 {
			t.Fatalf("after %d requests the server saw %d (redirect followed?)", i+1, n)
		}
	}
	for _, p := range srv.Posts() {
		if p.Method != http.MethodPost || p.ContentType != "application/tlsrpt+gzip" || !bytes.Equal(p.Body, gz) {
			t.Errorf("request %s %s %q with %d bytes", p.Method, p.Path, p.ContentType, len(p.Body))
		}
	}
	if err := reporter.PostReport(ctx, nil, "http://example.invalid/", gz); !errors.Is(err, reporter.ErrUnsupportedURI) {
		t.Errorf("http: URI: %v", err)
	}
}

func buildMessage(t *testing.T, d *reporter.DKIM) []byte {
	t.Helper()
	r, gz := sampleReport(t)
	m := &reporter.Message{
		From: "tlsrpt@sender.example", To: "reports@example.net", Report: r, Gzip: gz,
		FileName:  tlsrpt.FileName("sender.example", "example.net", r.DateRange, "u1"),
		Date:      time.Date(2026, 11, 25, 1, 2, 3, 0, time.UTC),
		MessageID: "m1." + r.ReportID,
	}
	b, err := m.Build(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMessageGolden(t *testing.T) {
	b := buildMessage(t, nil)
	path := filepath.Join("testdata", "message.golden.eml")
	if *update {
		os.WriteFile(path, b, 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("message differs from %s:\n%s", path, b)
	}
}

func TestMessageDKIM(t *testing.T) {
	key, lookup := tlsrpttest.DKIMKey("sender.example", "s1")
	b := buildMessage(t, key)
	if err := tlsrpttest.ValidateMessage(b, lookup); err != nil {
		t.Fatal(err)
	}
	// go-msgauth's verifier, directly.
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(b), &dkim.VerifyOptions{LookupTXT: lookup})
	if err != nil || len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "sender.example" {
		t.Fatalf("verify: %v %+v", err, vs)
	}
	covered := strings.ToLower(strings.Join(vs[0].HeaderKeys, ":"))
	for _, h := range []string{"tls-report-domain", "tls-report-submitter", "from", "subject"} {
		if !strings.Contains(covered, h) {
			t.Errorf("h= does not cover %s: %s", h, covered)
		}
	}
	if strings.Contains(string(b[:bytes.Index(b, []byte("\r\n\r\n"))]), "; l=") {
		t.Error("signature has l=")
	}
	// A modified TLS-Report-Domain breaks the signature.
	bad := bytes.Replace(b, []byte("TLS-Report-Domain: example.net"), []byte("TLS-Report-Domain: example.org"), 1)
	if vs, _ := dkim.VerifyWithOptions(bytes.NewReader(bad), &dkim.VerifyOptions{LookupTXT: lookup}); len(vs) != 1 || vs[0].Err == nil {
		t.Error("signature survived a changed TLS-Report-Domain")
	}
	// Unsigned: the validator notices.
	if err := tlsrpttest.ValidateMessage(buildMessage(t, nil), nil); err == nil {
		t.Error("unsigned message passed")
	}
}

// TestMessageMIME parses the message with a MIME parser into exactly the
// parts a report mail has: a text/plain summary and the gzipped report.
func TestMessageMIME(t *testing.T) {
	_, gz := sampleReport(t)
	b := buildMessage(t, nil)
	msg, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"From", "To", "Date", "Message-Id", "Mime-Version", "Subject", "Tls-Report-Domain", "Tls-Report-Submitter", "Auto-Submitted", "Tls-Required"} {
		if n := len(msg.Header[h]); n != 1 {
			t.Errorf("header %s appears %d times", h, n)
		}
	}
	if got, want := msg.Header.Get("Subject"), "Report Domain: example.net Submitter: sender.example Report-ID: <20261124.example.net.abc@sender.example>"; got != want {
		t.Errorf("Subject = %q, want %q", got, want)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "tlsrpt" {
		t.Fatalf("Content-Type %q", msg.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var types []string
	var attachment []byte
	for {
		p, err := mr.NextPart() // decodes quoted-printable, not base64
		if err != nil {
			break
		}
		mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		types = append(types, mt)
		if mt == tlsrpt.MediaType {
			var buf bytes.Buffer
			buf.ReadFrom(p)
			attachment = buf.Bytes()
			if p.FileName() != "sender.example!example.net!1795478400!1795564799!u1.json.gz" {
				t.Errorf("file name %q", p.FileName())
			}
		}
	}
	if strings.Join(types, ",") != "text/plain,application/tlsrpt+gzip" {
		t.Fatalf("parts = %v", types)
	}
	dec, err := decodeBase64Lines(attachment)
	if err != nil || !bytes.Equal(dec, gz) {
		t.Errorf("attachment does not decode to the report gzip: %v", err)
	}
}

func TestRelayMailer(t *testing.T) {
	srv := tlsrpttest.NewSMTPServer(t, tlsrpttest.SMTPOptions{STARTTLS: true, Username: "u", Password: "p"})
	m := &reporter.RelayMailer{Addr: srv.Addr, TLS: "starttls", TLSConfig: srv.TLSConfig(), Username: "u", Password: "p", HelloName: "sender.example"}
	msg := buildMessage(t, nil)
	if err := m.Send(context.Background(), "tlsrpt@sender.example", "reports@example.net", msg); err != nil {
		t.Fatal(err)
	}
	got := srv.Messages()
	if len(got) != 1 || !bytes.Equal(got[0].Data, msg) || got[0].To != "reports@example.net" || !srv.OverTLS()[0] {
		t.Fatalf("relay got %+v (tls %v)", got, srv.OverTLS())
	}
	// Wrong password.
	m.Password = "x"
	if err := m.Send(context.Background(), "a@sender.example", "b@example.net", msg); err == nil {
		t.Error("wrong password accepted")
	}
	// STARTTLS required but not offered.
	plain := tlsrpttest.NewSMTPServer(t, tlsrpttest.SMTPOptions{})
	m2 := &reporter.RelayMailer{Addr: plain.Addr, TLS: "starttls"}
	if err := m2.Send(context.Background(), "a@sender.example", "b@example.net", msg); err == nil {
		t.Error("sent without the required STARTTLS")
	}
	// Plain text to a loopback relay.
	m2.TLS = ""
	if err := m2.Send(context.Background(), "a@sender.example", "b@example.net", msg); err != nil || len(plain.Messages()) != 1 {
		t.Errorf("plain relay: %v", err)
	}
}

type mxResolver map[string][]*net.MX

func (r mxResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	if mx, ok := r[name]; ok {
		return mx, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// redirectDialer sends every connection for a known host to a test server
// and refuses the others.
type redirectDialer map[string]string

func (d redirectDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, _ := net.SplitHostPort(addr)
	to, ok := d[host]
	if !ok {
		return nil, errors.New("connection refused (test)")
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, to)
}

func TestDirectMailer(t *testing.T) {
	// The MX has a certificate from an unknown CA: opportunistic TLS
	// ignores that (RFC 8460, Section 3).
	mx := tlsrpttest.NewSMTPServer(t, tlsrpttest.SMTPOptions{STARTTLS: true})
	m := &reporter.DirectMailer{
		Resolver:     mxResolver{"example.net": {{Host: "mx2.example.net.", Pref: 20}, {Host: "mx1.example.net.", Pref: 10}}},
		HelloName:    "sender.example",
		Dialer:       redirectDialer{"mx2.example.net": mx.Addr}, // mx1 refuses
		AllowPrivate: true,                                       // the test servers are on loopback
	}
	msg := buildMessage(t, nil)
	if err := m.Send(context.Background(), "tlsrpt@sender.example", "reports@example.net", msg); err != nil {
		t.Fatal(err)
	}
	if got := mx.Messages(); len(got) != 1 || !mx.OverTLS()[0] {
		t.Fatalf("MX got %d messages (tls %v)", len(got), mx.OverTLS())
	}
	// Implicit MX when there is no MX record; plain text when no STARTTLS.
	plain := tlsrpttest.NewSMTPServer(t, tlsrpttest.SMTPOptions{})
	m.Dialer = redirectDialer{"other.example": plain.Addr}
	if err := m.Send(context.Background(), "tlsrpt@sender.example", "r@other.example", msg); err != nil {
		t.Fatal(err)
	}
	if len(plain.Messages()) != 1 || plain.OverTLS()[0] {
		t.Error("implicit MX in plain text failed")
	}
	// Null MX.
	m.Resolver = mxResolver{"null.example": {{Host: ".", Pref: 0}}}
	if err := m.Send(context.Background(), "a@sender.example", "r@null.example", msg); !errors.Is(err, mtasts.ErrNullMX) {
		t.Errorf("send to a null MX domain: %v, want ErrNullMX", err)
	}
	// NXDOMAIN, told apart by the resolver, is not an implicit MX.
	gone := tlsrpttest.NewSMTPServer(t, tlsrpttest.SMTPOptions{})
	m.Resolver = nxResolver{}
	m.Dialer = redirectDialer{"gone.example": gone.Addr}
	if err := m.Send(context.Background(), "a@sender.example", "r@gone.example", msg); !errors.Is(err, mtasts.ErrNoSuchDomain) {
		t.Errorf("send to a domain that does not exist: %v, want ErrNoSuchDomain", err)
	}
	if len(gone.Messages()) != 0 {
		t.Error("NXDOMAIN taken for an implicit MX")
	}
}

// nxResolver answers NXDOMAIN the way resolver.Stub does.
type nxResolver struct{}

func (nxResolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true, UnwrapErr: resolver.ErrNXDOMAIN}
}

// The DirectMailer refuses MX hosts on non-public addresses unless
// AllowPrivate is set: before connecting with its own dialer, once
// connected with the caller's.
func TestDirectMailerDialGuard(t *testing.T) {
	mx := tlsrpttest.NewSMTPServer(t, tlsrpttest.SMTPOptions{})
	_, port, _ := net.SplitHostPort(mx.Addr)
	msg := buildMessage(t, nil)
	for _, tt := range []struct {
		name string
		m    *reporter.DirectMailer
	}{
		// "localhost" resolves to loopback through the system resolver.
		{"own dialer", &reporter.DirectMailer{
			Resolver: mxResolver{"example.net": {{Host: "localhost.", Pref: 10}}},
			Port:     port,
		}},
		{"caller's dialer", &reporter.DirectMailer{
			Resolver: mxResolver{"example.net": {{Host: "mx.example.net.", Pref: 10}}},
			Dialer:   redirectDialer{"mx.example.net": mx.Addr},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(mx.Messages())
			err := tt.m.Send(context.Background(), "a@sender.example", "r@example.net", msg)
			if !errors.Is(err, reporter.ErrDialGuard) || !errors.Is(err, dialguard.ErrRefused) {
				t.Fatalf("send to a loopback MX: %v, want ErrDialGuard", err)
			}
			if len(mx.Messages()) != before {
				t.Fatal("the loopback MX got the message")
			}
			tt.m.AllowPrivate = true
			if err := tt.m.Send(context.Background(), "a@sender.example", "r@example.net", msg); err != nil {
				t.Fatalf("with AllowPrivate: %v", err)
			}
			if len(mx.Messages()) != before+1 {
				t.Fatal("with AllowPrivate: no message")
			}
		})
	}
}

func decodeBase64Lines(b []byte) ([]byte, error) {
	s := strings.NewReplacer("\r", "", "\n", "").Replace(string(b))
	return base64.StdEncoding.DecodeString(s)
}

// TestNoRedirectClientPublicOnly: the default client refuses loopback,
// so a record cannot aim the sender at its own network.
func TestNoRedirectClientPublicOnly(t *testing.T) {
	srv := tlsrpttest.NewHTTPSServer(t)
	err := reporter.PostReport(context.Background(), nil, srv.URL+"/r", []byte{1})
	if !errors.Is(err, reporter.ErrDialGuard) || !errors.Is(err, dialguard.ErrRefused) || !errors.Is(err, reporter.ErrDelivery) {
		t.Errorf("POST to %s with the default client: %v, want ErrDialGuard", srv.URL, err)
	}
	if err == nil || !strings.Contains(err.Error(), "non-public") {
		t.Errorf("POST to %s: error text %q does not say why", srv.URL, err)
	}
	if len(srv.Posts()) != 0 {
		t.Error("the loopback server was reached")
	}
}
