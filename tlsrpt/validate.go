package tlsrpt

import (
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

// Validate checks r against every rule strictmx reports follow (RFC 8460,
// Section 4, and the report decisions listed in the package documentation
// under "Decisions where the RFC is loose"). The error wraps ErrInvalidReport and one error per
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

// validate checks one policy entry of a report against the same rules.
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
			if l == "" || strings.ContainsAny(l, "\r\n") || !utf8.ValidString(l) {
				bad("policy-string line %q is empty or has a line ending or bad UTF-8", l)
			}
		}
		if len(pol.MXHost) == 0 {
			bad("sts policy without mx-host patterns")
		}
		inLines := mxLineSet(pol.String, len(pol.MXHost))
		for _, m := range pol.MXHost {
			if !validMXPattern(m) {
				bad("mx-host %q is not a lower-case A-label pattern", m)
			}
			if !inLines(m) {
				bad("mx-host %q has no mx: line in policy-string", m)
			}
		}
	case PolicyTLSA:
		for _, l := range pol.String {
			if !validTLSAString(l) {
				bad("tlsa policy-string %q is not \"usage selector matching HEX\"", l)
			}
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

// maxReportIDLength bounds a report-id, so that it fits a header line with
// room to spare (it is carried in Message-ID and Subject).
const maxReportIDLength = 250

func validReportID(id, submitter string) bool {
	tok, dom, ok := strings.Cut(id, "@")
	if !ok || dom != submitter || submitter == "" || tok == "" || len(id) > maxReportIDLength {
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
// mxLineSet returns a test of whether a pattern has an mx: line among
// lines, to be asked about n patterns. For a few patterns it scans the
// lines; for more it reads each line once into a set, so that checking a
// policy stays linear in its size (a 64 KiB policy holds thousands of mx
// lines).
func mxLineSet(lines []string, n int) func(string) bool {
	if n <= 4 {
		return func(m string) bool {
			return slices.ContainsFunc(lines, func(l string) bool { return mxLineValue(l) == m })
		}
	}
	set := make(map[string]struct{}, n)
	for _, l := range lines {
		if v := mxLineValue(l); v != "" {
			set[v] = struct{}{}
		}
	}
	return func(m string) bool {
		_, ok := set[m]
		return ok
	}
}

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
