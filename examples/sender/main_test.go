package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/mtaststest"
	"github.com/strictmx/strictmx/tlsrpt"
)

const message = "From: a@sender.test\r\nTo: b@example.test\r\nSubject: hi\r\n\r\nhello\r\n"

func testEnv(s *mtaststest.Server) *env {
	return &env{
		client: s.Client(),
		mx:     s.Resolver(),
		res:    s.Resolver(),
		dial:   s.DialContext,
		tls:    &tls.Config{RootCAs: s.RootCAs()},
	}
}

// send runs the command against the harness and returns its exit status,
// its output and the session results it wrote.
func sendTo(t *testing.T, s *mtaststest.Server, e *env, rcpt string, extra ...string) (int, string, []tlsrpt.Result) {
	t.Helper()
	if e == nil {
		e = testEnv(s)
	}
	results := filepath.Join(t.TempDir(), "results.jsonl")
	var out, errOut bytes.Buffer
	args := append([]string{"-from", "a@sender.test", "-to", rcpt, "-helo", "sender.test", "-results", results}, extra...)
	code := run(context.Background(), args, strings.NewReader(message), &out, &errOut, e)
	if errOut.Len() > 0 {
		t.Logf("stderr: %s", errOut.String())
	}
	return code, out.String(), readResults(t, results)
}

// readResults reads the session results the sender wrote with -results,
// one JSON line each.
func readResults(t *testing.T, path string) []tlsrpt.Result {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rs []tlsrpt.Result
	dec := json.NewDecoder(bytes.NewReader(data))
	for dec.More() {
		var r tlsrpt.Result
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	return rs
}

func TestEnforceDeliversOverVerifiedTLS(t *testing.T) {
	s := mtaststest.NewServer(t)
	s.Domain("example.test").Record("1").
		Policy(mtasts.ModeEnforce, 86400, "*.example.test").
		MXHost(10, "mx1.example.test", mtaststest.MXConfig{})
	code, out, rs := sendTo(t, s, nil, "b@example.test")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	msgs := s.LookupMXHost("mx1.example.test").Messages()
	if len(msgs) != 1 || !msgs[0].TLS || msgs[0].ServerName != "mx1.example.test" || !bytes.Contains(msgs[0].Data, []byte("hello")) {
		t.Fatalf("MX received %+v", msgs)
	}
	if len(rs) != 1 || rs[0].ResultType != "" || rs[0].Policy.Type != tlsrpt.PolicySTS || !rs[0].ReceivingIP.IsLoopback() {
		t.Fatalf("results %+v", rs)
	}
}

// Every failure class under enforce: the host is skipped and, with no other
// host, the message is deferred (exit 75), never bounced.
func TestEnforceFailuresAreTemporary(t *testing.T) {
	tests := []struct {
		name string
		cfg  mtaststest.MXConfig
		rt   tlsrpt.ResultType
	}{
		{"expired", mtaststest.MXConfig{Certificate: mtaststest.CertExpired}, tlsrpt.ResultCertificateExpired},
		{"wrong name", mtaststest.MXConfig{Certificate: mtaststest.CertWrongName}, tlsrpt.ResultCertificateHostMismatch},
		{"policy domain's certificate", mtaststest.MXConfig{CertNames: []string{"example.test"}}, tlsrpt.ResultCertificateHostMismatch},
		{"self-signed", mtaststest.MXConfig{Certificate: mtaststest.CertSelfSigned}, tlsrpt.ResultCertificateNotTrusted},
		{"no STARTTLS", mtaststest.MXConfig{NoSTARTTLS: true}, tlsrpt.ResultSTARTTLSNotSupported},
		{"TLS 1.1 only", mtaststest.MXConfig{TLS11Only: true}, tlsrpt.ResultValidationFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mtaststest.NewServer(t)
			s.Domain("example.test").Record("1").
				Policy(mtasts.ModeEnforce, 86400, "mx1.example.test").
				MXHost(10, "mx1.example.test", tt.cfg)
			code, out, rs := sendTo(t, s, nil, "b@example.test")
			if code != exitTempFail || !strings.Contains(out, "temporary failure") {
				t.Fatalf("exit %d; want %d:\n%s", code, exitTempFail, out)
			}
			if n := s.LookupMXHost("mx1.example.test").MessageCount(); n != 0 {
				t.Fatalf("the MX received %d messages", n)
			}
			if len(rs) != 1 || rs[0].ResultType != tt.rt {
				t.Fatalf("results %+v; want one %s", rs, tt.rt)
			}
		})
	}
}

func TestFallsThroughToNextMX(t *testing.T) {
	s := mtaststest.NewServer(t)
	s.Domain("example.test").Record("1").
		Policy(mtasts.ModeEnforce, 86400, "mx1.example.test", "mx2.example.test").
		MXHost(5, "evil.example.org", mtaststest.MXConfig{}).
		MXHost(10, "mx1.example.test", mtaststest.MXConfig{Certificate: mtaststest.CertExpired}).
		MXHost(20, "mx2.example.test", mtaststest.MXConfig{})
	code, out, rs := sendTo(t, s, nil, "b@example.test")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if s.LookupMXHost("evil.example.org").Connections() != 0 {
		t.Fatal("an MX outside the enforce policy was contacted")
	}
	if s.LookupMXHost("mx2.example.test").MessageCount() != 1 {
		t.Fatalf("mx2 did not get the message:\n%s", out)
	}
	var types []string
	for _, r := range rs {
		types = append(types, string(r.ResultType)+"/"+r.ReasonCode)
	}
	if got := strings.Join(types, ","); got != "validation-failure/mtasts-policy-mx-mismatch,certificate-expired/,/" {
		t.Fatalf("results %s", got)
	}
}

func TestTestingModeDeliversAndReports(t *testing.T) {
	s := mtaststest.NewServer(t)
	s.Domain("example.test").Record("1").
		Policy(mtasts.ModeTesting, 86400, "mx1.example.test").
		MXHost(10, "mx1.example.test", mtaststest.MXConfig{Certificate: mtaststest.CertSelfSigned})
	code, out, rs := sendTo(t, s, nil, "b@example.test")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if len(rs) != 1 || rs[0].ResultType != tlsrpt.ResultCertificateNotTrusted {
		t.Fatalf("results %+v", rs)
	}
	if m := s.LookupMXHost("mx1.example.test").Messages(); len(m) != 1 {
		t.Fatalf("messages %+v", m)
	}
}

// RFC 8461, Section 5.1: before an enforce failure is final the id is
// checked; a new policy gives a new plan at once.
func TestNewPolicyDuringDelivery(t *testing.T) {
	s := mtaststest.NewServer(t)
	d := s.Domain("example.test").Record("1").
		Policy(mtasts.ModeEnforce, 86400, "old.example.test").
		MXHost(10, "new.example.test", mtaststest.MXConfig{})
	e := testEnv(s)
	if _, err := e.client.Lookup(context.Background(), "example.test"); err != nil {
		t.Fatal(err)
	}
	d.Record("2").Policy(mtasts.ModeEnforce, 86400, "new.example.test")
	code, out, _ := sendTo(t, s, e, "b@example.test")
	if code != exitOK || !strings.Contains(out, "policy changed (id 2)") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func TestNoPolicyOpportunistic(t *testing.T) {
	s := mtaststest.NewServer(t)
	s.Domain("plain.test").MXHost(10, "mx.plain.test", mtaststest.MXConfig{NoSTARTTLS: true})
	code, out, rs := sendTo(t, s, nil, "b@plain.test")
	// No policy: the session is reported as no-policy-found, a failure
	// because the host does not offer STARTTLS.
	if code != exitOK || len(rs) != 1 || rs[0].Policy.Type != tlsrpt.PolicyNoPolicyFound ||
		rs[0].ResultType != tlsrpt.ResultSTARTTLSNotSupported {
		t.Fatalf("exit %d, results %+v:\n%s", code, rs, out)
	}
	if m := s.LookupMXHost("mx.plain.test").Messages(); len(m) != 1 || m[0].TLS {
		t.Fatalf("messages %+v", m)
	}
}

// RFC 8460, Sections 3 and 5.3.1: a report goes out despite MTA-STS
// failures and is not itself reported.
func TestReportTraffic(t *testing.T) {
	s := mtaststest.NewServer(t)
	s.Domain("example.test").Record("1").
		Policy(mtasts.ModeEnforce, 86400, "mx1.example.test").
		MXHost(10, "mx1.example.test", mtaststest.MXConfig{Certificate: mtaststest.CertExpired})
	code, out, rs := sendTo(t, s, nil, "tlsrpt@example.test", "-report")
	if code != exitOK || len(rs) != 0 {
		t.Fatalf("exit %d, results %+v:\n%s", code, rs, out)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-from", "a@b.test"},
		{"-from", "a@b.test", "-to", "nodomain"},
		{"-from", "a@b.test", "-to", "x@a.test,y@b.test"},
		{"-from", "a@b.test", "-to", "x@a.test", "extra"},
		{"-bogus"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, strings.NewReader(""), &out, &errOut, &env{}); code != exitUsage {
			t.Errorf("run(%q) = %d; want %d", args, code, exitUsage)
		}
	}
}

// The MX step (mtasts.ResolveMX): the implicit MX is tried like any host;
// a null MX and a domain that does not exist are permanent failures (exit
// 1); a failed MX lookup is temporary (exit 75).
func TestMXOutcomes(t *testing.T) {
	s := mtaststest.NewServer(t)
	s.MXHost("", 0, "implicit.test", mtaststest.MXConfig{})
	s.A("implicit.test", "127.0.0.1") // exists, no MX: NODATA
	s.MX("null.test", 0, ".")
	s.A("servfail.test", "127.0.0.1").DNSFault("servfail.test", mtaststest.DNSServFail)
	for _, tt := range []struct {
		domain string
		code   int
		out    string
	}{
		{"implicit.test", exitOK, "implicit.test"},
		{"null.test", exitError, "failed: " + mtasts.ErrNullMX.Error()},
		{"nope.test", exitError, "failed: " + mtasts.ErrNoSuchDomain.Error()},
		{"servfail.test", exitTempFail, "temporary failure, try again later: temporary failure: " + mtasts.ErrDNSTemporary.Error()},
	} {
		code, out, _ := sendTo(t, s, nil, "b@"+tt.domain)
		if code != tt.code || !strings.Contains(out, tt.out) {
			t.Errorf("%s: exit %d, want %d with %q:\n%s", tt.domain, code, tt.code, tt.out, out)
		}
	}
	if n := s.LookupMXHost("implicit.test").MessageCount(); n != 1 {
		t.Errorf("the implicit MX got %d messages", n)
	}
}
