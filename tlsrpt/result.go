package tlsrpt

import (
	"net/netip"
	"time"
)

// Result is the outcome of one SMTP session: one connection attempt to one
// MX host, successful or failed exactly once. A retry to another MX host is
// another Result; reusing a connection for more messages adds nothing. A
// policy-level failure (the policy could not be fetched, was invalid, or
// the MX host is outside it) is a failed Result too. Spec note: RFC 8460,
// Section 4 lets the failures of one session overlap in the counts;
// strictmx counts each session once, with one result type.
//
// Result is the entry point for the enforcement layer: after each attempt
// a sender calls Collector.Record with a Result literal. Its JSON form
// (the field tags) is the line format of examples/tlsrpt-reporter, so a
// sender in another process can hand results over as JSON lines.
type Result struct {
	// Policy the session was made under. For MTA-STS its Domain is the
	// recipient (or smart host) domain; for DANE it is the TLSA base
	// domain, the MX host. Type PolicyNoPolicyFound with an empty String
	// and MXHost when neither applied.
	Policy Policy `json:"policy"`
	// Handle, if not nil, is used instead of Policy: an interned policy
	// that makes Record cheaper (no hashing or comparing of the policy
	// lines). A sender keeps one per policy it enforces.
	Handle *PolicyHandle `json:"-"`
	// MXHost is the MX host name connected to (receiving-mx-hostname);
	// empty if unknown.
	MXHost string `json:"mx_host,omitempty"`
	// SendingIP and ReceivingIP are the local and remote addresses; the
	// zero Addr if unknown.
	SendingIP   netip.Addr `json:"sending_ip,omitzero"`
	ReceivingIP netip.Addr `json:"receiving_ip,omitzero"`
	// EHLO is the name the receiving MX announced (receiving-mx-helo);
	// empty if unknown.
	EHLO string `json:"ehlo,omitempty"`
	// ResultType is empty for a successful session, else the failure.
	ResultType ResultType `json:"result_type,omitempty"`
	// ReasonCode is the failure-reason-code; ReasonUnspecified is used
	// if a certificate-not-trusted or validation-failure comes without.
	ReasonCode string `json:"reason_code,omitempty"`
	// AdditionalInfo is an absolute URI with more about the failure, or
	// empty.
	AdditionalInfo string `json:"additional_info,omitempty"`
	// Time is when the session started; its UTC day picks the report.
	// Zero means now.
	Time time.Time `json:"time,omitzero"`
	// ReportTraffic marks a session that delivered a TLS-RPT report. It
	// is never counted, so reports cannot cause reports.
	ReportTraffic bool `json:"report_traffic,omitempty"`
}
