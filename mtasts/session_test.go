package mtasts_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/tlsrpt"
)

func TestResultRecord(t *testing.T) {
	p, err := mtasts.ParsePolicy([]byte("version: STSv1\r\nmode: testing\r\nmx: mx1.example.test\r\nmax_age: 86400\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 1, 23, 59, 59, 0, time.UTC)
	withPolicy := &mtasts.Result{Domain: "example.test", Policy: p, ID: "1", Source: mtasts.SourceCache}
	plan := withPolicy.Plan([]*net.MX{{Host: "mx1.example.test."}, {Host: "evil.example.org."}}, mtasts.PlanOptions{})
	var c tlsrpt.Collector
	// A success, a testing-mode mismatch, and an opportunistic session to
	// a domain without a policy (no-policy-found).
	if err := withPolicy.Record(&c, plan.Hosts[0].Done(nil), start); err != nil {
		t.Fatal(err)
	}
	if err := withPolicy.Record(&c, plan.Hosts[1].Done(nil), start); err != nil {
		t.Fatal(err)
	}
	none := &mtasts.Result{Domain: "none.test"}
	if err := none.Record(&c, none.Plan([]*net.MX{{Host: "mx.none.test"}}, mtasts.PlanOptions{}).Hosts[0].Done(nil), start); err != nil {
		t.Fatal(err)
	}
	// A fetch failure with no cached policy fails the session.
	failed := &mtasts.Result{Domain: "broken.test", Failure: tlsrpt.ResultSTSPolicyFetchError}
	if err := failed.Record(&c, failed.Plan([]*net.MX{{Host: "mx.broken.test"}}, mtasts.PlanOptions{}).Hosts[0].Done(nil), start); err != nil {
		t.Fatal(err)
	}
	// Turned off, the no-policy-found session belongs in no report.
	off := &mtasts.Result{Domain: "off.test"}
	if err := off.Record(&c, off.Plan([]*net.MX{{Host: "mx.off.test"}}, mtasts.PlanOptions{SkipNoPolicyFound: true}).Hosts[0].Done(nil), start); err != nil {
		t.Fatal(err)
	}
	aggs := c.Snapshot()
	if len(aggs) != 3 {
		t.Fatalf("%d aggregates; want 3 (example.test, broken.test and none.test)", len(aggs))
	}
	for _, a := range aggs {
		if len(a.Policies) != 1 {
			t.Fatalf("%s: %d policies", a.Key, len(a.Policies))
		}
		pr := a.Policies[0]
		switch a.Key.Domain {
		case "example.test":
			if pr.Policy.Type != tlsrpt.PolicySTS || pr.Summary.TotalSuccessfulSessionCount != 1 || pr.Summary.TotalFailureSessionCount != 1 {
				t.Fatalf("example.test: %+v", pr)
			}
			if fd := pr.FailureDetails; len(fd) != 1 || fd[0].ResultType != tlsrpt.ResultValidationFailure || fd[0].FailureReasonCode != tlsrpt.ReasonMXMismatch {
				t.Fatalf("example.test details: %+v", fd)
			}
			if len(pr.Policy.String) != 4 || pr.Policy.MXHost[0] != "mx1.example.test" {
				t.Fatalf("policy %+v", pr.Policy)
			}
		case "none.test":
			if pr.Policy.Type != tlsrpt.PolicyNoPolicyFound || pr.Summary.TotalSuccessfulSessionCount != 1 || pr.Summary.TotalFailureSessionCount != 0 {
				t.Fatalf("none.test: %+v", pr)
			}
		case "broken.test":
			if pr.Policy.Type != tlsrpt.PolicyNoPolicyFound || pr.Summary.TotalFailureSessionCount != 1 {
				t.Fatalf("broken.test: %+v", pr)
			}
		default:
			t.Fatalf("unexpected aggregate %s", a.Key)
		}
		if a.Key.Day.String() != "2026-03-01" {
			t.Fatalf("day %s", a.Key.Day)
		}
	}
}

// Every MTA-STS error class of this package maps to a registered result
// type, and never to a DANE one.
func TestResultTypeOfRegistered(t *testing.T) {
	dane := map[tlsrpt.ResultType]bool{tlsrpt.ResultTLSAInvalid: true, tlsrpt.ResultDNSSECInvalid: true, tlsrpt.ResultDANERequired: true}
	for _, err := range []error{
		mtasts.ErrPolicyFetch, mtasts.ErrPolicyInvalid, mtasts.ErrWebPKI, mtasts.ErrFetchBackoff,
		fmt.Errorf("%w: %w", mtasts.ErrPolicyFetch, mtasts.ErrDialGuard), mtasts.ErrMXMismatch, mtasts.ErrSTARTTLSNotSupported, mtasts.ErrTLSVersion,
		x509.HostnameError{Certificate: &x509.Certificate{}, Host: "mx.example"},
		x509.CertificateInvalidError{Cert: &x509.Certificate{}, Reason: x509.Expired},
		x509.CertificateInvalidError{Cert: &x509.Certificate{}, Reason: x509.NotAuthorizedToSign},
		x509.UnknownAuthorityError{},
		&tls.CertificateVerificationError{Err: errors.New("bad")},
		tls.AlertError(40),
	} {
		rt, _ := mtasts.ResultTypeOf(fmt.Errorf("wrapped: %w", err))
		if !rt.Valid() || dane[rt] {
			t.Errorf("ResultTypeOf(%v) = %q; want a registered, non-DANE result type", err, rt)
		}
	}
	for _, err := range []error{nil, mtasts.ErrNoRecord, mtasts.ErrDNSTemporary, mtasts.ErrDiscoveryLimit} {
		if rt, _ := mtasts.ResultTypeOf(err); rt != "" {
			t.Errorf("ResultTypeOf(%v) = %q; want none", err, rt)
		}
	}
}

// Every policy the parser accepts can be reported: a junk line that is
// not valid UTF-8 does not make its sessions unrecordable.
func TestResultRecordInvalidUTF8Line(t *testing.T) {
	p, err := mtasts.ParsePolicy([]byte("version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmax_age: 86400\r\nx-note: caf\xe9\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	res := &mtasts.Result{Domain: "example.test", Policy: p, ID: "1", Source: mtasts.SourceCache}
	plan := res.Plan([]*net.MX{{Host: "mx1.example.test."}, {Host: "evil.example.org."}}, mtasts.PlanOptions{})
	var c tlsrpt.Collector
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := res.Record(&c, plan.Hosts[0].Done(nil), start); err != nil {
		t.Fatalf("success not recorded: %v", err)
	}
	if err := res.Record(&c, plan.Hosts[1].Skipped(), start); err != nil {
		t.Fatalf("mismatch not recorded: %v", err)
	}
	aggs := c.Snapshot()
	if len(aggs) != 1 || aggs[0].Sessions() != 2 {
		t.Fatalf("aggregates %+v", aggs)
	}
	r, err := tlsrpt.BuildReport(aggs[0], "Sender Org", "tlsrpt@sender.example", tlsrpt.NewReportID(aggs[0].Key, "sender.example", 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Marshal(); err != nil {
		t.Fatal(err)
	}
	lines := r.Policies[0].Policy.String
	if got := lines[len(lines)-1]; got != "x-note: caf\uFFFD" {
		t.Errorf("policy-string line %q; want the invalid byte as U+FFFD", got)
	}
}
