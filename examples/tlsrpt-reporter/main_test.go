package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strictmx/strictmx/internal/redistest"
	"github.com/strictmx/strictmx/tlsrpt"
	"github.com/strictmx/strictmx/tlsrpt/reporter"
	"github.com/strictmx/strictmx/tlsrpt/tlsrpttest"
)

type resolver map[string][]string

func (r resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	if v, ok := r[name]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

const input = `{"policy":{"type":"sts","domain":"example.net","string":["version: STSv1","mode: enforce","mx: mx.example.net","max_age: 86400"],"mx_host":["mx.example.net"]},"mx_host":"mx.example.net","time":"2026-11-24T10:00:00Z"}
{"policy":{"type":"sts","domain":"example.net","string":["version: STSv1","mode: enforce","mx: mx.example.net","max_age: 86400"],"mx_host":["mx.example.net"]},"mx_host":"mx.example.net","time":"2026-11-24T11:00:00Z"}
{"policy":{"type":"sts","domain":"example.net","string":["version: STSv1","mode: enforce","mx: mx.example.net","max_age: 86400"],"mx_host":["mx.example.net"]},"mx_host":"mx.example.net","receiving_ip":"2001:db8:0::25","result_type":"certificate-expired","time":"2026-11-24T23:59:59.999Z"}
{"policy":{"type":"no-policy-found","domain":"example.net"},"report_traffic":true,"time":"2026-11-24T12:00:00Z"}
this line is not JSON
{"policy":{"type":"bogus","domain":"example.net"}}
`

// world runs the reporter in-process against a recording relay.
type world struct {
	relay  *tlsrpttest.SMTPServer
	lookup func(string) ([]string, error)
	opts   *options
	sent   chan string
}

func newWorld(t *testing.T, extra ...string) *world {
	t.Helper()
	w := &world{relay: tlsrpttest.NewSMTPServer(t, tlsrpttest.SMTPOptions{}), sent: make(chan string, 10)}
	key, lookup := tlsrpttest.DKIMKey("sender.example", "tlsrpt")
	w.lookup = lookup
	der, err := x509.MarshalPKCS8PrivateKey(key.Key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "dkim.pem")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	args := append([]string{
		"-org", "Sender Org", "-contact", "tlsrpt@sender.example",
		"-dkim-key", keyFile, "-dkim-selector", "tlsrpt",
		"-relay", w.relay.Addr, "-relay-tls", "none",
		"-db", filepath.Join(dir, "tlsrpt.db"), "-max-delay", "0", "-poll", "10ms", "-flush", "10ms",
	}, extra...)
	w.opts, err = parseFlags(args, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) start(t *testing.T, in io.Reader) (ready chan struct{}, done chan error, cancel func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ready, done = make(chan struct{}), make(chan error, 1)
	d := deps{
		input:    in,
		resolver: resolver{"_smtp._tls.example.net": {"v=TLSRPTv1; rua=mailto:reports@example.net"}},
		now:      func() time.Time { return time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC) },
		hooks:    reporter.Hooks{Sent: func(k tlsrpt.Key, uri string) { w.sent <- uri }},
		ready:    func() { close(ready) },
	}
	go func() { done <- run(ctx, w.opts, d, slog.New(slog.DiscardHandler)) }()
	return ready, done, cancel
}

// wait bounds a wait for the reporter (a deadline, not a timing assertion).
func wait[T any](t *testing.T, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(30 * time.Second):
		t.Fatal("timed out")
		var zero T
		return zero
	}
}

func (w *world) check(t *testing.T) {
	t.Helper()
	if uri := wait(t, w.sent); uri != "mailto:reports@example.net" {
		t.Fatalf("sent to %s", uri)
	}
	msgs := w.relay.Messages()
	if len(msgs) != 1 {
		t.Fatalf("relay got %d messages", len(msgs))
	}
	if err := tlsrpttest.ValidateMessage(msgs[0].Data, w.lookup); err != nil {
		t.Fatal(err)
	}
	// The counts: two successes and the failure at 23:59:59.999; the
	// report traffic and the bad lines are not counted.
	body := string(msgs[0].Data)
	for _, want := range []string{"Successful sessions: 2", "Failed sessions: 1", "Report Domain: example.net"} {
		if !strings.Contains(body, want) {
			t.Errorf("message lacks %q", want)
		}
	}
}

func TestReporterStdin(t *testing.T) {
	w := newWorld(t)
	_, done, cancel := w.start(t, strings.NewReader(input))
	w.check(t)
	cancel()
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
}

func TestReporterSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "r.sock")
	w := newWorld(t, "-socket", sock)
	ready, done, cancel := w.start(t, nil)
	wait(t, ready)
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(conn, input)
	conn.Close()
	w.check(t)
	cancel()
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-org", "x", "-contact", "a@b.example"},
		{"-org", "x", "-contact", "a@b.example", "-relay", "h:25", "-dkim-key", "k.pem"},
	} {
		if _, err := parseFlags(args, func(string) string { return "" }); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
	o, err := parseFlags([]string{"-org", "x", "-contact", "a@b.example", "-relay", "h:25"}, func(k string) string {
		if k == "TLSRPT_RELAY_PASSWORD" {
			return "secret"
		}
		return ""
	})
	if err != nil || o.relayPassword != "secret" || o.relayTLS != "starttls" {
		t.Errorf("parseFlags: %+v, %v", o, err)
	}
	if _, err := loadKey(filepath.Join(t.TempDir(), "missing.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("loadKey: %v", err)
	}
}

func TestReporterRedis(t *testing.T) {
	addr := redistest.Start(t)
	w := newWorld(t, "-redis", addr)
	_, done, cancel := w.start(t, strings.NewReader(input))
	w.check(t)
	cancel()
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
}
