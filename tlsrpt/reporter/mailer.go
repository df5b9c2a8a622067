package reporter

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/strictmx/strictmx/internal/dialguard"
	"github.com/strictmx/strictmx/internal/domain"
	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/resolver"
)

// Mailer submits one report message. from is the envelope sender, to the
// single recipient (the address of a mailto: rua), msg the whole message
// with CRLF line endings.
//
// Implementations must not count the session they make in a Collector
// (or must mark it Result.ReportTraffic): report traffic never appears in
// reports.
type Mailer interface {
	Send(ctx context.Context, from, to string, msg []byte) error
}

// DefaultSMTPTimeout bounds one message submission when the context has
// no earlier deadline.
const DefaultSMTPTimeout = 5 * time.Minute

// RelayMailer submits messages to one SMTP relay (smart host).
type RelayMailer struct {
	// Addr is the relay's host:port; required.
	Addr string
	// TLS is how to secure the connection: "starttls" (required
	// STARTTLS), "tls" (implicit TLS, port 465) or "" (plain text, for
	// a relay on loopback).
	TLS string
	// TLSConfig for STARTTLS or implicit TLS; nil means verify the relay
	// host name with the system roots.
	TLSConfig *tls.Config
	// Username and Password, if Username is set, authenticate with AUTH
	// PLAIN, refused without TLS unless the relay is on loopback.
	Username, Password string
	// HelloName is the EHLO name; empty means "localhost".
	HelloName string
	// Dialer dials the relay; nil means a net.Dialer.
	Dialer interface {
		DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	}
}

// Validate reports a configuration error of m without connecting: an Addr
// that is not host:port with a numeric port, an unknown TLS value, or
// AUTH (Username set) in plain text to a relay not on loopback. The error
// wraps ErrConfig. Send and Check validate first.
func (m *RelayMailer) Validate() error {
	_, err := m.host()
	return err
}

// host validates m and returns the relay's host name.
func (m *RelayMailer) host() (string, error) {
	host, port, err := net.SplitHostPort(m.Addr)
	if err != nil {
		return "", fmt.Errorf("%w: relay address %q: %w", ErrConfig, m.Addr, err)
	}
	if n, err := strconv.Atoi(port); host == "" || err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%w: relay address %q: want host:port, port 1-65535", ErrConfig, m.Addr)
	}
	switch m.TLS {
	case "tls", "starttls":
	case "":
		if m.Username != "" && !isLoopback(host) {
			return "", fmt.Errorf("%w: AUTH without TLS to %s", ErrConfig, host)
		}
	default:
		return "", fmt.Errorf("%w: RelayMailer.TLS %q: want \"starttls\", \"tls\" or \"\"", ErrConfig, m.TLS)
	}
	return host, nil
}

// Send implements Mailer.
func (m *RelayMailer) Send(ctx context.Context, from, to string, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, DefaultSMTPTimeout)
	defer cancel()
	c, done, err := m.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	return transact(c, from, to, msg)
}

// Check makes a session with the relay as Send does, without sending mail:
// connect, TLS or STARTTLS as configured (the certificate verified), EHLO,
// AUTH when Username is set, QUIT. Run it at start-up, so that a wrong
// address, TLS setting or password shows then rather than when the first
// report is due. DefaultSMTPTimeout bounds it when ctx has no earlier
// deadline.
func (m *RelayMailer) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, DefaultSMTPTimeout)
	defer cancel()
	c, done, err := m.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	if err := c.Quit(); err != nil {
		return fmt.Errorf("reporter: relay QUIT: %w", err)
	}
	return nil
}

// open connects to the relay and returns a client past EHLO and AUTH;
// done closes it.
func (m *RelayMailer) open(ctx context.Context) (c *smtp.Client, done func(), err error) {
	host, err := m.host()
	if err != nil {
		return nil, nil, err
	}
	cfg := m.TLSConfig
	if cfg == nil {
		cfg = &tls.Config{ServerName: host}
	}
	raw, err := dial(ctx, m.Dialer, m.Addr)
	if err != nil {
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	cleanup := func() {
		if c != nil {
			c.Close()
		}
		stop()
		raw.Close()
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	hello := cmp.Or(m.HelloName, "localhost")
	conn := raw
	switch m.TLS {
	case "tls":
		conn = tls.Client(raw, cfg)
	case "starttls":
		var offered bool
		conn, offered, err = startTLS(raw, hello, cfg, true)
		if err != nil {
			return nil, nil, fmt.Errorf("reporter: relay STARTTLS: %w", err)
		}
		if !offered {
			return nil, nil, fmt.Errorf("reporter: relay %s does not offer STARTTLS", m.Addr)
		}
	}
	c = smtp.NewClient(conn)
	if err = c.Hello(hello); err != nil {
		return nil, nil, err
	}
	if m.Username != "" {
		if err = c.Auth(sasl.NewPlainClient("", m.Username, m.Password)); err != nil {
			return nil, nil, fmt.Errorf("reporter: relay AUTH: %w", err)
		}
	}
	return c, cleanup, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func dial(ctx context.Context, d interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}, addr string) (net.Conn, error) {
	if d == nil {
		d = &net.Dialer{}
	}
	return d.DialContext(ctx, "tcp", addr)
}

func transact(c *smtp.Client, from, to string, msg []byte) error {
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		w.Close()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// MXResolver looks up MX records. It is mtasts.MXResolver, whose error
// convention ResolveMX relies on: *net.Resolver and *resolver.Stub satisfy
// it.
type MXResolver = mtasts.MXResolver

// DirectMailer delivers messages straight to the recipient domain's MX
// hosts, in preference order: the hosts of mtasts.ResolveMX, the domain
// itself when it has no MX records. A null MX, a domain that does not exist
// and a failed MX lookup end Send with an error wrapping mtasts.ErrNullMX,
// mtasts.ErrNoSuchDomain or mtasts.ErrDNSTemporary.
//
// TLS is opportunistic: STARTTLS is used when offered but certificates
// are not checked and MTA-STS and DANE failures are ignored, as RFC 8460,
// Sections 3 and 5.3.1 ask, so that reports about broken TLS still arrive. A
// failed TLS handshake is retried in plain text on that host.
type DirectMailer struct {
	// Resolver for MX lookups; nil means a *resolver.Stub reading
	// /etc/resolv.conf. When it also resolves addresses (LookupNetIP, as
	// *resolver.Stub and *net.Resolver do) and Dialer is nil, the MX
	// hosts' addresses are resolved with it too.
	Resolver MXResolver
	// HelloName is the EHLO name; empty means "localhost", which many
	// receivers refuse: set it to the sending host's name.
	HelloName string
	// Port to connect to; empty means "25". Tests set another.
	Port string
	// Dialer dials MX hosts; nil means a net.Dialer.
	Dialer interface {
		DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	}
	// AllowPrivate turns the dial guard off. By default the mailer
	// refuses to connect to loopback, private, link-local, multicast and
	// unspecified addresses (the error wraps ErrDialGuard), so that a
	// hostile DNS answer cannot point a report into the sender's own
	// network; with a Dialer of the caller's, the peer is checked once
	// connected, before a byte is sent. Set it for tests and intranets.
	AllowPrivate bool
}

// Send implements Mailer.
func (m *DirectMailer) Send(ctx context.Context, from, to string, msg []byte) error {
	i := strings.LastIndexByte(to, '@')
	if i < 0 {
		return fmt.Errorf("%w: recipient %q", ErrConfig, to)
	}
	d, err := domain.Normalize(to[i+1:])
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultSMTPTimeout)
	defer cancel()
	mxs, _, err := mtasts.ResolveMX(ctx, m.Resolver, d)
	if err != nil {
		return err
	}
	port := cmp.Or(m.Port, "25")
	var errs []error
	for _, mx := range mxs {
		h := mx.Host
		err := m.sendHost(ctx, net.JoinHostPort(h, port), h, from, to, msg, true)
		if err != nil && errors.Is(err, errTLSFailed) {
			err = m.sendHost(ctx, net.JoinHostPort(h, port), h, from, to, msg, false)
		}
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", h, err))
		var se *smtp.SMTPError
		if errors.As(err, &se) && se.Code >= 500 {
			break // permanent rejection: other MX hosts would say the same
		}
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// dial connects to an MX host, through the dial guard unless AllowPrivate
// is set.
func (m *DirectMailer) dial(ctx context.Context, addr string) (net.Conn, error) {
	var dial dialguard.DialFunc
	switch {
	case m.Dialer != nil && m.AllowPrivate:
		dial = m.Dialer.DialContext
	case m.Dialer != nil:
		dial = dialguard.Dial(ErrDialGuard, m.Dialer.DialContext)
	default:
		// MX host names resolve through the mailer's resolver, and a
		// refused address is never connected to.
		gd := &dialguard.Dialer{Class: ErrDialGuard, AllowPrivate: m.AllowPrivate}
		if r, ok := m.Resolver.(dialguard.IPResolver); ok {
			gd.Resolver = r
		} else if m.Resolver == nil {
			gd.Resolver = &resolver.Stub{}
		}
		dial = gd.DialContext
	}
	return dial(ctx, "tcp", addr)
}

var errTLSFailed = errors.New("reporter: opportunistic TLS failed")

func (m *DirectMailer) sendHost(ctx context.Context, addr, host, from, to string, msg []byte, tryTLS bool) error {
	conn, err := m.dial(ctx, addr)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	hello := cmp.Or(m.HelloName, "localhost")
	if tryTLS {
		// Certificates are deliberately not verified: see DirectMailer.
		conn, _, err = startTLS(conn, hello, &tls.Config{ServerName: host, InsecureSkipVerify: true}, true)
		if err != nil {
			return fmt.Errorf("%w: %w", errTLSFailed, err)
		}
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello(hello); err != nil {
		return err
	}
	return transact(c, from, to, msg)
}

// startTLS reads the greeting, says EHLO and, if the server offers
// STARTTLS (and use is true), upgrades the connection. It returns a
// connection that replays a greeting, so that an smtp.Client can start on
// it with its own EHLO (a second EHLO is allowed, RFC 5321, Section
// 4.1.4; after STARTTLS it is required).
func startTLS(conn net.Conn, hello string, cfg *tls.Config, use bool) (net.Conn, bool, error) {
	tp := textproto.NewConn(conn)
	if _, _, err := tp.ReadResponse(220); err != nil {
		return nil, false, err
	}
	if err := tp.PrintfLine("EHLO %s", hello); err != nil {
		return nil, false, err
	}
	_, msg, err := tp.ReadResponse(250)
	if err != nil {
		return nil, false, err
	}
	offered := false
	for _, l := range strings.Split(msg, "\n")[1:] {
		if strings.EqualFold(strings.TrimSpace(l), "STARTTLS") {
			offered = true
		}
	}
	if !offered || !use {
		return &replayConn{Conn: conn, r: io.MultiReader(strings.NewReader("220 replay\r\n"), tp.R)}, offered, nil
	}
	if err := tp.PrintfLine("STARTTLS"); err != nil {
		return nil, true, err
	}
	if _, _, err := tp.ReadResponse(220); err != nil {
		return nil, true, err
	}
	if tp.R.Buffered() > 0 {
		return nil, true, errors.New("reporter: data after STARTTLS reply")
	}
	tc := tls.Client(conn, cfg)
	if err := tc.Handshake(); err != nil {
		return nil, true, err
	}
	return &replayConn{Conn: tc, r: io.MultiReader(strings.NewReader("220 replay\r\n"), tc)}, true, nil
}

// replayConn reads from r (a replayed greeting, then the connection).
type replayConn struct {
	net.Conn
	r io.Reader
}

func (c *replayConn) Read(b []byte) (int, error) { return c.r.Read(b) }
