package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/strictmx/strictmx/internal/domain"
)

// ParseReport decodes a report as real senders write it: JSON, or gzipped
// JSON (detected by its magic bytes), at most MaxReportSize bytes after
// decompression.
//
// It is lenient where real reports and the example of RFC 8460, Appendix B
// are defective, and returns the corrected form, so that Marshal of the
// result is a valid strictmx report whenever the input's meaning allows:
//   - an "mx-host" string is read as a one-element array;
//   - "failure-error-code" (the Appendix B spelling) is read as
//     "failure-reason-code";
//   - IP addresses are put in canonical form (RFC 5952); an unparseable
//     one is dropped;
//   - a string broken over lines (as the RFC prints one) is joined, and
//     whitespace is removed from "additional-information" (RFC 3986,
//     Appendix C); a value that is still not an absolute URI is dropped;
//   - domain names are normalised to lower-case A-labels; an unusable
//     receiving-mx-hostname is dropped;
//   - a "report-id" that is not msg-id shaped has its disallowed
//     characters replaced by "-" and "@<contact-info domain>" appended;
//   - failure details equal in all but their count are merged.
//
// Input that is not a JSON object of the report's shape, an unknown
// policy-type, a non-integral count or a bad policy-domain gives
// ErrReportSyntax. Unknown result types are kept as they are (and make
// Validate fail).
func ParseReport(data []byte) (*Report, error) {
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %w", ErrReportSyntax, err)
		}
		data, err = io.ReadAll(io.LimitReader(zr, MaxReportSize+1))
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %w", ErrReportSyntax, err)
		}
	}
	if len(data) > MaxReportSize {
		return nil, fmt.Errorf("%w: over %d bytes", ErrReportTooLarge, MaxReportSize)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var w lenientReport
	if err := json.Unmarshal(unfoldStrings(data), &w); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrReportSyntax, err)
	}
	return w.report()
}

type lenientReport struct {
	OrganizationName string `json:"organization-name"`
	DateRange        struct {
		Start string `json:"start-datetime"`
		End   string `json:"end-datetime"`
	} `json:"date-range"`
	ContactInfo string `json:"contact-info"`
	ReportID    string `json:"report-id"`
	Policies    []struct {
		Policy struct {
			Type   string     `json:"policy-type"`
			String stringList `json:"policy-string"`
			Domain string     `json:"policy-domain"`
			MXHost stringList `json:"mx-host"`
		} `json:"policy"`
		Summary struct {
			Successful count `json:"total-successful-session-count"`
			Failure    count `json:"total-failure-session-count"`
		} `json:"summary"`
		FailureDetails []struct {
			ResultType            string `json:"result-type"`
			SendingMTAIP          string `json:"sending-mta-ip"`
			ReceivingMXHostname   string `json:"receiving-mx-hostname"`
			ReceivingMXHelo       string `json:"receiving-mx-helo"`
			ReceivingIP           string `json:"receiving-ip"`
			FailedSessionCount    count  `json:"failed-session-count"`
			AdditionalInformation string `json:"additional-information"`
			FailureReasonCode     string `json:"failure-reason-code"`
			FailureErrorCode      string `json:"failure-error-code"`
		} `json:"failure-details"`
	} `json:"policies"`
}

func (w *lenientReport) report() (*Report, error) {
	r := &Report{
		OrganizationName: w.OrganizationName,
		ContactInfo:      w.ContactInfo,
	}
	var err error
	if r.DateRange.Start, err = parseDateTime(w.DateRange.Start); err != nil {
		return nil, err
	}
	if r.DateRange.End, err = parseDateTime(w.DateRange.End); err != nil {
		return nil, err
	}
	if isAddrSpec(w.ContactInfo) {
		if a, ok := normalizeAddr(w.ContactInfo); ok {
			r.ContactInfo = a
		}
	}
	submitter, _ := ContactDomain(r.ContactInfo)
	r.ReportID = correctReportID(w.ReportID, submitter)
	for i := range w.Policies {
		wp := &w.Policies[i]
		var p PolicyResult
		p.Policy.Type = PolicyType(wp.Policy.Type)
		if !p.Policy.Type.Valid() {
			return nil, fmt.Errorf("%w: policies[%d]: unknown policy-type %q", ErrReportSyntax, i, wp.Policy.Type)
		}
		for _, l := range wp.Policy.String {
			if l != "" { // a blank policy line carries nothing (some senders send one)
				p.Policy.String = append(p.Policy.String, l)
			}
		}
		if p.Policy.Domain, err = domain.Normalize(wp.Policy.Domain); err != nil {
			return nil, fmt.Errorf("%w: policies[%d]: policy-domain: %w", ErrReportSyntax, i, err)
		}
		for _, m := range wp.Policy.MXHost {
			m = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(m), "."))
			if m != "" {
				p.Policy.MXHost = append(p.Policy.MXHost, m)
			}
		}
		p.Summary = Summary{int64(wp.Summary.Successful), int64(wp.Summary.Failure)}
		for j := range wp.FailureDetails {
			wd := &wp.FailureDetails[j]
			d := FailureDetail{
				ResultType:         ResultType(wd.ResultType),
				SendingMTAIP:       parseIP(wd.SendingMTAIP),
				ReceivingIP:        parseIP(wd.ReceivingIP),
				ReceivingMXHelo:    wd.ReceivingMXHelo,
				FailedSessionCount: int64(wd.FailedSessionCount),
				FailureReasonCode:  wd.FailureReasonCode,
			}
			if d.FailureReasonCode == "" {
				d.FailureReasonCode = wd.FailureErrorCode
			}
			if wd.ReceivingMXHostname != "" {
				d.ReceivingMXHostname, _ = domain.Normalize(wd.ReceivingMXHostname)
			}
			if ai := strings.Join(strings.Fields(wd.AdditionalInformation), ""); validAbsURI(ai) {
				d.AdditionalInformation = ai
			}
			p.FailureDetails = addDetail(p.FailureDetails, d)
		}
		r.Policies = append(r.Policies, p)
	}
	return r, nil
}

// addDetail adds d to ds, merging it into an entry equal in all but count.
func addDetail(ds []FailureDetail, d FailureDetail) []FailureDetail {
	for i := range ds {
		if ds[i].sameExceptCount(&d) {
			ds[i].FailedSessionCount += d.FailedSessionCount
			return ds
		}
	}
	return append(ds, d)
}

func parseDateTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: date-time %q: %w", ErrReportSyntax, s, err)
	}
	return t.UTC(), nil
}

func parseIP(s string) netip.Addr {
	s = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return canonicalIP(a)
}

// correctReportID returns id if it is msg-id shaped for submitter, else a
// corrected form (see ParseReport).
func correctReportID(id, submitter string) string {
	id = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(id), "<"), ">")
	if submitter == "" || validReportID(id, submitter) {
		return id
	}
	tok := id
	if i := strings.LastIndexByte(id, '@'); i >= 0 {
		tok = id[:i]
	}
	b := []byte(tok)
	for i, c := range b {
		if !isIDChar(c) {
			b[i] = '-'
		}
	}
	tok = strings.Trim(strings.ReplaceAll(string(b), "..", "-"), ".")
	if tok == "" {
		tok = "report"
	}
	return tok + "@" + submitter
}

// stringList decodes a JSON array of strings, a single string, or null.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*l = nil
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = nil
		if s != "" {
			*l = stringList{s}
		}
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return err
	}
	*l = ss
	return nil
}

// count decodes a non-negative integral JSON number (or null as 0).
type count int64

func (c *count) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if s == "null" {
		*c = 0
		return nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		*c = count(n)
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f != math.Trunc(f) || f > 1<<53 {
		return fmt.Errorf("count %s is not a non-negative integer", s)
	}
	*c = count(f)
	return nil
}

// unfoldStrings removes line breaks, and the whitespace after them, that
// occur inside JSON strings. Valid JSON has none, so it is a no-op there;
// reports printed in RFCs and mail bodies have them.
func unfoldStrings(b []byte) []byte {
	if !bytes.ContainsAny(b, "\r\n") {
		return b
	}
	out := make([]byte, 0, len(b))
	inStr, esc := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			case c == '\r' || c == '\n':
				for i+1 < len(b) && (b[i+1] == ' ' || b[i+1] == '\t' || b[i+1] == '\r' || b[i+1] == '\n') {
					i++
				}
				continue
			}
		} else if c == '"' {
			inStr = true
		}
		out = append(out, c)
	}
	return out
}
