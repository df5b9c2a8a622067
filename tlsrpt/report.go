package tlsrpt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/strictmx/strictmx/internal/domain"
)

// MaxReportSize bounds the JSON of one report, when encoding and decoding
// (after gunzip). RFC 8460, Section 5.3 asks mail reports to stay well
// under common message size limits; 10 MB of JSON gzips to far less.
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

// wire forms: field order here is the order of RFC 8460, Section 4.
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
// Section 4, two-space indentation, absent optional values omitted, arrays
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

// Validate checks r against every rule strictmx reports follow (the
// contract's section 3). The error wraps ErrInvalidReport and one error per
// broken rule.
func (r *Report) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if r.OrganizationName == "" || !utf8.ValidString(r.OrganizationName) {
		bad("organization-name empty or not UTF-8")
	}
	s, e := r.DateRange.Start.UTC(), r.DateRange.End.UTC()
	if !s.Equal(DayOf(s).Start()) || !e.Equal(DayOf(s).End()) {
		bad("date-range %s..%s is not one UTC day 00:00:00..23:59:59", s.Format(time.RFC3339Nano), e.Format(time.RFC3339Nano))
	}
	submitter, err := ContactDomain(r.ContactInfo)
	if err != nil {
		bad("contact-info %q: %w", r.ContactInfo, err)
	}
	if !validReportID(r.ReportID, submitter) {
		bad("report-id %q is not <token>@%s", r.ReportID, submitter)
	}
	if len(r.Policies) == 0 {
		bad("policies is empty")
	}
	for i := range r.Policies {
		p := &r.Policies[i]
		for j := range i {
			if r.Policies[j].Policy.Equal(&p.Policy) {
				bad("policies[%d] repeats policies[%d]", i, j)
			}
		}
		if err := p.validate(); err != nil {
			bad("policies[%d]: %w", i, err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidReport, errors.Join(errs...))
}

func (p *PolicyResult) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if err := p.Policy.validate(); err != nil {
		errs = append(errs, err)
	}
	sum := &p.Summary
	if sum.TotalSuccessfulSessionCount < 0 || sum.TotalFailureSessionCount < 0 {
		bad("negative session count")
	}
	if (sum.TotalFailureSessionCount > 0) != (len(p.FailureDetails) > 0) {
		bad("total-failure-session-count %d with %d failure-details", sum.TotalFailureSessionCount, len(p.FailureDetails))
	}
	var detailSum int64
	for i := range p.FailureDetails {
		d := &p.FailureDetails[i]
		detailSum += d.FailedSessionCount
		for j := range i {
			if p.FailureDetails[j].sameExceptCount(d) {
				bad("failure-details[%d] not merged with [%d]", i, j)
			}
		}
		if err := d.validate(); err != nil {
			bad("failure-details[%d]: %w", i, err)
		}
	}
	if detailSum < sum.TotalFailureSessionCount {
		bad("failure-details sum %d < total-failure-session-count %d", detailSum, sum.TotalFailureSessionCount)
	}
	return errors.Join(errs...)
}

// validate checks the policy against the contract's section 3.
func (pol *Policy) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if !pol.Type.Valid() {
		bad("policy-type %q not registered", pol.Type)
	}
	if d, err := domain.Normalize(pol.Domain); err != nil || d != pol.Domain {
		bad("policy-domain %q is not a lower-case A-label", pol.Domain)
	}
	switch pol.Type {
	case PolicySTS:
		for _, l := range pol.String {
			if strings.ContainsAny(l, "\r\n") || !utf8.ValidString(l) {
				bad("policy-string line %q has a line ending or bad UTF-8", l)
			}
		}
		if len(pol.MXHost) == 0 {
			bad("sts policy without mx-host patterns")
		}
		for _, m := range pol.MXHost {
			if !validMXPattern(m) {
				bad("mx-host %q is not a lower-case A-label pattern", m)
			}
			if !slices.ContainsFunc(pol.String, func(l string) bool { return mxLineValue(l) == m }) {
				bad("mx-host %q has no mx: line in policy-string", m)
			}
		}
	case PolicyTLSA:
		for _, l := range pol.String {
			if !validTLSAString(l) {
				bad("tlsa policy-string %q is not \"usage selector matching HEX\"", l)
			}
		}
		if len(pol.String) == 0 {
			bad("tlsa policy without records")
		}
		if len(pol.MXHost) != 0 {
			bad("tlsa policy with mx-host")
		}
	case PolicyNoPolicyFound:
		if len(pol.String) != 0 || len(pol.MXHost) != 0 {
			bad("no-policy-found with policy-string or mx-host")
		}
	}
	return errors.Join(errs...)
}

func (d *FailureDetail) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if !d.ResultType.Valid() {
		bad("result-type %q not registered", d.ResultType)
	}
	if d.FailedSessionCount < 1 {
		bad("failed-session-count %d < 1", d.FailedSessionCount)
	}
	for _, a := range []netip.Addr{d.SendingMTAIP, d.ReceivingIP} {
		if a.IsValid() && a != canonicalIP(a) {
			bad("IP %s not canonical (zone or IPv4-mapped)", a)
		}
	}
	if d.ReceivingMXHostname != "" {
		if n, err := domain.Normalize(d.ReceivingMXHostname); err != nil || n != d.ReceivingMXHostname {
			bad("receiving-mx-hostname %q is not a lower-case A-label", d.ReceivingMXHostname)
		}
	}
	if d.ReceivingMXHelo != "" && !validHelo(d.ReceivingMXHelo) {
		bad("receiving-mx-helo %q is not a single printable line", d.ReceivingMXHelo)
	}
	if d.AdditionalInformation != "" && !validAbsURI(d.AdditionalInformation) {
		bad("additional-information %q is not an absolute URI", d.AdditionalInformation)
	}
	if d.FailureReasonCode != "" && !validReasonCode(d.FailureReasonCode) {
		bad("failure-reason-code %q is not a short token", d.FailureReasonCode)
	}
	if d.FailureReasonCode == "" && d.ResultType.needsReasonCode() {
		bad("result-type %s without failure-reason-code", d.ResultType)
	}
	return errors.Join(errs...)
}

// ContactDomain returns the normalised domain of an addr-spec, the report
// submitter.
func ContactDomain(addr string) (string, error) {
	a, ok := normalizeAddr(addr)
	if !ok || a != addr {
		return "", fmt.Errorf("tlsrpt: %q is not a bare addr-spec with a normalised domain", addr)
	}
	return a[strings.LastIndexByte(a, '@')+1:], nil
}

func validReportID(id, submitter string) bool {
	tok, dom, ok := strings.Cut(id, "@")
	if !ok || dom != submitter || submitter == "" || tok == "" || len(id) > 250 {
		return false
	}
	return validIDToken(tok)
}

// validIDToken checks the left side of a report-id: dot-atom-text limited
// to letters, digits and "._=+-", so no ":" or spaces.
func validIDToken(tok string) bool {
	if tok == "" || tok[0] == '.' || tok[len(tok)-1] == '.' || strings.Contains(tok, "..") {
		return false
	}
	for i := 0; i < len(tok); i++ {
		if !isIDChar(tok[i]) {
			return false
		}
	}
	return true
}

func isIDChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '=' || c == '+' || c == '-'
}

func validMXPattern(m string) bool {
	host := strings.TrimPrefix(m, "*.")
	n, err := domain.Normalize(host)
	return err == nil && n == host
}

// mxLineValue returns the value of an "mx:" policy line, or "".
func mxLineValue(l string) string {
	k, v, ok := strings.Cut(l, ":")
	if !ok || strings.TrimSpace(k) != "mx" {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(strings.Trim(v, " \t"), "."))
}

func validTLSAString(s string) bool {
	f := strings.Split(s, " ")
	if len(f) != 4 {
		return false
	}
	for _, n := range f[:3] {
		if n == "" || len(n) > 3 || strings.Trim(n, "0123456789") != "" {
			return false
		}
	}
	return f[3] != "" && len(f[3])%2 == 0 && strings.Trim(f[3], "0123456789abcdefABCDEF") == ""
}

func validHelo(s string) bool {
	if len(s) > 255 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func validAbsURI(s string) bool {
	if strings.ContainsAny(s, " \t\r\n\"<>\\^`{|}") || !utf8.ValidString(s) {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.IsAbs()
}

func validReasonCode(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return s != ""
}

// isAddrSpec is used by ParseReport to recognise a contact-info it can take
// the submitter from.
func isAddrSpec(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && strings.Contains(a.Address, "@")
}
