package mtaststest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"
)

// Limits of the harness MX hosts, so that a runaway client cannot make a
// test use unbounded memory.
const (
	// MaxMessageBytes is the largest message an MX host accepts.
	MaxMessageBytes = 1 << 20
	// maxRecipients is the most RCPT TO an MX host accepts per message.
	maxRecipients = 100
	// maxRecorded is the most messages and handshakes an MX host records;
	// later ones are counted but not kept.
	maxRecorded = 1000
	// smtpTimeout bounds each read and write of an MX session.
	smtpTimeout = 10 * time.Second
)

// MXConfig says how an MX host behaves. The zero value is a well-behaved
// host: STARTTLS offered, TLS 1.2 or newer, a valid certificate for its
// name from the harness CA.
type MXConfig struct {
	// Certificate chooses the certificate presented after STARTTLS.
	Certificate CertMode
	// CertNames, if set, are the DNS names on the certificate instead of
	// the host's own name: "*.example.test" for a wildcard, or the policy
	// domain to test a certificate for the wrong name. CertWrongName
	// ignores it.
	CertNames []string
	// NoSTARTTLS stops the host from offering STARTTLS (EHLO does not list
	// it and the command is refused).
	NoSTARTTLS bool
	// TLS11Only makes the host speak TLS 1.1 and nothing else.
	TLS11Only bool

	// CommonName, if set, is the certificate's subject common name in
	// place of its first DNS name: beside other names, to test that a
	// client ignores the CN when the certificate has DNS names, or with
	// CertNoSAN, the one name the certificate carries.
	CommonName string
	// Issuer chooses who issues the certificate, and so the chain
	// presented: the harness CA (the default), an intermediate under it,
	// or an intermediate under a private root, for DANE-TA (usage 2).
	Issuer Issuer
	// IssuerExpired makes the intermediate CA certificate of
	// IssuerIntermediate or IssuerPrivate one that has expired; the leaf
	// stays valid. It does nothing for IssuerCA.
	IssuerExpired bool
	// Anchor chooses which CA certificate of the chain the host's DANE-TA
	// records (MXHost.TLSAData, MXHost.PublishTLSA) name: the leaf's
	// issuer (the default) or the root.
	Anchor Anchor
	// OmitAnchor leaves the anchor and every certificate above it out of
	// the chain presented: the host sends only the certificates below the
	// anchor, for testing records that carry the anchor in full ("2 0 0",
	// or the bare key of "2 1 0"; RFC 7671, Section 5.2 says when a server
	// may omit it) and clients that must fail without it. It does nothing
	// for a self-signed leaf.
	OmitAnchor bool
}

// Message is what an MX host received in one mail transaction.
type Message struct {
	// Helo is the name the client gave in EHLO or HELO.
	Helo string
	// From is the MAIL FROM address; To the RCPT TO addresses, in order.
	From string
	To   []string
	// Data is the message as received, CRLF line ends, without the
	// final ".".
	Data []byte
	// TLS says whether the transaction ran inside STARTTLS; TLSVersion
	// and ServerName (the client's SNI) describe that TLS session.
	TLS        bool
	TLSVersion uint16
	ServerName string
}

// Handshake is one TLS handshake an MX host saw begin, after STARTTLS.
type Handshake struct {
	// ServerName is the SNI the client sent; "" if none.
	ServerName string
	// Time is when the ClientHello arrived.
	Time time.Time
}

// An MXHost is an SMTP server of the harness for one host name, on its own
// 127.0.0.1 port. Server.DialContext reaches it as "<host>:25".
type MXHost struct {
	s    *Server
	host string // lower case, no trailing dot
	ln   net.Listener
	// One go-smtp server per STARTTLS setting; the accept loop hands each
	// connection to the one the current config asks for.
	withTLS, plain *smtp.Server
	tlsLn, plainLn *chanListener
	wg             sync.WaitGroup

	mu         sync.Mutex
	cfg        MXConfig
	conns      int
	messages   []Message
	nMessages  int
	handshakes []Handshake
}

// MXHost starts an SMTP MX host for host, or reconfigures it if it runs
// already, and publishes it: an MX record domain -> host with preference
// pref, and an A record host -> 127.0.0.1. With an empty domain, nothing is
// published. It fails the test if it cannot listen.
func (s *Server) MXHost(domain string, pref uint16, host string, cfg MXConfig) *MXHost {
	name := normName(host)
	s.mu.Lock()
	mx := s.mxHosts[name]
	s.mu.Unlock()
	if mx == nil {
		var err error
		mx, err = s.startMX(name)
		if err != nil {
			s.fail("MX host %s: %v", host, err)
			return nil
		}
	}
	mx.Configure(cfg)
	if domain != "" {
		s.MX(domain, pref, name)
		s.mu.Lock()
		published := len(s.records[rrKey{fqdn(name), dns.TypeA}]) > 0
		s.mu.Unlock()
		if !published {
			s.A(name, "127.0.0.1")
		}
	}
	return mx
}

// MXHost starts or reconfigures an MX host for the domain; see
// Server.MXHost.
func (d *Domain) MXHost(pref uint16, host string, cfg MXConfig) *Domain {
	d.s.MXHost(d.name, pref, host, cfg)
	return d
}

// LookupMXHost returns the MX host started for host, or nil.
func (s *Server) LookupMXHost(host string) *MXHost {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mxHosts[normName(host)]
}

// SMTPAddr returns the listener address of the MX host for host, or "" if
// there is none.
func (s *Server) SMTPAddr(host string) string {
	if mx := s.LookupMXHost(host); mx != nil {
		return mx.Addr()
	}
	return ""
}

func (s *Server) startMX(host string) (*MXHost, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return nil, errors.New("server closed")
	default:
	}
	if mx := s.mxHosts[host]; mx != nil {
		return mx, nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mx := &MXHost{s: s, host: host, ln: ln}
	mx.tlsLn = newChanListener(ln.Addr())
	mx.plainLn = newChanListener(ln.Addr())
	mx.withTLS = mx.newSMTPServer(&tls.Config{GetConfigForClient: mx.tlsConfig})
	mx.plain = mx.newSMTPServer(nil)
	mx.wg.Go(func() { mx.withTLS.Serve(mx.tlsLn) })
	mx.wg.Go(func() { mx.plain.Serve(mx.plainLn) })
	mx.wg.Go(mx.accept)
	s.mxHosts[host] = mx
	return mx, nil
}

func (mx *MXHost) newSMTPServer(tc *tls.Config) *smtp.Server {
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &mxSession{mx: mx, conn: c}, nil
	}))
	srv.Domain = mx.host
	srv.TLSConfig = tc
	srv.MaxMessageBytes = MaxMessageBytes
	srv.MaxRecipients = maxRecipients
	srv.ReadTimeout = smtpTimeout
	srv.WriteTimeout = smtpTimeout
	srv.ErrorLog = log.New(io.Discard, "", 0)
	return srv
}

// accept hands each connection to the SMTP server the config asks for.
func (mx *MXHost) accept() {
	for {
		c, err := mx.ln.Accept()
		if err != nil {
			return
		}
		mx.mu.Lock()
		mx.conns++
		target := mx.tlsLn
		if mx.cfg.NoSTARTTLS {
			target = mx.plainLn
		}
		mx.mu.Unlock()
		if !target.deliver(c) {
			c.Close()
			return
		}
	}
}

func (mx *MXHost) close() {
	mx.ln.Close()
	// Close the channel listeners too: go-smtp's Close closes only the
	// listeners its Serve has registered, and a Serve that starts after
	// Close would otherwise wait in Accept for ever.
	mx.tlsLn.Close()
	mx.plainLn.Close()
	mx.withTLS.Close()
	mx.plain.Close()
	mx.wg.Wait()
}

// tlsConfig records the handshake and picks the certificate.
func (mx *MXHost) tlsConfig(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	mx.mu.Lock()
	if len(mx.handshakes) < maxRecorded {
		mx.handshakes = append(mx.handshakes, Handshake{ServerName: hello.ServerName, Time: time.Now()})
	}
	cfg := mx.cfg
	mx.mu.Unlock()

	mx.s.mu.Lock()
	chain, err := mx.s.mxCert(mx.host, cfg)
	mx.s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{Certificates: []tls.Certificate{chain.presented}, MinVersion: tls.VersionTLS12}
	if cfg.TLS11Only {
		tc.MinVersion, tc.MaxVersion = tls.VersionTLS11, tls.VersionTLS11
	}
	return tc, nil
}

// Host returns the MX host's name, lower case without a trailing dot.
func (mx *MXHost) Host() string { return mx.host }

// Addr returns the MX host's listener address, "127.0.0.1:port".
func (mx *MXHost) Addr() string { return mx.ln.Addr().String() }

// Configure changes how the MX host behaves, for connections accepted from
// now on.
func (mx *MXHost) Configure(cfg MXConfig) *MXHost {
	cfg.CertNames = slices.Clone(cfg.CertNames)
	mx.mu.Lock()
	defer mx.mu.Unlock()
	mx.cfg = cfg
	return mx
}

// Config returns the MX host's current configuration.
func (mx *MXHost) Config() MXConfig {
	mx.mu.Lock()
	defer mx.mu.Unlock()
	c := mx.cfg
	c.CertNames = slices.Clone(c.CertNames)
	return c
}

// Connections returns how many connections the MX host has accepted.
func (mx *MXHost) Connections() int {
	mx.mu.Lock()
	defer mx.mu.Unlock()
	return mx.conns
}

// Messages returns the messages the MX host has received, oldest first
// (at most the first 1000).
func (mx *MXHost) Messages() []Message {
	mx.mu.Lock()
	defer mx.mu.Unlock()
	return slices.Clone(mx.messages)
}

// MessageCount returns how many messages the MX host has received.
func (mx *MXHost) MessageCount() int {
	mx.mu.Lock()
	defer mx.mu.Unlock()
	return mx.nMessages
}

// Handshakes returns the TLS handshakes the MX host saw begin, oldest
// first (at most the first 1000), whether or not they succeeded.
func (mx *MXHost) Handshakes() []Handshake {
	mx.mu.Lock()
	defer mx.mu.Unlock()
	return slices.Clone(mx.handshakes)
}

// ServerNames returns the SNI of every TLS handshake the MX host saw begin,
// in order.
func (mx *MXHost) ServerNames() []string {
	mx.mu.Lock()
	defer mx.mu.Unlock()
	out := make([]string, len(mx.handshakes))
	for i, h := range mx.handshakes {
		out[i] = h.ServerName
	}
	return out
}

// ResetRecords forgets the recorded connections, messages and handshakes.
func (mx *MXHost) ResetRecords() *MXHost {
	mx.mu.Lock()
	defer mx.mu.Unlock()
	mx.conns, mx.nMessages = 0, 0
	mx.messages, mx.handshakes = nil, nil
	return mx
}

// mxSession records one SMTP session's transactions.
type mxSession struct {
	mx   *MXHost
	conn *smtp.Conn
	from string
	to   []string
}

func (m *mxSession) Reset()        { m.from, m.to = "", nil }
func (m *mxSession) Logout() error { return nil }

func (m *mxSession) Mail(from string, _ *smtp.MailOptions) error {
	m.from, m.to = from, nil
	return nil
}

func (m *mxSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	m.to = append(m.to, to)
	return nil
}

func (m *mxSession) Data(r io.Reader) error {
	// go-smtp stops the reader at Server.MaxMessageBytes.
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg := Message{Helo: m.conn.Hostname(), From: m.from, To: slices.Clone(m.to), Data: data}
	if st, ok := m.conn.TLSConnectionState(); ok {
		msg.TLS, msg.TLSVersion, msg.ServerName = true, st.Version, st.ServerName
	}
	m.mx.mu.Lock()
	defer m.mx.mu.Unlock()
	m.mx.nMessages++
	if len(m.mx.messages) < maxRecorded {
		m.mx.messages = append(m.mx.messages, msg)
	}
	return nil
}

// chanListener is a net.Listener fed by MXHost.accept.
type chanListener struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *chanListener) deliver(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.closed:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, fmt.Errorf("mtaststest: accept: %w", net.ErrClosed)
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
