package tlsrpttest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/strictmx/strictmx/internal/testpki"
	"github.com/strictmx/strictmx/tlsrpt/internal/reportcheck"
	"github.com/strictmx/strictmx/tlsrpt/reporter"
)

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = reportcheck.ErrInvalid

// ValidateReportJSON checks one report's JSON against every rule strictmx
// report JSON follows (what strict receivers enforce): UTF-8 without BOM,
// no duplicate keys, no null or "", integers only, the exact key set,
// registered types, canonical IPs, A-label domains, msg-id shaped
// report-id, and the count invariants. The error lists every problem.
func ValidateReportJSON(data []byte) error {
	_, err := reportcheck.JSON(data)
	return err
}

// ValidateMessage checks a whole report mail against every rule strictmx
// report mail follows (headers once each, Subject, multipart/report with exactly a
// text/plain part and a base64 application/tlsrpt+gzip attachment with the
// RFC 8460 file name, DKIM by the submitter covering the TLS-Report-*
// headers without l=) and its attachment with ValidateReportJSON. With
// lookupTXT set (see DKIMKey) the DKIM signature is verified with
// go-msgauth; otherwise only its tags are checked.
func ValidateMessage(data []byte, lookupTXT func(domain string) ([]string, error)) error {
	_, err := reportcheck.Message(data, &reportcheck.MessageOptions{LookupTXT: lookupTXT})
	return err
}

// DKIMKey makes a fresh Ed25519 signing key for domain and selector and
// returns it with a LookupTXT function that serves its public key record,
// for ValidateMessage.
func DKIMKey(domain, selector string) (*reporter.DKIM, func(string) ([]string, error)) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(fmt.Sprintf("tlsrpttest: ed25519: %v", err)) // crypto/rand does not fail
	}
	name := selector + "._domainkey." + domain
	rec := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	lookup := func(q string) ([]string, error) {
		if q == name {
			return []string{rec}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: q, IsNotFound: true}
	}
	return &reporter.DKIM{Selector: selector, Key: priv}, lookup
}

// Mail is one message a Mailer or SMTPServer received.
type Mail struct {
	From, To string
	Data     []byte
}

// Mailer is a reporter.Mailer that records messages. Its zero value is
// ready to use; Err, if set, decides the outcome of each Send.
type Mailer struct {
	// Err returns the error for a Send to `to` (n counts Sends from 1);
	// nil means accept.
	Err func(to string, n int) error

	mu   sync.Mutex
	n    int
	msgs []Mail
}

// Send implements reporter.Mailer.
func (m *Mailer) Send(ctx context.Context, from, to string, msg []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	if m.Err != nil {
		if err := m.Err(to, m.n); err != nil {
			return err
		}
	}
	m.msgs = append(m.msgs, Mail{from, to, slices.Clone(msg)})
	return nil
}

// Messages returns the accepted messages in order.
func (m *Mailer) Messages() []Mail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.msgs)
}

// Post is one request an HTTPSServer received.
type Post struct {
	Method, Path, ContentType string
	Body                      []byte
	Status                    int // the status it answered
}

// HTTPSServer is an https rua endpoint on loopback that records requests
// (httptest.NewTLSServer underneath).
type HTTPSServer struct {
	*httptest.Server
	// Status returns the status for the n-th request (from 1); nil means
	// 200. Set it before the first request.
	Status func(n int) int

	mu    sync.Mutex
	posts []Post
}

// maxPost bounds a recorded body.
const maxPost = 16 << 20

// NewHTTPSServer starts an endpoint, closed when t ends.
func NewHTTPSServer(t testing.TB) *HTTPSServer {
	s := &HTTPSServer{}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *HTTPSServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxPost))
	s.mu.Lock()
	n := len(s.posts) + 1
	status := http.StatusOK
	if s.Status != nil {
		status = s.Status(n)
	}
	s.posts = append(s.posts, Post{r.Method, r.URL.Path, r.Header.Get("Content-Type"), body, status})
	s.mu.Unlock()
	if status >= 300 && status < 400 {
		w.Header().Set("Location", "/elsewhere")
	}
	w.WriteHeader(status)
	io.WriteString(w, http.StatusText(status))
}

// Posts returns the requests received, in order.
func (s *HTTPSServer) Posts() []Post {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.posts)
}

// ReportClient returns an http.Client that trusts the server and, like
// reporter.NoRedirectClient, never follows redirects.
func (s *HTTPSServer) ReportClient() *http.Client {
	c := s.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.Timeout = reporter.DefaultHTTPTimeout
	return c
}

// SMTPOptions configure an SMTPServer.
type SMTPOptions struct {
	// STARTTLS offers STARTTLS with a certificate for "localhost" from a
	// test CA (see SMTPServer.TLSConfig).
	STARTTLS bool
	// Username and Password, if set, require AUTH PLAIN.
	Username, Password string
	// Reject, if set, answers DATA with its error for the n-th message.
	Reject func(n int) error
}

// SMTPServer is a recording SMTP server (a relay or an MX) on loopback.
type SMTPServer struct {
	// Addr is host:port of the listener.
	Addr  string
	opts  SMTPOptions
	srv   *smtp.Server
	pool  *testpki.CA
	mu    sync.Mutex
	mails []Mail
	tlsOn []bool
	n     int
}

// NewSMTPServer starts a server on 127.0.0.1, closed when t ends.
func NewSMTPServer(t testing.TB, opts SMTPOptions) *SMTPServer {
	t.Helper()
	s := &SMTPServer{opts: opts}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{s: s, c: c}, nil
	}))
	s.srv.Domain = "localhost"
	s.srv.AllowInsecureAuth = false
	if opts.STARTTLS {
		ca, err := testpki.New()
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := ca.Leaf(testpki.LeafOptions{DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})
		if err != nil {
			t.Fatal(err)
		}
		s.pool = ca
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{leaf}}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = l.Addr().String()
	go s.srv.Serve(l)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// TLSConfig returns a client configuration that trusts the server's
// STARTTLS certificate, or nil without STARTTLS.
func (s *SMTPServer) TLSConfig() *tls.Config {
	if s.pool == nil {
		return nil
	}
	return &tls.Config{RootCAs: s.pool.Pool(), ServerName: "localhost"}
}

// Messages returns the accepted messages in order.
func (s *SMTPServer) Messages() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mails)
}

// OverTLS reports, per accepted message, whether it came over TLS.
func (s *SMTPServer) OverTLS() []bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tlsOn)
}

type smtpSession struct {
	s      *SMTPServer
	c      *smtp.Conn
	from   string
	to     []string
	authed bool
}

var errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}

func (ss *smtpSession) AuthMechanisms() []string {
	if ss.s.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != ss.s.opts.Username || pass != ss.s.opts.Password {
			return errors.New("invalid credentials")
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.Username != "" && !ss.authed {
		return errAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(io.LimitReader(r, 32<<20))
	if err != nil {
		return err
	}
	s := ss.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if s.opts.Reject != nil {
		if err := s.opts.Reject(s.n); err != nil {
			return err
		}
	}
	_, isTLS := ss.c.TLSConnectionState()
	for _, to := range ss.to {
		s.mails = append(s.mails, Mail{ss.from, to, b})
		s.tlsOn = append(s.tlsOn, isTLS)
	}
	return nil
}

func (ss *smtpSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *smtpSession) Logout() error { return nil }
