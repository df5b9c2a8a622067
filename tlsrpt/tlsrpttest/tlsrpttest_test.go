package tlsrpttest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/strictmx/strictmx/tlsrpt"
	"github.com/strictmx/strictmx/tlsrpt/reporter"
	"github.com/strictmx/strictmx/tlsrpt/tlsrpttest"
)

var day = tlsrpt.DayOf(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC))

func report(t testing.TB) (*tlsrpt.Report, []byte) {
	var c tlsrpt.Collector
	p := tlsrpt.Policy{Type: tlsrpt.PolicySTS, Domain: "example.net", String: []string{"version: STSv1", "mx: mx.example.net"}, MXHost: []string{"mx.example.net"}}
	c.Record(tlsrpt.Result{Policy: p, Time: day.Start()})
	c.Record(tlsrpt.Result{Policy: p, Time: day.Start(), ResultType: tlsrpt.ResultCertificateExpired})
	a := c.Snapshot()[0]
	r, err := tlsrpt.BuildReport(a, "Org", "tlsrpt@sender.example", tlsrpt.NewReportID(a.Key, "sender.example", 1))
	if err != nil {
		t.Fatal(err)
	}
	js, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return r, js
}

// TestValidateReportJSONWild: defects seen in reports from well-known
// senders, each rejected.
func TestValidateReportJSONWild(t *testing.T) {
	_, js := report(t)
	if err := tlsrpttest.ValidateReportJSON(js); err != nil {
		t.Fatal(err)
	}
	s := string(js)
	for name, in := range map[string]string{
		"report-id timestamp with colons": strings.Replace(s, `"report-id": "20261124.example.net.1@sender.example"`, `"report-id": "2026-11-24T00:00:00Z_example.net"`, 1),
		"failure-details omitted":         strings.Replace(strings.Replace(s, `"total-failure-session-count": 1`, `"total-failure-session-count": 0`, 1), `"failure-details": [`, `"x": [`, 1),
		"empty receiving-ip":              strings.Replace(s, `"failed-session-count": 1`, `"failed-session-count": 1, "receiving-ip": ""`, 1),
		"null policy-string":              strings.Replace(s, `"policy-string": [`, `"policy-string": null, "y": [`, 1),
		"mx-host as a string":             strings.Replace(s, `"mx-host": [`, `"mx-host": "mx.example.net", "z": [`, 1),
		"end-datetime at midnight":        strings.Replace(s, `2026-11-24T23:59:59Z`, `2026-11-25T00:00:00Z`, 1),
		"count as a string":               strings.Replace(s, `"failed-session-count": 1`, `"failed-session-count": "1"`, 1),
		"invented result type":            strings.Replace(s, `"certificate-expired"`, `"tls-version-too-old"`, 1),
		"policy-domain with trailing dot": strings.Replace(s, `"policy-domain": "example.net"`, `"policy-domain": "example.net."`, 1),
	} {
		if in == s {
			t.Fatalf("%s: mutation did not apply", name)
		}
		err := tlsrpttest.ValidateReportJSON([]byte(in))
		if !errors.Is(err, tlsrpttest.ErrInvalid) {
			t.Errorf("%s: error = %v", name, err)
		}
	}
}

func message(t *testing.T, d *reporter.DKIM) []byte { return messageSigned(t, d) }

func messageFor(t testing.TB) []byte { return messageSigned(t, nil) }

func messageSigned(t testing.TB, d *reporter.DKIM) []byte {
	r, js := report(t)
	gz, _ := tlsrpt.Gzip(js)
	m := &reporter.Message{From: "tlsrpt@sender.example", To: "r@example.net", Report: r, Gzip: gz,
		FileName: tlsrpt.FileName("sender.example", "example.net", r.DateRange, "abc"),
		Date:     day.End(), MessageID: "1." + r.ReportID}
	b, err := m.Build(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestValidateMessage(t *testing.T) {
	key, lookup := tlsrpttest.DKIMKey("sender.example", "sel")
	good := message(t, key)
	if err := tlsrpttest.ValidateMessage(good, lookup); err != nil {
		t.Fatal(err)
	}
	s := string(good)
	for name, in := range map[string]string{
		"subject without report-id":  strings.Replace(s, " Report-ID: <", " X: <", 1),
		"submitter header twice":     strings.Replace(s, "TLS-Report-Submitter: sender.example\r\n", "TLS-Report-Submitter: sender.example\r\nTLS-Report-Submitter: sender.example\r\n", 1),
		"no Auto-Submitted":          strings.Replace(s, "Auto-Submitted: auto-generated\r\n", "", 1),
		"wrong report-type":          strings.Replace(s, `report-type="tlsrpt"`, `report-type="dmarc"`, 1),
		"attachment not base64":      strings.Replace(s, "Content-Transfer-Encoding: base64", "Content-Transfer-Encoding: 8bit", 1),
		"bad file name":              strings.Replace(s, "!abc.json.gz", "!a_c.json.gz", 2),
		"domain header changed":      strings.Replace(s, "TLS-Report-Domain: example.net", "TLS-Report-Domain: example.org", 1),
		"signature without tls hdrs": strings.Replace(s, ":TLS-Report-Domain:TLS-Report-Submitter", "", 1),
	} {
		if in == s {
			t.Fatalf("%s: mutation did not apply", name)
		}
		if err := tlsrpttest.ValidateMessage([]byte(in), lookup); !errors.Is(err, tlsrpttest.ErrInvalid) {
			t.Errorf("%s: error = %v", name, err)
		}
	}
	// Signed by a key that DNS does not publish.
	other, _ := tlsrpttest.DKIMKey("sender.example", "sel")
	if err := tlsrpttest.ValidateMessage(message(t, other), lookup); err == nil {
		t.Error("signature by an unpublished key verified")
	}
}

func TestMailer(t *testing.T) {
	m := &tlsrpttest.Mailer{Err: func(to string, n int) error {
		if n == 1 {
			return errors.New("busy")
		}
		return nil
	}}
	ctx := context.Background()
	if err := m.Send(ctx, "a@x.example", "b@y.example", []byte("m")); err == nil {
		t.Error("Err not applied")
	}
	m.Send(ctx, "a@x.example", "b@y.example", []byte("m"))
	if got := m.Messages(); len(got) != 1 || got[0].To != "b@y.example" {
		t.Errorf("messages = %+v", got)
	}
}

func TestHTTPSServer(t *testing.T) {
	s := tlsrpttest.NewHTTPSServer(t)
	s.Status = func(n int) int { return 301 }
	err := reporter.PostReport(context.Background(), s.ReportClient(), s.URL+"/x", []byte{1})
	if err == nil || len(s.Posts()) != 1 || s.Posts()[0].Path != "/x" {
		t.Errorf("redirect: %v, %+v", err, s.Posts())
	}
}

// ExampleValidateReportJSON checks a report built by package tlsrpt.
func ExampleValidateReportJSON() {
	var c tlsrpt.Collector
	c.Record(tlsrpt.Result{
		Policy: tlsrpt.Policy{Type: tlsrpt.PolicyNoPolicyFound, Domain: "example.org"},
		Time:   time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC),
	})
	a := c.Drain()[0]
	r, _ := tlsrpt.BuildReport(a, "Example Org", "tlsrpt@sender.example", tlsrpt.NewReportID(a.Key, "sender.example", 42))
	js, _ := r.Marshal()
	fmt.Println(tlsrpttest.ValidateReportJSON(js))
	fmt.Println(tlsrpttest.ValidateReportJSON(bytes.Replace(js, []byte(`"policies"`), []byte(`"policy"`), 1)) != nil)
	// Output:
	// <nil>
	// true
}
