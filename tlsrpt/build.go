package tlsrpt

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// BuildReport turns the aggregate of one (policy domain, day) into its
// report, checked with Validate.
//
// org is the organization-name, contact the contact-info addr-spec (its
// domain is the submitter) and reportID the report-id (see NewReportID).
func BuildReport(a *Aggregate, org, contact, reportID string) (*Report, error) {
	c, err := Merge(a) // canonical copy: sorted, details merged
	if err != nil || c == nil {
		return nil, fmt.Errorf("%w: empty aggregate", ErrInvalidReport)
	}
	r := &Report{
		OrganizationName: org,
		DateRange:        DateRange{a.Day.Start(), a.Day.End()},
		ContactInfo:      contact,
		ReportID:         reportID,
		Policies:         c.Policies,
	}
	for i := range r.Policies {
		p := &r.Policies[i]
		var n int64
		for _, d := range p.FailureDetails {
			n += d.FailedSessionCount
		}
		p.Summary.TotalFailureSessionCount = n
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// NewReportID returns a msg-id shaped report-id,
// "<YYYYMMDD>.<policy domain>.<random hex>@<submitter>". unique should be
// random (it tells apart reports for the same day and domain from
// different submitter hosts). When the policy domain would make the id
// longer than the 250 octets Report.Validate allows, a digest of the
// domain (32 hex digits) stands in for it, so that a long domain name
// never makes its report unsendable.
func NewReportID(k Key, submitter string, unique uint64) string {
	u := strconv.FormatUint(unique, 16)
	dom := k.Domain
	if len("YYYYMMDD..@")+len(dom)+len(u)+len(submitter) > maxReportIDLength {
		sum := sha256.Sum256([]byte(dom))
		dom = hex.EncodeToString(sum[:16])
	}
	var b strings.Builder
	b.WriteString(strings.ReplaceAll(k.Day.String(), "-", ""))
	b.WriteByte('.')
	b.WriteString(dom)
	b.WriteByte('.')
	b.WriteString(u)
	b.WriteByte('@')
	b.WriteString(submitter)
	return b.String()
}
