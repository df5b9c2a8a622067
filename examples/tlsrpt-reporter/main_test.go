package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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
	relay    *tlsrpttest.SMTPServer
	resolver resolver
	lookup   func(string) ([]string, error)
	opts     *options
	sent     chan string
}

func newWorld(t *testing.T, extra ...string) *world {
	t.Helper()
	w := &world{relay: tlsrpttest.NewSMTPServer(t, tlsrpttest.SMTPOptions{}), sent: make(chan string, 10),
		resolver: resolver{"_smtp._tls.example.net": {"v=TLSRPTv1; rua=mailto:reports@example.net"}}}
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
	w.opts, err = parseFlags(args, func(string) string { return "" }, io.Discard)
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
		resolver: w.resolver,
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
	noenv := func(string) string { return "" }
	base := []string{"-org", "x", "-contact", "a@b.example", "-relay", "h.example:25"}
	for _, args := range [][]string{
		{},
		{"-org", "x", "-contact", "a@b.example"},
		append(slices.Clone(base), "-dkim-key", "k.pem"),
		append(slices.Clone(base), "extra"),
		// Values found only when the first report was due, before.
		{"-org", "x", "-contact", "a@b.example", "-relay", "h.example"},
		{"-org", "x", "-contact", "a@b.example", "-relay", "h.example:smtp"},
		{"-org", "x", "-contact", "a@b.example", "-relay", "h.example:0"},
		append(slices.Clone(base), "-relay-tls", "start-tls"),
		append(slices.Clone(base), "-relay-tls", ""),
		append(slices.Clone(base), "-relay-tls", "none", "-relay-user", "u"),
		{"-org", "x", "-contact", "not an address", "-relay", "h.example:25"},
		append(slices.Clone(base), "-from", "nodomain"),
	} {
		if _, err := parseFlags(args, noenv, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
	o, err := parseFlags(base, func(k string) string {
		if k == "TLSRPT_RELAY_PASSWORD" {
			return "secret"
		}
		return ""
	}, io.Discard)
	if err != nil || o.relayPassword != "secret" || o.relayTLS != "starttls" {
		t.Errorf("parseFlags: %+v, %v", o, err)
	}
	// AUTH in plain text is for a relay on loopback only.
	if _, err := parseFlags([]string{"-org", "x", "-contact", "a@b.example", "-relay", "127.0.0.1:25", "-relay-tls", "none", "-relay-user", "u"}, noenv, io.Discard); err != nil {
		t.Errorf("plain AUTH to loopback refused: %v", err)
	}
	if _, err := loadKey(filepath.Join(t.TempDir(), "missing.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("loadKey: %v", err)
	}
}

// doubled finds a prefix said twice ("tlsrpt: tlsrpt: ...",
// "x: usage: x: ...").
var doubled = regexp.MustCompile(`\b([a-z][a-z0-9-]*): (?:[a-z]+: )?([a-z][a-z0-9-]*): `)

func checkNoDoubledPrefix(t *testing.T, out string) {
	t.Helper()
	for _, m := range doubled.FindAllStringSubmatch(out, -1) {
		if m[1] == m[2] {
			t.Errorf("doubled prefix %q in %q", m[0], out)
		}
	}
}

// cliRun runs the program in-process, as main does.
func cliRun(t *testing.T, ctx context.Context, d deps, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cli(ctx, args, func(string) string { return "" }, &out, &errOut, d)
	return out.String(), errOut.String(), code
}

// -h and -help ask for the usage: exit 0, on stdout. A usage error exits
// 2 with one message on stderr.
func TestUsage(t *testing.T) {
	for _, h := range []string{"-h", "-help", "--help"} {
		out, errOut, code := cliRun(t, t.Context(), deps{}, h)
		if code != exitOK || !strings.Contains(out, "usage: tlsrpt-reporter") || errOut != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", h, code, out, errOut)
		}
	}
	for _, args := range [][]string{
		{"-bogus"},
		{"-org", "x"},
		{"-org", "x", "-contact", "a@b.example", "-relay", "h.example:25", "-relay-tls", "ssl"},
		{"-org", "x", "-contact", "a@b.example", "-relay", "h.example"},
		{"-org", "x", "-contact", "a@", "-relay", "h.example:25"},
	} {
		out, errOut, code := cliRun(t, t.Context(), deps{}, args...)
		if code != exitUsage || out != "" || errOut == "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
		checkNoDoubledPrefix(t, errOut)
		// The message once, not from the flag package and again from main.
		first, _, _ := strings.Cut(errOut, "\n")
		if strings.Count(errOut, first) != 1 {
			t.Errorf("%q: message repeated: %q", args, errOut)
		}
	}
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// A relay that cannot be used is found at start-up, before any input is
// read; -no-relay-check skips the session but not the validation.
func TestRelayCheck(t *testing.T) {
	dir := t.TempDir()
	ready := func() { t.Error("input opened despite a failing relay") }
	for _, tc := range []struct {
		name  string
		relay string
		tls   string
	}{
		{"nothing listening", closedAddr(t), "none"},
		{"starttls not offered", tlsrpttest.NewSMTPServer(t, tlsrpttest.SMTPOptions{}).Addr, "starttls"},
	} {
		_, errOut, code := cliRun(t, t.Context(), deps{input: strings.NewReader(""), ready: ready},
			"-org", "x", "-contact", "a@b.example", "-relay", tc.relay, "-relay-tls", tc.tls, "-db", filepath.Join(dir, tc.name+".db"))
		if code != exitError || !strings.Contains(errOut, "relay check") {
			t.Errorf("%s: exit %d, stderr %q", tc.name, code, errOut)
		}
		checkNoDoubledPrefix(t, errOut)
	}

	// Skipped: the reporter starts.
	ctx, cancel := context.WithCancel(t.Context())
	started := make(chan struct{})
	done := make(chan int, 1)
	go func() {
		_, _, code := cliRun(t, ctx, deps{input: strings.NewReader(""), ready: func() { close(started) }},
			"-org", "x", "-contact", "a@b.example", "-relay", closedAddr(t), "-relay-tls", "none",
			"-no-relay-check", "-db", filepath.Join(dir, "skip.db"))
		done <- code
	}()
	wait(t, started)
	cancel()
	if code := wait(t, done); code != exitOK {
		t.Errorf("with -no-relay-check: exit %d", code)
	}
}

func TestAligned(t *testing.T) {
	for _, tc := range []struct {
		from, d string
		want    bool
	}{
		{"sender.example", "sender.example", true},
		{"reports.sender.example", "sender.example", true},
		{"sender.example", "mail.sender.example", true},
		{"Sender.Example", "sender.example", true},
		{"other.example", "sender.example", false},
		{"badsender.example", "sender.example", false},           // not a subdomain
		{"reports.sender.example", "mail.sender.example", false}, // a sibling: aligned for DMARC, warned about here
	} {
		if got := aligned(tc.from, tc.d); got != tc.want {
			t.Errorf("aligned(%q, %q) = %v", tc.from, tc.d, got)
		}
	}
}

// A From domain that cannot align with the DKIM domain is warned about at
// start-up; an aligned one is not.
func TestAlignmentWarning(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		from string
		warn bool
	}{
		{"reports@other.example", true},
		{"reports@sender.example", false},
		{"reports@mail.sender.example", false},
	} {
		// The relay check fails at once (nothing listens), after the
		// warnings.
		_, errOut, _ := cliRun(t, t.Context(), deps{input: strings.NewReader("")},
			"-org", "x", "-contact", "tlsrpt@sender.example", "-from", tc.from, "-dkim-key", "k.pem", "-dkim-selector", "s",
			"-relay", closedAddr(t), "-relay-tls", "none", "-db", filepath.Join(dir, "a.db"))
		if got := strings.Contains(errOut, "does not align"); got != tc.warn {
			t.Errorf("-from %s: warned %v, want %v:\n%s", tc.from, got, tc.warn, errOut)
		}
		if tc.warn && !strings.Contains(errOut, "level=WARN") {
			t.Errorf("-from %s: not a warning: %s", tc.from, errOut)
		}
	}
}

// -allow-private-https and -https-ca let reports go to a collector on the
// sender's own network; without them the dial guard refuses it.
func TestPrivateHTTPS(t *testing.T) {
	coll := tlsrpttest.NewHTTPSServer(t)
	uri := coll.URL + "/tlsrpt"
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: coll.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("allowed", func(t *testing.T) {
		w := newWorld(t, "-allow-private-https", "-https-ca", caFile)
		w.resolver = resolver{"_smtp._tls.example.net": {"v=TLSRPTv1; rua=" + uri}}
		_, done, cancel := w.start(t, strings.NewReader(input))
		if got := wait(t, w.sent); got != uri {
			t.Fatalf("sent to %s", got)
		}
		cancel()
		if err := wait(t, done); err != nil {
			t.Fatal(err)
		}
		posts := coll.Posts()
		if len(posts) != 1 || posts[0].ContentType != tlsrpt.MediaType {
			t.Fatalf("collector got %+v", posts)
		}
		zr, err := gzip.NewReader(bytes.NewReader(posts[0].Body))
		if err != nil {
			t.Fatal(err)
		}
		js, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlsrpttest.ValidateReportJSON(js); err != nil {
			t.Error(err)
		}
	})

	for _, tc := range []struct {
		name  string
		flags []string
		want  error // nil: any failure
	}{
		{"guard on", []string{"-https-ca", caFile}, reporter.ErrDialGuard},
		{"unknown CA", []string{"-allow-private-https"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.flags...)
			w.resolver = resolver{"_smtp._tls.example.net": {"v=TLSRPTv1; rua=" + uri}}
			failed := make(chan error, 10)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			d := deps{
				input: strings.NewReader(input), resolver: w.resolver,
				now:   func() time.Time { return time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC) },
				hooks: reporter.Hooks{Failed: func(k tlsrpt.Key, uri string, err error) { failed <- err }},
			}
			go func() { done <- run(ctx, w.opts, d, slog.New(slog.DiscardHandler)) }()
			err := wait(t, failed)
			cancel()
			wait(t, done)
			if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("delivery error %v, want %v", err, tc.want)
			}
		})
	}
	if n := len(coll.Posts()); n != 1 {
		t.Errorf("collector got %d posts, want only the allowed one", n)
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
