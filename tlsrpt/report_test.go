package tlsrpt

import (
	"bytes"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/strictmx/strictmx/tlsrpt/internal/reportcheck"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file:\n got: %s\nwant: %s", name, got, want)
	}
}

var testDay = DayOf(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC))

var stsLines = []string{"version: STSv1", "mode: enforce", "mx: mx1.example.net", "mx: *.backup.example.net", "max_age: 604800"}

func baseReport() *Report {
	return &Report{
		OrganizationName: "Example Sender",
		DateRange:        DateRange{testDay.Start(), testDay.End()},
		ContactInfo:      "tlsrpt@sender.example",
		ReportID:         "2026-11-24.abc123@sender.example",
	}
}

func stsPolicy() Policy {
	return Policy{Type: PolicySTS, String: stsLines, Domain: "example.net", MXHost: []string{"mx1.example.net", "*.backup.example.net"}}
}

func goldenReports() map[string]*Report {
	m := map[string]*Report{}

	// A report where every session succeeded (the heartbeat).
	r := baseReport()
	r.Policies = []PolicyResult{{Policy: stsPolicy(), Summary: Summary{TotalSuccessfulSessionCount: 42}}}
	m["all-success"] = r

	// IPv6 in canonical form; an unknown IP is left out, never "".
	r = baseReport()
	r.Policies = []PolicyResult{{
		Policy:  stsPolicy(),
		Summary: Summary{10, 3},
		FailureDetails: []FailureDetail{
			{ResultType: ResultCertificateExpired, SendingMTAIP: netip.MustParseAddr("2001:0db8:0000:0000:0000:0000:0000:0001"),
				ReceivingMXHostname: "mx1.example.net", FailedSessionCount: 2},
			{ResultType: ResultValidationFailure, ReceivingIP: netip.MustParseAddr("::ffff:192.0.2.7").Unmap(),
				ReceivingMXHostname: "evil.example.org", FailureReasonCode: ReasonMXMismatch, FailedSessionCount: 1,
				ReceivingMXHelo: "evil.example.org ESMTP"},
		},
	}}
	m["ipv6-and-unknown-ip"] = r

	// A policy that changed mid-day gives two policies.
	r = baseReport()
	p2 := stsPolicy()
	p2.String = []string{"version: STSv1", "mode: testing", "mx: mx2.example.net", "max_age: 86400"}
	p2.MXHost = []string{"mx2.example.net"}
	r.Policies = []PolicyResult{
		{Policy: stsPolicy(), Summary: Summary{5, 0}},
		{Policy: p2, Summary: Summary{7, 1}, FailureDetails: []FailureDetail{
			{ResultType: ResultSTARTTLSNotSupported, ReceivingMXHostname: "mx2.example.net", FailedSessionCount: 1,
				AdditionalInformation: "https://sender.example/tlsrpt/help#starttls"},
		}},
	}
	m["policy-changed-mid-day"] = r

	// DANE and no policy.
	r = baseReport()
	r.Policies = []PolicyResult{
		{Policy: Policy{Type: PolicyTLSA, String: []string{"3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6"}, Domain: "mx.example.org"},
			Summary: Summary{1, 1}, FailureDetails: []FailureDetail{{ResultType: ResultTLSAInvalid, FailedSessionCount: 1}}},
		{Policy: Policy{Type: PolicyNoPolicyFound, Domain: "example.com"}, Summary: Summary{3, 0}},
	}
	m["tlsa-and-no-policy"] = r
	return m
}

func TestReportGolden(t *testing.T) {
	for name, r := range goldenReports() {
		t.Run(name, func(t *testing.T) {
			b, err := r.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name+".json", b)
			if _, err := reportcheck.JSON(b); err != nil {
				t.Errorf("encoded report fails the check: %v", err)
			}
			// Round trip: decoding gives the same report back.
			back, err := ParseReport(b)
			if err != nil {
				t.Fatal(err)
			}
			b2, err := back.Marshal()
			if err != nil || !bytes.Equal(b, b2) {
				t.Errorf("re-encoding differs (%v):\n%s", err, b2)
			}
			for _, s := range []string{"null", `""`} {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("output contains %s", s)
				}
			}
		})
	}
}

func TestMarshalIPs(t *testing.T) {
	r := goldenReports()["ipv6-and-unknown-ip"]
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"sending-mta-ip": "2001:db8::1"`, `"receiving-ip": "192.0.2.7"`} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %s in\n%s", want, s)
		}
	}
	if strings.Count(s, "ip\"") != 2 {
		t.Errorf("unknown IPs must be omitted:\n%s", s)
	}
}

func TestParseReportAppendixB(t *testing.T) {
	in, err := os.ReadFile("testdata/rfc8460-appendix-b.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseReport(in)
	if err != nil {
		t.Fatal(err)
	}
	p := r.Policies[0]
	// Each known defect of the example, corrected.
	if got := p.Policy.MXHost; !reflect.DeepEqual(got, []string{"*.mail.company-y.example"}) {
		t.Errorf("mx-host = %q", got)
	}
	if got := p.FailureDetails[0].SendingMTAIP.String(); got != "2001:db8:abcd:12::1" {
		t.Errorf("sending-mta-ip = %s", got)
	}
	if got := p.FailureDetails[1].AdditionalInformation; got != "https://reports.company-x.example/report_info?id=5065427c-23d3#StarttlsNotSupported" {
		t.Errorf("additional-information = %q", got)
	}
	if got := p.FailureDetails[2].FailureReasonCode; got != "X509_V_ERR_PROOF_OF_POSSESSION" {
		t.Errorf("failure-error-code not read: %q", got)
	}
	if r.ReportID != "5065427c-23d3-47ca-b6e0-946ea0e8c4be@company-x.example" {
		t.Errorf("report-id = %q", r.ReportID)
	}
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "rfc8460-appendix-b.golden.json", b)
	if _, err := reportcheck.JSON(b); err != nil {
		t.Error(err)
	}
	// The original is rejected by the check: it is the defective form.
	if _, err := reportcheck.JSON(in); err == nil {
		t.Error("Appendix B as printed passes the check")
	}
}

func TestParseReportGzip(t *testing.T) {
	b, _ := goldenReports()["all-success"].Marshal()
	gz, err := Gzip(b)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseReport(gz)
	if err != nil || r.Policies[0].Summary.TotalSuccessfulSessionCount != 42 {
		t.Fatalf("ParseReport(gzip) = %+v, %v", r, err)
	}
}

func TestParseReportErrors(t *testing.T) {
	for name, in := range map[string]string{
		"not json":           "{",
		"array":              "[]",
		"float count":        `{"date-range":{"start-datetime":"2026-01-01T00:00:00Z","end-datetime":"2026-01-01T23:59:59Z"},"policies":[{"policy":{"policy-type":"sts","policy-domain":"a.example"},"summary":{"total-successful-session-count":1.5}}]}`,
		"unknown policytype": `{"date-range":{"start-datetime":"2026-01-01T00:00:00Z","end-datetime":"2026-01-01T23:59:59Z"},"policies":[{"policy":{"policy-type":"x","policy-domain":"a.example"}}]}`,
		"bad policy domain":  `{"date-range":{"start-datetime":"2026-01-01T00:00:00Z","end-datetime":"2026-01-01T23:59:59Z"},"policies":[{"policy":{"policy-type":"sts","policy-domain":"a..example"}}]}`,
		"bad date":           `{"date-range":{"start-datetime":"2026-01-01"}}`,
	} {
		if _, err := ParseReport([]byte(in)); !errors.Is(err, ErrReportSyntax) {
			t.Errorf("%s: error = %v, want ErrReportSyntax", name, err)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(r *Report)
	}{
		// Top level.
		{"empty organization", func(r *Report) { r.OrganizationName = "" }},
		{"start not midnight", func(r *Report) { r.DateRange.Start = r.DateRange.Start.Add(time.Second) }},
		{"end at midnight", func(r *Report) { r.DateRange.End = r.DateRange.End.Add(time.Second) }},
		{"contact not addr-spec", func(r *Report) { r.ContactInfo = "Reports <tlsrpt@sender.example>" }},
		{"contact upper-case domain", func(r *Report) { r.ContactInfo = "tlsrpt@Sender.example" }},
		{"report-id without @", func(r *Report) { r.ReportID = "abc" }},
		{"report-id with colon", func(r *Report) { r.ReportID = "2026-11-24T00:00:00Z@sender.example" }},
		{"report-id other domain", func(r *Report) { r.ReportID = "abc@other.example" }},
		{"no policies", func(r *Report) { r.Policies = nil }},
		{"duplicate policy", func(r *Report) { r.Policies = append(r.Policies, r.Policies[0]) }},
		// Policy.
		{"unknown policy type", func(r *Report) { r.Policies[0].Policy.Type = "dane" }},
		{"domain trailing dot", func(r *Report) { r.Policies[0].Policy.Domain = "example.net." }},
		{"domain upper case", func(r *Report) { r.Policies[0].Policy.Domain = "Example.net" }},
		{"policy line with CRLF", func(r *Report) { r.Policies[0].Policy.String = []string{"version: STSv1\r\n", "mx: mx1.example.net"} }},
		{"mx pattern without line", func(r *Report) { r.Policies[0].Policy.MXHost = []string{"mx9.example.net"} }},
		{"no-policy-found with strings", func(r *Report) { r.Policies[0].Policy.Type = PolicyNoPolicyFound }},
		// Summary and details.
		{"negative count", func(r *Report) { r.Policies[0].Summary.TotalSuccessfulSessionCount = -1 }},
		{"failures without details", func(r *Report) { r.Policies[0].Summary.TotalFailureSessionCount = 1 }},
		{"details without failures", func(r *Report) {
			r.Policies[0].FailureDetails = []FailureDetail{{ResultType: ResultCertificateExpired, FailedSessionCount: 1}}
		}},
		{"detail sum too low", func(r *Report) {
			r.Policies[0].Summary.TotalFailureSessionCount = 2
			r.Policies[0].FailureDetails = []FailureDetail{{ResultType: ResultCertificateExpired, FailedSessionCount: 1}}
		}},
		{"invented result type", func(r *Report) {
			r.Policies[0].Summary.TotalFailureSessionCount = 1
			r.Policies[0].FailureDetails = []FailureDetail{{ResultType: "certificate-revoked", FailedSessionCount: 1}}
		}},
		{"zero detail count", func(r *Report) {
			r.Policies[0].Summary.TotalFailureSessionCount = 1
			r.Policies[0].FailureDetails = []FailureDetail{{ResultType: ResultCertificateExpired, FailedSessionCount: 0}, {ResultType: ResultDANERequired, FailedSessionCount: 1}}
		}},
		{"unmerged details", func(r *Report) {
			r.Policies[0].Summary.TotalFailureSessionCount = 2
			d := FailureDetail{ResultType: ResultCertificateExpired, FailedSessionCount: 1}
			r.Policies[0].FailureDetails = []FailureDetail{d, d}
		}},
		{"validation-failure without reason", func(r *Report) {
			r.Policies[0].Summary.TotalFailureSessionCount = 1
			r.Policies[0].FailureDetails = []FailureDetail{{ResultType: ResultValidationFailure, FailedSessionCount: 1}}
		}},
		{"ipv4-mapped ip", func(r *Report) {
			r.Policies[0].Summary.TotalFailureSessionCount = 1
			r.Policies[0].FailureDetails = []FailureDetail{{ResultType: ResultCertificateExpired, FailedSessionCount: 1, SendingMTAIP: netip.MustParseAddr("::ffff:192.0.2.1")}}
		}},
		{"multi-line helo", func(r *Report) {
			r.Policies[0].Summary.TotalFailureSessionCount = 1
			r.Policies[0].FailureDetails = []FailureDetail{{ResultType: ResultCertificateExpired, FailedSessionCount: 1, ReceivingMXHelo: "a\r\nb"}}
		}},
		{"relative additional-information", func(r *Report) {
			r.Policies[0].Summary.TotalFailureSessionCount = 1
			r.Policies[0].FailureDetails = []FailureDetail{{ResultType: ResultCertificateExpired, FailedSessionCount: 1, AdditionalInformation: "/help"}}
		}},
		{"reason code with space", func(r *Report) {
			r.Policies[0].Summary.TotalFailureSessionCount = 1
			r.Policies[0].FailureDetails = []FailureDetail{{ResultType: ResultValidationFailure, FailedSessionCount: 1, FailureReasonCode: "bad thing"}}
		}},
	}
	if err := goldenReports()["all-success"].Validate(); err != nil {
		t.Fatalf("base report invalid: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := goldenReports()["all-success"]
			tt.mutate(r)
			if err := r.Validate(); !errors.Is(err, ErrInvalidReport) {
				t.Errorf("Validate() = %v, want ErrInvalidReport", err)
			}
			if _, err := r.Marshal(); err == nil {
				t.Error("Marshal accepted an invalid report")
			}
		})
	}
}

// TestReportCheck makes sure the independent JSON check rejects every
// defect that a receiver rejects; it guards the validator itself.
func TestReportCheck(t *testing.T) {
	good, _ := goldenReports()["ipv6-and-unknown-ip"].Marshal()
	if _, err := reportcheck.JSON(good); err != nil {
		t.Fatal(err)
	}
	s := string(good)
	tests := map[string]string{
		"bom":                   "\ufeff" + s,
		"null value":            strings.Replace(s, `"mx1.example.net",`, `null,`, 1),
		"empty string":          strings.Replace(s, `"receiving-mx-helo": "evil.example.org ESMTP"`, `"receiving-mx-helo": ""`, 1),
		"float count":           strings.Replace(s, `"failed-session-count": 2`, `"failed-session-count": 2.0`, 1),
		"duplicate key":         strings.Replace(s, `"failed-session-count": 2`, `"failed-session-count": 2, "failed-session-count": 2`, 1),
		"non-canonical ipv6":    strings.Replace(s, `2001:db8::1`, `2001:0db8::1`, 1),
		"mx-host string":        strings.Replace(s, `"mx-host": [`, `"mx-host": "x", "y": [`, 1),
		"invented result type":  strings.Replace(s, `certificate-expired`, `certificate-revoked`, 1),
		"missing details":       strings.Replace(s, `"failure-details"`, `"failure-detailz"`, 1),
		"end not 23:59:59":      strings.Replace(s, `T23:59:59Z`, `T00:00:00Z`, 1),
		"report-id with colon":  strings.Replace(s, `2026-11-24.abc123@`, `2026-11-24T00:00:00Z@`, 1),
		"upper-case domain":     strings.Replace(s, `"policy-domain": "example.net"`, `"policy-domain": "Example.net"`, 1),
		"trailing garbage":      s + "{}",
		"failures w/o details":  strings.Replace(strings.Replace(s, `"total-failure-session-count": 3`, `"total-failure-session-count": 0`, 1), `"total-successful-session-count": 10`, `"total-successful-session-count": 10`, 1),
		"reason code missing":   strings.Replace(s, `"failure-reason-code": "mtasts-policy-mx-mismatch"`, `"receiving-mx-helo": "x"`, 1),
		"not utf-8":             strings.Replace(s, "Example Sender", "Example \xff", 1),
		"negative success":      strings.Replace(s, `"total-successful-session-count": 10`, `"total-successful-session-count": -10`, 1),
		"additional-info space": strings.Replace(s, `"failure-reason-code": "mtasts-policy-mx-mismatch"`, `"failure-reason-code": "x", "additional-information": "https://a b"`, 1),
	}
	for name, in := range tests {
		if in == s {
			t.Fatalf("%s: mutation did not apply", name)
		}
		if _, err := reportcheck.JSON([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzParseReport(f *testing.F) {
	// RFC 8460, Appendix B as printed (defects included).
	if b, err := os.ReadFile("testdata/rfc8460-appendix-b.json"); err == nil {
		f.Add(b)
	}
	// Our own encodings.
	for _, r := range goldenReports() {
		b, _ := r.Marshal()
		f.Add(b)
	}
	// Seen in the wild: mx-host as a string, null arrays, string counts.
	f.Add([]byte(`{"organization-name":"G","date-range":{"start-datetime":"2026-01-01T00:00:00Z","end-datetime":"2026-01-01T23:59:59Z"},"contact-info":"smtp-tls-reporting@google.com","report-id":"2026-01-01T00:00:00Z_example.com","policies":[{"policy":{"policy-type":"sts","policy-string":null,"policy-domain":"example.com","mx-host":"mx.example.com"},"summary":{"total-successful-session-count":1,"total-failure-session-count":0}}]}`))
	f.Add([]byte{0x1f, 0x8b, 0x08})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseReport(data)
		if err != nil {
			return
		}
		b, err := r.Marshal()
		if err != nil {
			return
		}
		// Whatever we accept and re-encode passes the independent check
		// and is a fixed point of decode+encode.
		if _, err := reportcheck.JSON(b); err != nil {
			t.Fatalf("re-encoded report fails the check: %v\n%s", err, b)
		}
		r2, err := ParseReport(b)
		if err != nil {
			t.Fatal(err)
		}
		b2, err := r2.Marshal()
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("not a fixed point: %v\n%s\n%s", err, b, b2)
		}
	})
}
