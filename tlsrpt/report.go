package tlsrpt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// MaxReportSize bounds the JSON of one report, when encoding and decoding
// (after gunzip). RFC 8460, Section 5.2 names ten megabytes as a commonly
// observed receiver limit; 10 MB of JSON gzips to far less.
const MaxReportSize = 10 << 20

// Report is one TLS-RPT aggregate report (RFC 8460, Section 4).
//
// Marshal encodes it; ParseReport decodes one. An empty string or a zero
// netip.Addr stands for an absent optional value and is never encoded.
type Report struct {
	OrganizationName string
	DateRange        DateRange
	// ContactInfo is an addr-spec whose domain is the submitter.
	ContactInfo string
	// ReportID is msg-id shaped: <token>@<submitter domain>.
	ReportID string
	Policies []PolicyResult
}

// DateRange is the period a report covers, in UTC.
type DateRange struct {
	Start, End time.Time
}

// PolicyResult is the summary and the failures of the sessions made under
// one policy.
type PolicyResult struct {
	Policy         Policy
	Summary        Summary
	FailureDetails []FailureDetail
}

// Policy identifies the policy sessions were made under.
type Policy struct {
	Type PolicyType `json:"type"`
	// String is "policy-string": for sts the policy file's lines in order
	// without line endings; for tlsa one "usage selector matching HEX"
	// line per TLSA record; empty for no-policy-found.
	String []string `json:"string,omitempty"`
	// Domain is the policy domain, a lower-case A-label without trailing
	// dot: the recipient (or smart host) domain for sts, the TLSA base
	// domain for tlsa.
	Domain string `json:"domain"`
	// MXHost holds the sts policy's mx patterns; empty otherwise.
	MXHost []string `json:"mx_host,omitempty"`
}

// Equal reports whether p and q are the same policy.
func (p *Policy) Equal(q *Policy) bool {
	return p.Type == q.Type && p.Domain == q.Domain &&
		slices.Equal(p.String, q.String) && slices.Equal(p.MXHost, q.MXHost)
}

// Summary holds session totals.
type Summary struct {
	TotalSuccessfulSessionCount int64
	TotalFailureSessionCount    int64
}

// FailureDetail counts failed sessions that share every detail.
type FailureDetail struct {
	ResultType          ResultType
	SendingMTAIP        netip.Addr
	ReceivingMXHostname string
	ReceivingMXHelo     string
	ReceivingIP         netip.Addr
	FailedSessionCount  int64
	// AdditionalInformation is an absolute URI, or empty.
	AdditionalInformation string
	// FailureReasonCode is a short token, or empty.
	FailureReasonCode string
}

// sameExceptCount reports whether d and e differ at most in their counts.
func (d *FailureDetail) sameExceptCount(e *FailureDetail) bool {
	a, b := *d, *e
	a.FailedSessionCount, b.FailedSessionCount = 0, 0
	return a == b
}

// wire forms: field order here is the order of RFC 8460, Section 4.4.
type wireReport struct {
	OrganizationName string             `json:"organization-name"`
	DateRange        wireDateRange      `json:"date-range"`
	ContactInfo      string             `json:"contact-info"`
	ReportID         string             `json:"report-id"`
	Policies         []wirePolicyResult `json:"policies"`
}

type wireDateRange struct {
	Start string `json:"start-datetime"`
	End   string `json:"end-datetime"`
}

type wirePolicyResult struct {
	Policy         wirePolicy    `json:"policy"`
	Summary        wireSummary   `json:"summary"`
	FailureDetails []wireFailure `json:"failure-details"`
}

type wirePolicy struct {
	Type   string   `json:"policy-type"`
	String []string `json:"policy-string"`
	Domain string   `json:"policy-domain"`
	MXHost []string `json:"mx-host"`
}

type wireSummary struct {
	Successful int64 `json:"total-successful-session-count"`
	Failure    int64 `json:"total-failure-session-count"`
}

type wireFailure struct {
	ResultType            string `json:"result-type"`
	SendingMTAIP          string `json:"sending-mta-ip,omitempty"`
	ReceivingMXHostname   string `json:"receiving-mx-hostname,omitempty"`
	ReceivingMXHelo       string `json:"receiving-mx-helo,omitempty"`
	ReceivingIP           string `json:"receiving-ip,omitempty"`
	FailedSessionCount    int64  `json:"failed-session-count"`
	AdditionalInformation string `json:"additional-information,omitempty"`
	FailureReasonCode     string `json:"failure-reason-code,omitempty"`
}

const dateTimeLayout = "2006-01-02T15:04:05Z"

// Marshal returns the report's JSON: UTF-8, fields in the order of RFC 8460,
// Section 4.4, two-space indentation, absent optional values omitted, arrays
// always present. The same Report always gives the same bytes.
//
// Marshal first checks the report with Validate and returns its error
// (wrapping ErrInvalidReport) rather than encode a report a strict
// receiver would reject.
func (r *Report) Marshal() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	w := wireReport{
		OrganizationName: r.OrganizationName,
		DateRange: wireDateRange{
			Start: r.DateRange.Start.UTC().Format(dateTimeLayout),
			End:   r.DateRange.End.UTC().Format(dateTimeLayout),
		},
		ContactInfo: r.ContactInfo,
		ReportID:    r.ReportID,
		Policies:    make([]wirePolicyResult, len(r.Policies)),
	}
	for i := range r.Policies {
		p := &r.Policies[i]
		wp := &w.Policies[i]
		wp.Policy = wirePolicy{
			Type:   string(p.Policy.Type),
			String: nonNil(p.Policy.String),
			Domain: p.Policy.Domain,
			MXHost: nonNil(p.Policy.MXHost),
		}
		wp.Summary = wireSummary{p.Summary.TotalSuccessfulSessionCount, p.Summary.TotalFailureSessionCount}
		wp.FailureDetails = make([]wireFailure, len(p.FailureDetails))
		for j := range p.FailureDetails {
			d := &p.FailureDetails[j]
			wp.FailureDetails[j] = wireFailure{
				ResultType:            string(d.ResultType),
				SendingMTAIP:          ipString(d.SendingMTAIP),
				ReceivingMXHostname:   d.ReceivingMXHostname,
				ReceivingMXHelo:       d.ReceivingMXHelo,
				ReceivingIP:           ipString(d.ReceivingIP),
				FailedSessionCount:    d.FailedSessionCount,
				AdditionalInformation: d.AdditionalInformation,
				FailureReasonCode:     d.FailureReasonCode,
			}
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&w); err != nil {
		return nil, fmt.Errorf("tlsrpt: encode report: %w", err)
	}
	if buf.Len() > MaxReportSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrReportTooLarge, buf.Len())
	}
	return buf.Bytes(), nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ipString returns the canonical text form of a (RFC 5952 for IPv6, an
// IPv4-mapped address as IPv4), or "" for the zero Addr.
func ipString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return canonicalIP(a).String()
}

func canonicalIP(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}
