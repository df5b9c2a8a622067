package reporter

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/netip"
	"net/url"
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

// NoRedirectClient returns NewHTTPClient(HTTPOptions{}), the default for
// report POSTs: no redirects, no proxy, DefaultHTTPTimeout, and only
// globally reachable addresses.
func NoRedirectClient() *http.Client {
	return NewHTTPClient(HTTPOptions{})
}

// HTTPOptions adjusts the client NewHTTPClient makes.
type HTTPOptions struct {
	// Resolver resolves the rua hosts' names; nil means the system
	// resolver (net.DefaultResolver). *resolver.Stub satisfies it.
	Resolver interface {
		LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	}
	// AllowPrivate turns the dial guard off, for a collector on the
	// sender's own network. By default a rua host whose address is not
	// globally reachable is refused before a connection is made.
	AllowPrivate bool
	// RootCAs verifies the rua hosts' certificates; nil means the system
	// roots.
	RootCAs *x509.CertPool
	// Proxy chooses a proxy, as http.Transport.Proxy does. Nil means none:
	// the environment (HTTPS_PROXY) is never consulted unless the caller
	// sets Proxy to http.ProxyFromEnvironment. Through a proxy the dial
	// guard sees only the proxy's address, never the rua host's: the
	// proxy must refuse private destinations itself, or any domain can
	// make the sender POST into the proxy's network.
	Proxy func(*http.Request) (*url.URL, error)
}

// NewHTTPClient returns an http.Client for report POSTs that never follows
// redirects (a 3xx is returned as the response), times out after
// DefaultHTTPTimeout, and connects only to globally reachable addresses
// unless AllowPrivate is set (refusals wrap ErrDialGuard): the rua URI
// comes from the policy domain's DNS, so without that check any domain
// could make the sender POST to its loopback or private network.
func NewHTTPClient(o HTTPOptions) *http.Client {
	d := &dialguard.Dialer{Class: ErrDialGuard, Resolver: o.Resolver, AllowPrivate: o.AllowPrivate,
		Net: net.Dialer{Timeout: 30 * time.Second}}
	t := &http.Transport{
		Proxy:               o.Proxy,
		DialContext:         d.DialContext,
		TLSClientConfig:     &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12},
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
	// Boundary of the multipart body: 1 to 70 characters of RFC 2046,
	// Section 5.1.1 (letters, digits, '()+_,-./:=? and inner spaces), or
	// empty for a digest of MessageID.
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
		// A digest of the Message-ID: unique per message, and always within
		// the 70 characters RFC 2046, Section 5.1.1 allows, whatever the
		// lengths of the domains in the Message-ID.
		sum := sha256.Sum256([]byte(m.MessageID))
		boundary = "tlsrpt-" + hex.EncodeToString(sum[:16])
	} else if !validBoundary(boundary) {
		return nil, fmt.Errorf("%w: multipart boundary %q is not 1 to 70 characters of RFC 2046, Section 5.1.1", ErrConfig, boundary)
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

// validBoundary reports whether b is a multipart boundary of RFC 2046,
// Section 5.1.1: 1 to 70 bchars, the last not a space.
func validBoundary(b string) bool {
	if b == "" || len(b) > 70 || b[len(b)-1] == ' ' {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("'()+_,-./:=? ", c) >= 0:
		default:
			return false
		}
	}
	return true
}
