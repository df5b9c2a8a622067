package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/mtaststest"
)

// flagWorld is a harness world reached through the flags alone: -dns for
// every name (the records, the policy host, the MX host), -ca for the
// harness CA, -allow-private for loopback, -port and -policy-port for the
// harness's listeners. No in-process hook is involved.
type flagWorld struct {
	s  *mtaststest.Server
	mx *mtaststest.MXHost
	// args aim the sender at the world, without -allow-private.
	args []string
}

func newFlagWorld(t *testing.T, mode mtasts.Mode, cfg mtaststest.MXConfig) *flagWorld {
	t.Helper()
	s := mtaststest.NewServer(t)
	d := s.Domain("example.test").MXHost(10, "mx1.example.test", cfg)
	if mode != "" {
		d.Record("1").Policy(mode, 86400, "mx1.example.test")
	}
	s.A(d.PolicyHost(), "127.0.0.1")
	mx := s.LookupMXHost("mx1.example.test")
	_, mxPort, err := net.SplitHostPort(mx.Addr())
	if err != nil {
		t.Fatal(err)
	}
	_, policyPort, err := net.SplitHostPort(s.PolicyAddr())
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, s.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return &flagWorld{s: s, mx: mx, args: []string{
		"-dns", s.DNSAddr(), "-ca", ca, "-port", mxPort, "-policy-port", policyPort, "-timeout", "10s",
	}}
}

// send runs the sender with nothing but flags.
func (w *flagWorld) send(t *testing.T, extra ...string) (int, string) {
	t.Helper()
	args := append([]string{"-from", "a@sender.test", "-to", "b@example.test", "-helo", "sender.test"}, w.args...)
	var out, errOut bytes.Buffer
	code := run(context.Background(), append(args, extra...), strings.NewReader(message), &out, &errOut, nil)
	if errOut.Len() > 0 {
		t.Logf("stderr: %s", errOut.String())
	}
	return code, out.String()
}

// checkResolved fails unless the policy host and the MX host were resolved
// through -dns.
func (w *flagWorld) checkResolved(t *testing.T) {
	t.Helper()
	for _, name := range []string{"mta-sts.example.test", "mx1.example.test"} {
		if w.s.Queries(name, "A") == 0 {
			t.Errorf("%s was not resolved through -dns", name)
		}
	}
}

func TestFlagsEnforce(t *testing.T) {
	w := newFlagWorld(t, mtasts.ModeEnforce, mtaststest.MXConfig{})
	code, out := w.send(t, "-allow-private")
	if code != exitOK || !strings.Contains(out, "policy for example.test: enforce") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	w.checkResolved(t)
	if n := w.s.Fetches("example.test"); n != 1 {
		t.Errorf("%d policy fetches, want 1", n)
	}
	m := w.mx.Messages()
	if len(m) != 1 || !m[0].TLS || m[0].ServerName != "mx1.example.test" {
		t.Fatalf("MX received %+v", m)
	}
	// One connection per TLS delivery: EHLO, STARTTLS and the message on
	// one session.
	if n := w.mx.Connections(); n != 1 {
		t.Errorf("%d connections for one TLS delivery, want 1", n)
	}
}

// Under testing a certificate that fails validation is reported, and the
// handshake, which the verifier let through, carries the message: on the
// one connection.
func TestFlagsTestingBadCertificate(t *testing.T) {
	w := newFlagWorld(t, mtasts.ModeTesting, mtaststest.MXConfig{Certificate: mtaststest.CertSelfSigned})
	code, out := w.send(t, "-allow-private", "-results", filepath.Join(t.TempDir(), "r.jsonl"))
	if code != exitOK || !strings.Contains(out, "delivered over TLS") || !strings.Contains(out, "[certificate-not-trusted") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	w.checkResolved(t)
	if m := w.mx.Messages(); len(m) != 1 || !m[0].TLS {
		t.Fatalf("MX received %+v", m)
	}
	if n := w.mx.Connections(); n != 1 {
		t.Errorf("%d connections for one TLS delivery, want 1", n)
	}
}

// A host without STARTTLS under testing gets the message in plain text, on
// the connection that found STARTTLS missing.
func TestFlagsNoSTARTTLS(t *testing.T) {
	w := newFlagWorld(t, mtasts.ModeTesting, mtaststest.MXConfig{NoSTARTTLS: true})
	code, out := w.send(t, "-allow-private")
	if code != exitOK || !strings.Contains(out, "starttls-not-supported") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if m := w.mx.Messages(); len(m) != 1 || m[0].TLS {
		t.Fatalf("MX received %+v", m)
	}
	if n := w.mx.Connections(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// Without -allow-private neither the policy host nor the MX host (both on
// loopback) is connected to: the policy fetch fails at the dial guard and
// the MX host is not reached, so the message waits.
func TestFlagsPrivateRefused(t *testing.T) {
	w := newFlagWorld(t, mtasts.ModeEnforce, mtaststest.MXConfig{})
	code, out := w.send(t)
	if code != exitTempFail {
		t.Fatalf("exit %d; want %d:\n%s", code, exitTempFail, out)
	}
	if !strings.Contains(out, mtasts.ErrDialGuard.Error()) || !strings.Contains(out, "not reached") {
		t.Errorf("output does not say what was refused:\n%s", out)
	}
	w.checkResolved(t)
	if n := w.s.TotalFetches(); n != 0 {
		t.Errorf("%d fetches reached the policy host", n)
	}
	if n := w.mx.Connections(); n != 0 {
		t.Errorf("%d connections reached the MX host", n)
	}
}

// -h and -help print the usage on stdout and exit 0; a usage error prints
// it on stderr and exits 2, as the other examples do.
func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help"} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), []string{arg}, strings.NewReader(""), &out, &errOut, nil)
		if code != exitOK || !strings.Contains(out.String(), "usage: sender") || !strings.Contains(out.String(), "-allow-private") || errOut.Len() != 0 {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 0 and the usage on stdout", arg, code, out.String(), errOut.String())
		}
	}
	for _, args := range [][]string{{"-bogus"}, {"-from", "a@b.test"}} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), args, strings.NewReader(""), &out, &errOut, nil)
		if code != exitUsage || !strings.Contains(errOut.String(), "usage: sender") || out.Len() != 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and the usage on stderr", args, code, out.String(), errOut.String())
		}
	}
}
