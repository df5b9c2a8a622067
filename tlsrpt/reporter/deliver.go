package reporter

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/strictmx/strictmx/internal/dialguard"
	"github.com/strictmx/strictmx/tlsrpt"
)

// Delivery limits.
const (
	// DefaultHTTPTimeout bounds one https POST, connection to response,
	// when the context has no earlier deadline.
	DefaultHTTPTimeout = time.Minute
	// maxHTTPResponse bounds how much of a response body is read (and
	// discarded) so the connection can be reused.
	maxHTTPResponse = 64 << 10
	// MaxMessageSize bounds a report message. RFC 8460, Section 5.2
	// names ten megabytes as a commonly observed receiver limit; report
	// mail stays well under it.
	MaxMessageSize = 5 << 20
)

// NoRedirectClient returns an http.Client that never follows redirects
// (a 3xx is returned as the response), times out after
// DefaultHTTPTimeout and connects only to public unicast addresses
// (refusals wrap ErrDialGuard): the rua URI comes from the policy domain's
// DNS, so without that check any domain could make the sender POST to its
// loopback or private network. It is the default for report POSTs.
func NoRedirectClient() *http.Client {
	d := &net.Dialer{Timeout: 30 * time.Second, Control: dialguard.Control(ErrDialGuard)}
	t := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         d.DialContext,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: 30 * time.Second,
		MaxIdleConns:        16,
		IdleConnTimeout:     90 * time.Second,
	}
	return &http.Client{
		Transport:     t,
		Timeout:       DefaultHTTPTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// ErrDialGuard means a connection was refused because its address is
// not public (loopback, private, link-local, multicast, broadcast or
// unspecified): the address of an https rua host, with NoRedirectClient,
// or of an MX host, with DirectMailer unless its AllowPrivate is set. Both
// come from a remote domain's DNS. The delivery is retried like any other
// that failed.
var ErrDialGuard = errors.New("reporter: refusing to connect to a non-public address")

// PostReport POSTs a gzipped report to an https rua URI (RFC 8460,
// Section 5.4) with Content-Type application/tlsrpt+gzip. Only a 2xx
// status is success; anything else, 3xx included, gives a *SendError.
// client nil means NoRedirectClient(); with another client the caller
// chooses its redirect policy.
func PostReport(ctx context.Context, client *http.Client, uri string, gz []byte) error {
	if client == nil {
		client = NoRedirectClient()
	}
	if !strings.HasPrefix(uri, "https://") {
		return &SendError{URI: uri, Err: ErrUnsupportedURI}
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultHTTPTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, bytes.NewReader(gz))
	if err != nil {
		return &SendError{URI: uri, Err: err}
	}
	req.Header.Set("Content-Type", tlsrpt.MediaType)
	resp, err := client.Do(req)
	if err != nil {
		return &SendError{URI: uri, Err: err}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxHTTPResponse))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &SendError{URI: uri, StatusCode: resp.StatusCode}
	}
	return nil
}

// DKIM signs report messages for the submitter domain.
type DKIM struct {
	// Selector of the key in DNS (<selector>._domainkey.<submitter>).
	Selector string
	// Key is an *rsa.PrivateKey or ed25519.PrivateKey.
	Key crypto.Signer
}

// signedHeaders are covered by the DKIM signature; TLS-Report-Domain and
// TLS-Report-Submitter SHOULD be (RFC 8460, Section 5.3), and are.
var signedHeaders = []string{
	"From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type",
	"TLS-Report-Domain", "TLS-Report-Submitter", "Auto-Submitted", "TLS-Required",
}

// Message describes one report mail.
type Message struct {
	From string // addr-spec of the From header
	To   string // addr-spec from the mailto: rua
	// Report is the report; its contact-info domain is the submitter.
	Report *tlsrpt.Report
	// Gzip is the gzipped report JSON, attached as it is.
	Gzip []byte
	// FileName of the attachment (see FileName).
	FileName string
	// Date of the message.
	Date time.Time
	// MessageID without angle brackets.
	MessageID string
	// Boundary of the multipart body; empty means one derived from
	// MessageID.
	Boundary string
}

// Build returns the message (CRLF line endings), DKIM-signed by the
// submitter domain when d is not nil: multipart/report; report-type=tlsrpt
// with a text/plain summary and the application/tlsrpt+gzip attachment,
// and the headers of RFC 8460, Section 5.3 (with the choices listed under
// "Decisions where the RFC is loose" in package tlsrpt).
func (m *Message) Build(d *DKIM) ([]byte, error) {
	r := m.Report
	submitter, err := tlsrpt.ContactDomain(r.ContactInfo)
	if err != nil {
		return nil, err
	}
	if len(r.Policies) == 0 {
		return nil, fmt.Errorf("%w: no policies", tlsrpt.ErrInvalidReport)
	}
	policyDomain := r.Policies[0].Policy.Domain
	for _, s := range []string{m.From, m.To, m.MessageID} {
		if s == "" || strings.ContainsAny(s, "\r\n<>") {
			return nil, fmt.Errorf("%w: bad From, To or Message-ID %q", ErrConfig, s)
		}
	}
	boundary := m.Boundary
	if boundary == "" {
		boundary = "tlsrpt-" + strings.Map(func(r rune) rune {
			if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
				return r
			}
			return '-'
		}, m.MessageID)
	}
	var b bytes.Buffer
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", "<"+m.From+">")
	h("To", "<"+m.To+">")
	h("Date", m.Date.Format(time.RFC1123Z))
	h("Message-ID", "<"+m.MessageID+">")
	// Spec note: RFC 8460, Section 5.3 shows the Report-ID in angle
	// brackets in the Subject; we follow it.
	h("Subject", "Report Domain: "+policyDomain+" Submitter: "+submitter+" Report-ID: <"+r.ReportID+">")
	h("TLS-Report-Domain", policyDomain)
	h("TLS-Report-Submitter", submitter)
	h("Auto-Submitted", "auto-generated")
	h("TLS-Required", "No")
	h("MIME-Version", "1.0")
	// Quoted as in RFC 8460, Section 5.3, for receivers that match it
	// literally.
	h("Content-Type", `multipart/report; report-type="tlsrpt"; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	b.WriteString("This is a multipart message in MIME format.\r\n")

	// Part 1: human-readable summary.
	b.WriteString("\r\n--" + boundary + "\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(summaryText(r, submitter, policyDomain)))
	qp.Close()
	b.WriteString("\r\n")

	// Part 2: the gzipped report.
	b.WriteString("\r\n--" + boundary + "\r\n")
	b.WriteString("Content-Type: " + mime.FormatMediaType(tlsrpt.MediaType, map[string]string{"name": m.FileName}) + "\r\n")
	b.WriteString("Content-Transfer-Encoding: base64\r\n")
	b.WriteString("Content-Disposition: " + mime.FormatMediaType("attachment", map[string]string{"filename": m.FileName}) + "\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(m.Gzip)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	b.WriteString("\r\n--" + boundary + "--\r\n")

	if b.Len() > MaxMessageSize {
		return nil, fmt.Errorf("%w: message of %d bytes", tlsrpt.ErrReportTooLarge, b.Len())
	}
	if d == nil {
		return b.Bytes(), nil
	}
	if d.Key == nil || d.Selector == "" {
		return nil, fmt.Errorf("%w: DKIM needs a key and a selector", ErrConfig)
	}
	var signed bytes.Buffer
	err = dkim.Sign(&signed, bytes.NewReader(b.Bytes()), &dkim.SignOptions{
		Domain:                 submitter,
		Selector:               d.Selector,
		Signer:                 d.Key,
		HeaderKeys:             signedHeaders,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
	})
	if err != nil {
		return nil, fmt.Errorf("reporter: dkim sign: %w", err)
	}
	return signed.Bytes(), nil
}

func summaryText(r *tlsrpt.Report, submitter, policyDomain string) string {
	var ok, failed int64
	for _, p := range r.Policies {
		ok += p.Summary.TotalSuccessfulSessionCount
		failed += p.Summary.TotalFailureSessionCount
	}
	var s strings.Builder
	fmt.Fprintf(&s, "This is an aggregate TLS report (RFC 8460) from %s for %s.\r\n\r\n", submitter, policyDomain)
	fmt.Fprintf(&s, "Period: %s to %s\r\n", r.DateRange.Start.UTC().Format(time.RFC3339), r.DateRange.End.UTC().Format(time.RFC3339))
	fmt.Fprintf(&s, "Successful sessions: %d\r\nFailed sessions: %d\r\n", ok, failed)
	fmt.Fprintf(&s, "Report-ID: %s\r\nContact: %s\r\n\r\nThe report is attached as application/tlsrpt+gzip.\r\n", r.ReportID, r.ContactInfo)
	return s.String()
}
