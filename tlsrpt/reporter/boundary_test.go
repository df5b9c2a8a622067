package reporter_test

import (
	"bytes"
	"errors"
	"mime"
	"mime/multipart"
	"net/mail"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strictmx/strictmx/tlsrpt"
	"github.com/strictmx/strictmx/tlsrpt/reporter"
)

// longDomain returns a domain name of about n octets (at most 253).
func longDomain(n int) string {
	var labels []string
	for size := 0; size+8 < n; size += 64 {
		l := strings.Repeat("a", min(63, n-size-8))
		labels = append(labels, l)
	}
	return strings.Join(append(labels, "example"), ".")
}

// The multipart boundary stays within RFC 2046's 70 characters for every
// length of policy domain and submitter, and the message still parses.
func TestMessageBoundaryLength(t *testing.T) {
	for _, n := range []int{11, 40, 100, 180, 253} {
		policyDomain := longDomain(n)
		submitter := longDomain(min(n, 180))
		var c tlsrpt.Collector
		if err := c.Record(tlsrpt.Result{
			Policy: tlsrpt.Policy{Type: tlsrpt.PolicyNoPolicyFound, Domain: policyDomain},
			Time:   day.Start().Add(time.Hour),
		}); err != nil {
			t.Fatal(err)
		}
		a := c.Snapshot()[0]
		r, err := tlsrpt.BuildReport(a, "Sender Org", "tlsrpt@"+submitter, tlsrpt.NewReportID(a.Key, submitter, 0xabcdef))
		if err != nil {
			t.Fatal(err)
		}
		js, _ := r.Marshal()
		gz, _ := tlsrpt.Gzip(js)
		m := &reporter.Message{
			From: "tlsrpt@" + submitter, To: "reports@" + policyDomain, Report: r, Gzip: gz,
			FileName:  tlsrpt.FileName(submitter, policyDomain, r.DateRange, "u1"),
			Date:      time.Date(2026, 11, 25, 1, 2, 3, 0, time.UTC),
			MessageID: strconv.FormatUint(1<<63, 36) + "." + r.ReportID,
		}
		b, err := m.Build(nil)
		if err != nil {
			t.Fatalf("domains of %d octets: %v", n, err)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
		if err != nil {
			t.Fatal(err)
		}
		bd := params["boundary"]
		if bd == "" || len(bd) > 70 {
			t.Errorf("domains of %d octets (Message-ID of %d): boundary of %d characters", n, len(m.MessageID), len(bd))
		}
		mr := multipart.NewReader(msg.Body, bd)
		parts := 0
		for {
			if _, err := mr.NextPart(); err != nil {
				break
			}
			parts++
		}
		if parts != 2 {
			t.Errorf("domains of %d octets: %d parts, want 2", n, parts)
		}
	}
}

// A Boundary given by the caller must be one RFC 2046 allows.
func TestMessageBoundaryGiven(t *testing.T) {
	r, gz := sampleReport(t)
	for _, tt := range []struct {
		boundary string
		ok       bool
	}{
		{"simple", true},
		{"with inner space and '()+_,-./:=?", true},
		{strings.Repeat("b", 70), true},
		{strings.Repeat("b", 71), false},
		{"trailing space ", false},
		{"quote\"inside", false},
		{"crlf\r\nheader: x", false},
	} {
		m := &reporter.Message{
			From: "tlsrpt@sender.example", To: "reports@example.net", Report: r, Gzip: gz,
			FileName: "x.json.gz", Date: time.Now(), MessageID: "m1@sender.example", Boundary: tt.boundary,
		}
		_, err := m.Build(nil)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, reporter.ErrConfig)) {
			t.Errorf("Boundary %q: %v, want ok=%v", tt.boundary, err, tt.ok)
		}
	}
}
