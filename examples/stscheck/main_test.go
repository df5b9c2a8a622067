package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/mtaststest"
	"github.com/strictmx/strictmx/tlsrpt"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// stscheck runs the program in-process.
func stscheck(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// decodeAll reads the stream of JSON documents of --json.
func decodeAll(t *testing.T, out string) []map[string]any {
	t.Helper()
	var docs []map[string]any
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("decoding --json output: %v\n%s", err, out)
		}
		docs = append(docs, doc)
	}
}

// field returns the value at a dotted path such as "policy.result_type".
func field(doc map[string]any, path string) any {
	var v any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// What each demo domain must come to: the verdict and the exit status of
// checking it alone. The golden files hold the rest.
var demoWant = map[string]struct {
	verdict string
	exit    int
}{
	"enforce-ok.test":        {verdictDeliver, 0},
	"testing-bad-cert.test":  {verdictDeliver, 1},
	"mx-outside-policy.test": {verdictDeliver, 1},
	"no-starttls.test":       {verdictTempFail, 1},
	"old-tls.test":           {verdictTempFail, 1},
	"no-policy.test":         {verdictOpportunisic, 0},
	"broken-policy.test":     {verdictOpportunisic, 1},
	"policy-warnings.test":   {verdictDeliver, 1},
	"bad-policy-host.test":   {verdictOpportunisic, 1},
	"two-records.test":       {verdictOpportunisic, 1},
	"dane-ok.test":           {verdictDeliver, 0},
	"dane-bad-digest.test":   {verdictTempFail, 1},
	"dane-beats-sts.test":    {verdictDeliver, 1},
	"dane-bogus-tlsa.test":   {verdictTempFail, 1},
}

// normalise replaces what changes from run to run in JSON output: times
// (in x509 errors), the harness's loopback ports, TLSA record data. Durations and
// certificate serials never appear in the JSON; if they ever do, the
// golden comparison will show it.
func normalise(s string) string {
	s = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})`).ReplaceAllString(s, "<time>")
	s = regexp.MustCompile(`127\.0\.0\.1:\d+`).ReplaceAllString(s, "127.0.0.1:<port>")
	// TLSA data: digests of keys the harness makes for each run.
	s = regexp.MustCompile(`("record": "\d+ \d+ \d+) [0-9A-F]+"`).ReplaceAllString(s, `$1 <data>"`)
	return s
}

// The JSON schema is a contract: each demo domain's document is compared
// with testdata/<domain>.json (go test -update rewrites them).
func TestDemoJSONGolden(t *testing.T) {
	names := demoNames()
	if len(names) != len(demoWant) {
		t.Fatalf("demo has %d domains, demoWant %d: keep them in step", len(names), len(demoWant))
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			out, errOut, code := stscheck(t, "--demo", "--json", name)
			want, ok := demoWant[name]
			if !ok {
				t.Fatalf("no expectation for demo domain %s", name)
			}
			if code != want.exit {
				t.Errorf("exit status %d, want %d (stderr %q)", code, want.exit, errOut)
			}
			docs := decodeAll(t, out)
			if len(docs) != 1 {
				t.Fatalf("%d JSON documents, want 1", len(docs))
			}
			if v := field(docs[0], "verdict"); v != want.verdict {
				t.Errorf("verdict %v, want %s", v, want.verdict)
			}
			// The problems are in the JSON too, and decide the exit status.
			problems, ok := docs[0]["problems"].([]any)
			if !ok || (len(problems) > 0) != (want.exit == exitProblems) {
				t.Errorf("problems = %v, want some exactly when the exit status is %d", docs[0]["problems"], exitProblems)
			}
			checkNoDoubledPrefix(t, out)
			got := normalise(out)
			golden := filepath.Join("testdata", name+".json")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			wantOut, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(wantOut) {
				t.Errorf("output differs from %s (go test -update rewrites it):\ngot:\n%s\nwant:\n%s", golden, got, wantOut)
			}
		})
	}
}

func demoNames() []string {
	var names []string
	for _, d := range demoDomains() {
		names = append(names, d.name)
	}
	return names
}

// The fields of a JSON document are exactly those documented.
func TestJSONFields(t *testing.T) {
	out, _, _ := stscheck(t, "--demo", "--json", "enforce-ok.test")
	docs := decodeAll(t, out)
	if len(docs) != 1 {
		t.Fatalf("%d documents, want 1", len(docs))
	}
	keys := func(m any) []string {
		mm, ok := m.(map[string]any)
		if !ok {
			t.Fatalf("%v is not an object", m)
		}
		var k []string
		for name := range mm {
			k = append(k, name)
		}
		slices.Sort(k)
		return k
	}
	check := func(what string, got, want []string) {
		t.Helper()
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s fields %v, want %v", what, got, want)
		}
	}
	doc := docs[0]
	check("top-level", keys(doc), []string{"domain", "record", "policy", "mx_error", "resolver_trusted", "mx_dnssec", "mx", "tlsrpt", "verdict", "problems"})
	check("record", keys(doc["record"]), []string{"found", "id", "error"})
	check("policy", keys(doc["policy"]), []string{"found", "mode", "mx", "max_age", "warnings", "error", "result_type"})
	check("tlsrpt", keys(doc["tlsrpt"]), []string{"found", "rua"})
	mx, ok := doc["mx"].([]any)
	if !ok || len(mx) == 0 {
		t.Fatalf("mx = %v, want a non-empty array", doc["mx"])
	}
	check("mx[0]", keys(mx[0]), []string{"host", "preference", "matches_policy", "starttls", "tls_version", "cert_valid", "decision", "result_type", "reason", "governed_by", "dane"})

	// The DANE fields, from a domain that has all of them.
	out, _, _ = stscheck(t, "--demo", "--json", "dane-ok.test")
	docs = decodeAll(t, out)
	if len(docs) != 1 {
		t.Fatalf("%d documents, want 1", len(docs))
	}
	d := docs[0]["mx"].([]any)[0].(map[string]any)["dane"]
	check("mx[0].dane", keys(d), []string{"steps", "target", "signed", "base_domain", "tlsa", "usable", "applies", "verdict", "result_type", "reason", "error"})
	steps, _ := d.(map[string]any)["steps"].([]any)
	tlsa, _ := d.(map[string]any)["tlsa"].([]any)
	if len(steps) == 0 || len(tlsa) == 0 {
		t.Fatalf("dane = %v, want steps and tlsa records", d)
	}
	check("mx[0].dane.steps[0]", keys(steps[0]), []string{"name", "type", "dnssec", "result", "records", "error"})
	check("mx[0].dane.tlsa[0]", keys(tlsa[0]), []string{"record", "usable", "note"})
}

// The human output of --demo names every demo domain with its verdict, in
// order.
func TestDemoHuman(t *testing.T) {
	out, errOut, code := stscheck(t, "--demo")
	if code != exitProblems {
		t.Errorf("exit status %d, want %d", code, exitProblems)
	}
	if errOut != "" {
		t.Errorf("stderr not empty: %q", errOut)
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("colour codes in output that is not a terminal")
	}
	checkNoDoubledPrefix(t, out)
	blocks := strings.Split(strings.TrimSpace(out), "\n\n")
	names := demoNames()
	if len(blocks) != len(names) {
		t.Fatalf("%d blocks of output, want %d:\n%s", len(blocks), len(names), out)
	}
	for i, b := range blocks {
		lines := strings.Split(b, "\n")
		if lines[0] != names[i] {
			t.Errorf("block %d is for %q, want %q", i, lines[0], names[i])
			continue
		}
		verdict := ""
		for _, l := range lines {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "verdict"); ok {
				verdict, _, _ = strings.Cut(strings.TrimSpace(rest), ":")
			}
		}
		if want := demoWant[names[i]].verdict; verdict != want {
			t.Errorf("%s: verdict %q, want %q", names[i], verdict, want)
		}
		hasProblems := strings.Contains(b, "\n  problems ")
		if want := demoWant[names[i]].exit == exitProblems; hasProblems != want {
			t.Errorf("%s: problems listed %v, want %v:\n%s", names[i], hasProblems, want, b)
		}
	}
}

// Results come out in the order of the arguments, whatever order the
// concurrent checks end in; flags may follow the domains.
func TestOrder(t *testing.T) {
	names := demoNames()
	slices.Reverse(names)
	args := append([]string{"--demo"}, names...)
	args = append(args, "--json")
	out, _, _ := stscheck(t, args...)
	docs := decodeAll(t, out)
	var got []string
	for _, d := range docs {
		got = append(got, d["domain"].(string))
	}
	if !slices.Equal(got, names) {
		t.Errorf("domains in order %v, want %v", got, names)
	}
}

func TestExitStatus(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		// Verdicts.
		{"all clean", []string{"--demo", "enforce-ok.test", "no-policy.test"}, exitOK},
		{"one with problems", []string{"--demo", "enforce-ok.test", "no-starttls.test"}, exitProblems},
		{"whole demo", []string{"--demo"}, exitProblems},
		// Usage asked for.
		{"help", []string{"-h"}, exitOK},
		{"help long", []string{"-help"}, exitOK},
		{"help GNU style", []string{"--help"}, exitOK},
		{"help after a domain", []string{"example.test", "-h"}, exitOK},
		// Usage errors.
		{"no domain", nil, exitUsage},
		{"unknown flag", []string{"--bogus", "example.test"}, exitUsage},
		{"bad domain", []string{"exa mple.test"}, exitUsage},
		{"empty label", []string{"a..test"}, exitUsage},
		{"IP literal", []string{"192.0.2.1"}, exitUsage},
		{"demo with dns", []string{"--demo", "--dns", "127.0.0.1:53"}, exitUsage},
		{"demo with ca", []string{"--demo", "--ca", "x.pem"}, exitUsage},
		{"demo with smtp port", []string{"--demo", "--smtp-port", "2525"}, exitUsage},
		{"ca-only alone", []string{"--ca-only", "example.test"}, exitUsage},
		{"zero timeout", []string{"--timeout", "0s", "example.test"}, exitUsage},
		{"bad timeout", []string{"--timeout", "soon", "example.test"}, exitUsage},
		{"port out of range", []string{"--smtp-port", "65536", "example.test"}, exitUsage},
		{"bad dns", []string{"--dns", "127.0.0.1:x:y", "example.test"}, exitUsage},
		{"missing ca file", []string{"--ca", filepath.Join(t.TempDir(), "none.pem"), "example.test"}, exitUsage},
		{"ca file without PEM", []string{"--ca", writeFile(t, "not a certificate"), "example.test"}, exitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := stscheck(t, tc.args...)
			if code != tc.want {
				t.Errorf("exit status %d, want %d\nstdout: %s\nstderr: %s", code, tc.want, out, errOut)
			}
			checkNoDoubledPrefix(t, out+errOut)
			if tc.want == exitUsage {
				if out != "" {
					t.Errorf("usage error wrote to stdout: %q", out)
				}
				if errOut == "" {
					t.Error("usage error printed nothing on stderr")
				}
				// Said once: not by the flag package and again by run.
				first, _, _ := strings.Cut(errOut, "\n")
				if strings.Count(errOut, first) != 1 {
					t.Errorf("message repeated: %q", errOut)
				}
			}
			if strings.HasPrefix(tc.name, "help") && (!strings.HasPrefix(out, "usage: stscheck") || errOut != "") {
				t.Errorf("help: stdout %q, stderr %q; want the usage on stdout", out, errOut)
			}
		})
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// harness is a world for checks through --dns: the program resolves with
// the harness DNS server and dials for real, like against the Internet.
type harness struct {
	s      *mtaststest.Server
	mx     *mtaststest.MXHost
	caFile string
	port   string // the MX host's port, for --smtp-port
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	s := mtaststest.NewServer(t)
	s.Domain("dns.test").
		Record("42").
		Policy(mtasts.ModeEnforce, 86400, "mx.dns.test").
		MXHost(10, "mx.dns.test", mtaststest.MXConfig{})
	s.TXT("_smtp._tls.dns.test", "v=TLSRPTv1; rua=mailto:tlsrpt@dns.test")
	// The policy host resolves to loopback, which the dial guard refuses.
	s.A("mta-sts.dns.test", "127.0.0.1")
	mx := s.LookupMXHost("mx.dns.test")
	_, port, err := net.SplitHostPort(mx.Addr())
	if err != nil {
		t.Fatal(err)
	}
	return &harness{s: s, mx: mx, caFile: writeFile(t, string(s.CertPEM())), port: port}
}

func (h *harness) args(extra ...string) []string {
	return append([]string{"--json", "--dns", h.s.DNSAddr(), "--ca", h.caFile, "--ca-only",
		"--smtp-port", h.port, "--timeout", "5s"}, extra...)
}

// With --dns every name is resolved by that server: the records, the MX
// hosts, and the policy host. The harness's policy host listens on a
// random port, not 443, so a real dialer cannot reach it: the fetch
// fails, here at the dial guard before any connection (the guard is on
// without --allow-private). The successful fetch path is covered by the
// --demo tests, which run the same code with the harness dialer; there is
// no test-only hook in the program.
func TestDNSFlag(t *testing.T) {
	h := newHarness(t)
	out, errOut, code := stscheck(t, h.args("dns.test")...)
	if code != exitProblems {
		t.Errorf("exit status %d, want %d (the policy fetch fails); stderr %q", code, exitProblems, errOut)
	}
	docs := decodeAll(t, out)
	if len(docs) != 1 {
		t.Fatalf("%d documents, want 1", len(docs))
	}
	doc := docs[0]
	for path, want := range map[string]any{
		"domain":             "dns.test",
		"record.found":       true,
		"record.id":          "42",
		"policy.found":       false,
		"policy.result_type": string(tlsrpt.ResultSTSPolicyFetchError),
		"tlsrpt.found":       true,
		"verdict":            verdictOpportunisic,
	} {
		if got := field(doc, path); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	if e, _ := field(doc, "policy.error").(string); !strings.Contains(e, mtasts.ErrDialGuard.Error()) {
		t.Errorf("policy.error %q does not name the dial guard", e)
	}
	if n := h.s.Queries("mta-sts.dns.test", "A"); n == 0 {
		t.Error("the policy host was not resolved through --dns")
	}
	if n := h.s.TotalFetches(); n != 0 {
		t.Errorf("%d fetches reached the harness policy host, want 0", n)
	}
	mx := doc["mx"].([]any)
	if len(mx) != 1 {
		t.Fatalf("mx = %v, want one host", mx)
	}
	m := mx[0].(map[string]any)
	for k, want := range map[string]any{
		"host": "mx.dns.test", "preference": 10.0, "matches_policy": true, "starttls": true,
		"cert_valid": true, "decision": decisionDeliver, "result_type": "",
	} {
		if m[k] != want {
			t.Errorf("mx[0].%s = %v, want %v", k, m[k], want)
		}
	}
	if v, _ := m["tls_version"].(string); !strings.HasPrefix(v, "TLS 1.") {
		t.Errorf("mx[0].tls_version = %q", v)
	}
	if got := h.mx.ServerNames(); !slices.Equal(got, []string{"mx.dns.test"}) {
		t.Errorf("MX host saw SNI %q, want [mx.dns.test]", got)
	}
	if n := h.mx.MessageCount(); n != 0 {
		t.Errorf("a probe sent %d messages", n)
	}
}

// Without --ca-only the harness CA is one more root beside the system's;
// without --ca the MX certificate does not validate (for display only: no
// policy applies, so delivery is opportunistic).
func TestCAFlags(t *testing.T) {
	h := newHarness(t)
	args := []string{"--json", "--dns", h.s.DNSAddr(), "--smtp-port", h.port, "--timeout", "5s"}
	for _, tc := range []struct {
		name  string
		extra []string
		valid bool
	}{
		{"system roots", nil, false},
		{"system roots and ca", []string{"--ca", h.caFile}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, _ := stscheck(t, append(append(slices.Clone(args), tc.extra...), "dns.test")...)
			docs := decodeAll(t, out)
			if len(docs) != 1 {
				t.Fatalf("%d documents", len(docs))
			}
			m := docs[0]["mx"].([]any)[0].(map[string]any)
			if m["cert_valid"] != tc.valid {
				t.Errorf("cert_valid = %v, want %v", m["cert_valid"], tc.valid)
			}
			if m["decision"] != decisionDeliver {
				t.Errorf("decision = %v, want deliver (no policy: opportunistic)", m["decision"])
			}
		})
	}
}

// --no-smtp makes no connection to the MX hosts and leaves their
// decisions open.
func TestNoSMTP(t *testing.T) {
	h := newHarness(t)
	out, _, _ := stscheck(t, h.args("--no-smtp", "dns.test")...)
	docs := decodeAll(t, out)
	if len(docs) != 1 {
		t.Fatalf("%d documents", len(docs))
	}
	if n := h.mx.Connections(); n != 0 {
		t.Errorf("%d connections to the MX host with --no-smtp", n)
	}
	m := docs[0]["mx"].([]any)[0].(map[string]any)
	if m["decision"] != "" || m["starttls"] != false || m["tls_version"] != "" {
		t.Errorf("mx[0] = %v, want no decision and no TLS facts", m)
	}

	// Under an enforce policy the verdict comes from the plan alone; a
	// host outside the policy is still skipped.
	out, _, _ = stscheck(t, "--demo", "--json", "--no-smtp", "enforce-ok.test", "mx-outside-policy.test")
	docs = decodeAll(t, out)
	if len(docs) != 2 {
		t.Fatalf("%d documents", len(docs))
	}
	for _, d := range docs {
		if d["verdict"] != verdictDeliver {
			t.Errorf("%s: verdict %v, want deliver", d["domain"], d["verdict"])
		}
	}
	mx := docs[1]["mx"].([]any)
	if d := mx[0].(map[string]any)["decision"]; d != "" {
		t.Errorf("allowed host decision %v, want none", d)
	}
	if d := mx[1].(map[string]any)["decision"]; d != decisionSkip {
		t.Errorf("host outside the policy: decision %v, want skip", d)
	}
}

// A domain that does not exist: no record, no MX, a problem.
func TestNonexistentDomain(t *testing.T) {
	h := newHarness(t)
	out, errOut, code := stscheck(t, h.args("nope.test")...)
	if code != exitProblems {
		t.Errorf("exit status %d, want %d; stderr %q", code, exitProblems, errOut)
	}
	docs := decodeAll(t, out)
	if len(docs) != 1 {
		t.Fatalf("%d documents", len(docs))
	}
	doc := docs[0]
	for path, want := range map[string]any{
		"record.found": false, "policy.found": false, "tlsrpt.found": false, "verdict": verdictUndeliverable,
	} {
		if got := field(doc, path); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	if e, _ := field(doc, "record.error").(string); !strings.Contains(e, mtasts.ErrNoRecord.Error()) {
		t.Errorf("record.error = %q", e)
	}
	if mx := doc["mx"].([]any); len(mx) != 0 {
		t.Errorf("mx = %v, want []", mx)
	}
	if e, _ := doc["mx_error"].(string); !strings.Contains(e, mtasts.ErrNoSuchDomain.Error()) {
		t.Errorf("mx_error = %q, want %q", e, mtasts.ErrNoSuchDomain)
	}
	if p := problemsOf(t, doc); len(p) != 1 || !strings.Contains(p[0], "nope.test does not exist") {
		t.Errorf("problems = %q", p)
	}

	human, _, _ := stscheck(t, "--demo", "nope.test")
	if !strings.Contains(human, "nope.test does not exist") {
		t.Errorf("human output does not say the domain does not exist:\n%s", human)
	}
}

// A domain without MX records is its own implicit MX (RFC 5321, Section
// 5.1), which must match the policy (a Spec note of package mtasts).
func TestImplicitMX(t *testing.T) {
	s := mtaststest.NewServer(t)
	mx := s.MXHost("", 0, "implicit.test", mtaststest.MXConfig{})
	s.A("implicit.test", "127.0.0.1")
	_, port, _ := net.SplitHostPort(mx.Addr())
	out, _, _ := stscheck(t, "--json", "--dns", s.DNSAddr(), "--ca", writeFile(t, string(s.CertPEM())), "--ca-only",
		"--smtp-port", port, "--timeout", "5s", "implicit.test")
	docs := decodeAll(t, out)
	if len(docs) != 1 {
		t.Fatalf("%d documents", len(docs))
	}
	m := docs[0]["mx"].([]any)
	if len(m) != 1 {
		t.Fatalf("mx = %v, want the implicit MX", m)
	}
	h := m[0].(map[string]any)
	if h["host"] != "implicit.test" || h["decision"] != decisionDeliver || h["cert_valid"] != true {
		t.Errorf("mx[0] = %v", h)
	}
}

// --allow-private turns the dial guard of the policy fetch off: the fetch
// then goes to 127.0.0.1:443, where the harness does not listen.
func TestAllowPrivate(t *testing.T) {
	h := newHarness(t)
	out, _, _ := stscheck(t, h.args("--allow-private", "--no-smtp", "dns.test")...)
	docs := decodeAll(t, out)
	if len(docs) != 1 {
		t.Fatalf("%d documents", len(docs))
	}
	e, _ := field(docs[0], "policy.error").(string)
	if e == "" || strings.Contains(e, mtasts.ErrDialGuard.Error()) {
		t.Errorf("policy.error = %q, want a failure other than the dial guard", e)
	}
}

func TestDNSServerFlag(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"127.0.0.1:5353", "127.0.0.1:5353"},
		{"127.0.0.1", "127.0.0.1:53"},
		{"::1", "[::1]:53"},
		{"[::1]:5353", "[::1]:5353"},
		{"resolver.example:53", "resolver.example:53"},
		{"resolver.example", "resolver.example:53"},
		// Refused.
		{"", ""},
		{"127.0.0.1:x:y", ""},
		{"127.0.0.1:0", ""},
		{"127.0.0.1:65536", ""},
		{"bad name:53", ""},
	} {
		got, err := dnsServer(tc.in)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("dnsServer(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// DNS outcomes other than records: a null MX (RFC 7505) is never tried
// and is not a problem; a failing MX lookup is.
func TestMXLookupOutcomes(t *testing.T) {
	s := mtaststest.NewServer(t)
	s.MX("nullmx.test", 0, ".")
	s.A("servfail.test", "127.0.0.1").DNSFault("servfail.test", mtaststest.DNSServFail)
	base := []string{"--json", "--dns", s.DNSAddr(), "--timeout", "5s"}

	out, _, code := stscheck(t, append(slices.Clone(base), "nullmx.test")...)
	docs := decodeAll(t, out)
	if len(docs) != 1 {
		t.Fatalf("%d documents", len(docs))
	}
	mx := docs[0]["mx"].([]any)
	if len(mx) != 1 {
		t.Fatalf("mx = %v, want the null MX", mx)
	}
	if m := mx[0].(map[string]any); m["host"] != "" || m["decision"] != decisionSkip || m["result_type"] != "" {
		t.Errorf("null MX = %v", m)
	}
	if code != exitOK {
		t.Errorf("null MX without MTA-STS: exit status %d, want 0", code)
	}
	// The domain says it takes no mail: a sender returns it at once. That
	// is the owner's choice, not a problem.
	if v, e, p := docs[0]["verdict"], docs[0]["mx_error"], problemsOf(t, docs[0]); v != verdictUndeliverable || e != "" || len(p) != 0 {
		t.Errorf("null MX: verdict %v, mx_error %q, problems %q; want %s, none, none", v, e, p, verdictUndeliverable)
	}

	// A null MX among other records (against RFC 7505, Section 3) still
	// says the domain accepts no mail: no other host is probed.
	s.MX("nullmix.test", 10, "mx.nullmix.test").MX("nullmix.test", 0, ".")
	out, _, _ = stscheck(t, append(slices.Clone(base), "nullmix.test")...)
	docs = decodeAll(t, out)
	if len(docs) != 1 {
		t.Fatalf("%d documents", len(docs))
	}
	if mx := docs[0]["mx"].([]any); len(mx) != 1 || mx[0].(map[string]any)["host"] != "" {
		t.Errorf("null MX among others: mx = %v, want the null MX alone", mx)
	}

	human, _, code := stscheck(t, "--dns", s.DNSAddr(), "--timeout", "5s", "servfail.test")
	if code != exitProblems {
		t.Errorf("SERVFAIL on MX: exit status %d, want %d", code, exitProblems)
	}
	if !strings.Contains(human, "MX lookup for servfail.test failed") {
		t.Errorf("output does not report the failed MX lookup:\n%s", human)
	}
	// A sender queues the mail and retries: a temporary failure, whatever
	// the policy, with the lookup's error in the JSON.
	out, _, code = stscheck(t, append(slices.Clone(base), "servfail.test")...)
	docs = decodeAll(t, out)
	if len(docs) != 1 {
		t.Fatalf("%d documents", len(docs))
	}
	if code != exitProblems {
		t.Errorf("SERVFAIL on MX, --json: exit status %d, want %d", code, exitProblems)
	}
	if v := docs[0]["verdict"]; v != verdictTempFail {
		t.Errorf("SERVFAIL on MX: verdict %v, want %s", v, verdictTempFail)
	}
	if e, _ := docs[0]["mx_error"].(string); !strings.Contains(e, mtasts.ErrDNSTemporary.Error()) {
		t.Errorf("SERVFAIL on MX: mx_error = %q, want %q", e, mtasts.ErrDNSTemporary)
	}
	if p := problemsOf(t, docs[0]); len(p) != 1 || !strings.Contains(p[0], "MX lookup for servfail.test failed") {
		t.Errorf("SERVFAIL on MX: problems = %q", p)
	}
}

// problemsOf returns the problems of a JSON document, which must be an
// array of strings.
func problemsOf(t *testing.T, doc map[string]any) []string {
	t.Helper()
	arr, ok := doc["problems"].([]any)
	if !ok {
		t.Fatalf("problems = %#v, want an array", doc["problems"])
	}
	var p []string
	for _, v := range arr {
		s, ok := v.(string)
		if !ok {
			t.Fatalf("problem %#v is not a string", v)
		}
		p = append(p, s)
	}
	return p
}

// doubled finds a prefix said twice ("tlsrpt: tlsrpt: ...",
// "stscheck: usage: stscheck: ...").
var doubled = regexp.MustCompile(`\b([a-z][a-z0-9-]*): (?:[a-z]+: )?([a-z][a-z0-9-]*): `)

func checkNoDoubledPrefix(t *testing.T, out string) {
	t.Helper()
	for _, m := range doubled.FindAllStringSubmatch(out, -1) {
		if m[1] == m[2] {
			t.Errorf("doubled prefix %q in %q", m[0], out)
		}
	}
}

// An unusable `_smtp._tls` record is a problem, named once as tlsrpt's.
func TestTLSRPTProblem(t *testing.T) {
	s := mtaststest.NewServer(t)
	s.MXHost("two.test", 10, "mx.two.test", mtaststest.MXConfig{})
	s.TXT("_smtp._tls.two.test", "v=TLSRPTv1; rua=mailto:a@two.test", "v=TLSRPTv1; rua=mailto:b@two.test")
	args := []string{"--dns", s.DNSAddr(), "--timeout", "5s", "--no-smtp", "two.test"}
	human, _, code := stscheck(t, args...)
	if code != exitProblems {
		t.Errorf("exit status %d, want %d", code, exitProblems)
	}
	checkNoDoubledPrefix(t, human)
	out, _, _ := stscheck(t, append([]string{"--json"}, args...)...)
	docs := decodeAll(t, out)
	if len(docs) != 1 {
		t.Fatalf("%d documents", len(docs))
	}
	p := problemsOf(t, docs[0])
	if len(p) != 1 || !strings.HasPrefix(p[0], tlsrpt.ErrMultipleRecords.Error()) {
		t.Errorf("problems = %q, want [%q]", p, tlsrpt.ErrMultipleRecords)
	}
}

// FuzzDNSServer: any --dns value is refused or gives a HOST:PORT that
// splits cleanly, with a port in range.
func FuzzDNSServer(f *testing.F) {
	f.Add("127.0.0.1:53")      // address and port
	f.Add("::1")               // bare IPv6, default port
	f.Add("[::1]:5353")        // bracketed IPv6
	f.Add("resolver.example")  // a name
	f.Add("127.0.0.1:x:y")     // too many colons
	f.Add("[127.0.0.1]:99999") // port out of range
	f.Add("\xff:53")           // not UTF-8
	f.Fuzz(func(t *testing.T, s string) {
		got, err := dnsServer(s)
		if err != nil {
			return
		}
		_, port, serr := net.SplitHostPort(got)
		if serr != nil || port == "0" || port == "" {
			t.Fatalf("dnsServer(%q) = %q, which does not split: %v", s, got, serr)
		}
	})
}

// The README's quick start names every demo domain and says that --demo
// exits 1.
func TestReadmeQuickStart(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, qs, _ := strings.Cut(string(b), "## Quick start")
	qs, _, _ = strings.Cut(qs, "\n## ")
	for _, name := range demoNames() {
		if !strings.Contains(qs, "`"+name+"`") {
			t.Errorf("README quick start does not list %s", name)
		}
	}
	if !strings.Contains(qs, "exits with status 1") {
		t.Error("README quick start does not say that --demo exits 1")
	}
}
