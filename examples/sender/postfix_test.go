package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strictmx/strictmx/internal/postfixtest"
	"github.com/strictmx/strictmx/internal/testpki"
	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/mtaststest"
	"github.com/strictmx/strictmx/tlsrpt"
	"github.com/strictmx/strictmx/tlsrpt/tlsrpttest"
)

// postfixWorld is an mtaststest world (DNS and the policy host) whose MX
// host mx1.example.test is a real Postfix: its A record is 127.0.0.1 and
// the sender reaches Postfix's port with -port. Postfix relays what it
// accepts to a recording server.
type postfixWorld struct {
	s    *mtaststest.Server
	pf   *postfixtest.Server
	rec  *tlsrpttest.SMTPServer
	args []string
}

// newPostfixWorld starts Postfix for mx1.example.test presenting a
// certificate made as mtaststest makes one in mode (by a CA of its own,
// which -ca trusts next to the harness CA), or without STARTTLS.
func newPostfixWorld(t *testing.T, mode mtaststest.CertMode, noSTARTTLS bool) *postfixWorld {
	t.Helper()
	const host = "mx1.example.test"
	ca, err := testpki.New()
	if err != nil {
		t.Fatal(err)
	}
	opts := testpki.LeafOptions{DNSNames: []string{host}}
	switch mode {
	case mtaststest.CertExpired:
		opts.NotBefore, opts.NotAfter = testpki.ExpiredValidity()
	case mtaststest.CertWrongName:
		opts.DNSNames = []string{"wrong-name." + host}
	case mtaststest.CertSelfSigned:
		opts.SelfSigned = true
	}
	leaf, err := ca.Leaf(opts)
	if err != nil {
		t.Fatal(err)
	}
	cfg := postfixtest.Config{Hostname: host, Domains: []string{"example.test"}}
	if !noSTARTTLS {
		cfg.Certificate = &leaf
	}
	w := &postfixWorld{s: mtaststest.NewServer(t), rec: tlsrpttest.NewSMTPServer(t, tlsrpttest.SMTPOptions{})}
	cfg.RelayHost = w.rec.Addr
	w.pf = postfixtest.Start(t, cfg)

	d := w.s.Domain("example.test").Record("1").Policy(mtasts.ModeEnforce, 86400, host).MX(10, host)
	w.s.A(host, "127.0.0.1").A(d.PolicyHost(), "127.0.0.1")
	_, mxPort, err := net.SplitHostPort(w.pf.Addr)
	if err != nil {
		t.Fatal(err)
	}
	_, policyPort, err := net.SplitHostPort(w.s.PolicyAddr())
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, append(w.s.CertPEM(), ca.CertPEM()...), 0o600); err != nil {
		t.Fatal(err)
	}
	w.args = []string{"-dns", w.s.DNSAddr(), "-ca", caFile, "-allow-private",
		"-port", mxPort, "-policy-port", policyPort, "-timeout", "20s"}
	return w
}

// sendWithFlags runs the sender with nothing but flags and returns its
// exit status, output and session results.
func sendWithFlags(t *testing.T, args ...string) (int, string, []tlsrpt.Result) {
	t.Helper()
	results := filepath.Join(t.TempDir(), "results.jsonl")
	args = append([]string{"-from", "a@sender.test", "-to", "b@example.test", "-helo", "sender.test", "-results", results}, args...)
	var out, errOut bytes.Buffer
	code := run(t.Context(), args, strings.NewReader(message), &out, &errOut, nil)
	if errOut.Len() > 0 {
		t.Logf("stderr: %s", errOut.String())
	}
	return code, out.String(), readResults(t, results)
}

// Under enforce the sender delivers to a real Postfix through STARTTLS,
// the certificate validated for the MX host; Postfix relays the message
// on, and its Received header records the TLS session.
func TestPostfixEnforceDelivers(t *testing.T) {
	w := newPostfixWorld(t, mtaststest.CertValid, false)
	code, out, rs := sendWithFlags(t, w.args...)
	if code != exitOK || !strings.Contains(out, "policy for example.test: enforce") || !strings.Contains(out, "delivered over TLS") {
		t.Fatalf("exit %d:\n%s%s", code, out, w.pf.Log())
	}
	if len(rs) != 1 || rs[0].ResultType != "" || rs[0].MXHost != "mx1.example.test" || !rs[0].ReceivingIP.IsLoopback() {
		t.Fatalf("results %+v", rs)
	}
	m := waitRelayed(t, w)
	if m.From != "a@sender.test" || m.To != "b@example.test" || !bytes.Contains(m.Data, []byte("\r\n\r\nhello\r\n")) {
		t.Fatalf("relayed %+v", m)
	}
	if !bytes.Contains(m.Data, []byte("by mx1.example.test (Postfix)")) || !bytes.Contains(m.Data, []byte("(using TLS")) {
		t.Errorf("no Received header of a TLS session by Postfix:\n%s", m.Data)
	}
}

// Each failure under enforce is classified against Postfix exactly as
// against mtaststest's MX host: the same exit status, TLS-RPT result type
// and reason code; and Postfix is sent nothing.
func TestPostfixFailuresMatchHarness(t *testing.T) {
	tests := []struct {
		name       string
		mode       mtaststest.CertMode
		noSTARTTLS bool
		rt         tlsrpt.ResultType
	}{
		{"expired", mtaststest.CertExpired, false, tlsrpt.ResultCertificateExpired},
		{"wrong name", mtaststest.CertWrongName, false, tlsrpt.ResultCertificateHostMismatch},
		{"self-signed", mtaststest.CertSelfSigned, false, tlsrpt.ResultCertificateNotTrusted},
		{"no STARTTLS", mtaststest.CertValid, true, tlsrpt.ResultSTARTTLSNotSupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pw := newPostfixWorld(t, tt.mode, tt.noSTARTTLS)
			pCode, pOut, pRes := sendWithFlags(t, pw.args...)

			hw := newFlagWorld(t, mtasts.ModeEnforce, mtaststest.MXConfig{Certificate: tt.mode, NoSTARTTLS: tt.noSTARTTLS})
			hCode, hOut, hRes := sendWithFlags(t, append(hw.args, "-allow-private")...)

			if pCode != exitTempFail || hCode != exitTempFail {
				t.Fatalf("exit %d against Postfix, %d against the harness; want %d:\n%s\n%s", pCode, hCode, exitTempFail, pOut, hOut)
			}
			if len(pRes) != 1 || len(hRes) != 1 {
				t.Fatalf("results against Postfix %+v, against the harness %+v; want one each", pRes, hRes)
			}
			p, h := pRes[0], hRes[0]
			t.Logf("against Postfix %s/%s, against the harness %s/%s", p.ResultType, p.ReasonCode, h.ResultType, h.ReasonCode)
			if p.ResultType != tt.rt || p.ResultType != h.ResultType || p.ReasonCode != h.ReasonCode {
				t.Errorf("against Postfix %s/%s, against the harness %s/%s; want %s for both",
					p.ResultType, p.ReasonCode, h.ResultType, h.ReasonCode, tt.rt)
			}
			if p.Policy.Type != tlsrpt.PolicySTS || p.MXHost != h.MXHost {
				t.Errorf("against Postfix %+v, against the harness %+v", p, h)
			}
			if n := hw.mx.MessageCount(); n != 0 {
				t.Errorf("the harness MX received %d messages", n)
			}
			if n := len(pw.rec.Messages()); n != 0 {
				t.Errorf("Postfix relayed %d messages", n)
			}
		})
	}
}

// waitRelayed polls the recording server behind Postfix for the one
// message, with a deadline.
func waitRelayed(t *testing.T, w *postfixWorld) tlsrpttest.Mail {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := w.rec.Messages(); len(m) > 0 {
			if len(m) > 1 {
				t.Fatalf("%d messages relayed, want 1", len(m))
			}
			return m[0]
		}
		select {
		case <-deadline.C:
			t.Fatalf("Postfix relayed nothing within 30s%s", w.pf.Log())
		case <-tick.C:
		}
	}
}
