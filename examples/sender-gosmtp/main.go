// Command sender-gosmtp is examples/sender in miniature, with the SMTP
// client of github.com/emersion/go-smtp instead of net/smtp: it shows
// where the MTA-STS calls go in a go-smtp delivery.
//
//	go run ./examples/sender-gosmtp -from me@example.org -to you@example.com < message.eml
//
// Each MX host the plan allows gets one connection: smtp.NewClientStartTLS
// reads the greeting, says EHLO, sends STARTTLS and upgrades it, and the
// handshake runs with the second EHLO, over TLS; the message follows on
// the same session. A second connection is made only to deliver in plain
// text where the plan allows it: after a failed handshake under testing
// (or with no policy), and for a host that does not offer STARTTLS, as
// NewClientStartTLS closes the connection when it finds STARTTLS missing.
// go-smtp v0.25 has no STARTTLS on a client that has already said EHLO,
// and its NewClientStartTLS says "EHLO localhost" before STARTTLS; the
// EHLO over TLS says "sender.invalid".
//
// A failure is told apart by the step it happened in, as package mtasts
// asks: the dial, the greeting or the first EHLO (not reached: the next
// host, not counted), STARTTLS missing from EHLO, the STARTTLS command
// refused (an SMTP reply: mtasts.ErrSTARTTLSRefused), the handshake, and
// anything after it (a session failure, a TLS success).
//
// It prints the policy found (or why there is none), what happened at
// each MX host, and how the message went.
//
// Every name is resolved through one resolver (-dns, or /etc/resolv.conf):
// the `_mta-sts` and MX records, the policy hosts and the MX hosts. Policy
// and MX hosts are connected to only on globally reachable addresses
// unless -allow-private is given.
//
// Flags:
//
//	-from ADDR        envelope sender (required)
//	-to ADDR          recipient (required)
//	-port N           SMTP port of the MX hosts (default 25)
//	-policy-port N    HTTPS port of the policy hosts (default 443; for test
//	                  worlds)
//	-dns HOST:PORT    DNS server for every name (default: /etc/resolv.conf)
//	-ca FILE          PEM roots for MX and policy hosts, added to the
//	                  system roots
//	-allow-private    let policy hosts and MX hosts be on loopback and
//	                  private addresses
//
// Exit status: 0 delivered, and for -h or -help (the usage, on stdout);
// 75 temporary failure; 1 permanent failure (a null MX, a domain that does
// not exist, or the message cannot be read); 2 usage error (the usage, on
// stderr). Errors go to stderr, what happened to stdout.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/strictmx/strictmx/internal/dialguard"
	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/resolver"
)

// Exit statuses (sysexits.h).
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitTempFail = 75
)

// heloName is the name sent in EHLO over TLS and in plain text.
const heloName = "sender.invalid"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, nil))
}

// world is what the program talks to; main builds it from the flags, and
// tests may replace it.
type world struct {
	client *mtasts.Client
	mx     mtasts.MXResolver
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	tls    *tls.Config
}

const usageLine = "usage: sender-gosmtp -from ADDR -to ADDR [flags] < message"

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, w *world) int {
	var flagOut bytes.Buffer
	fs := flag.NewFlagSet("sender-gosmtp", flag.ContinueOnError)
	fs.SetOutput(&flagOut)
	from := fs.String("from", "", "envelope sender `ADDR` (required)")
	to := fs.String("to", "", "recipient `ADDR` (required)")
	port := fs.Int("port", 25, "SMTP `port` of the MX hosts")
	policyPort := fs.Int("policy-port", 443, "HTTPS `port` of the policy hosts (for test worlds)")
	dnsServer := fs.String("dns", "", "DNS server `HOST:PORT` for every name (default: /etc/resolv.conf)")
	caFile := fs.String("ca", "", "PEM `FILE` of roots for MX and policy hosts, added to the system roots")
	allowPrivate := fs.Bool("allow-private", false, "let policy hosts and MX hosts be on loopback and private addresses")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\n\nExit status: 0 delivered, 75 temporary failure, 1 permanent failure, 2 usage error.\n\nflags:\n", usageLine)
		fs.PrintDefaults()
	}
	usage := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "sender-gosmtp: "+format+"\n", args...)
		fs.SetOutput(stderr)
		fs.Usage()
		return exitUsage
	}
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		stdout.Write(flagOut.Bytes())
		return exitOK
	case err != nil:
		stderr.Write(flagOut.Bytes())
		return exitUsage
	}
	switch {
	case *from == "" || !strings.Contains(*to, "@"):
		return usage("-from and -to ADDR are required")
	case fs.NArg() != 0:
		return usage("unexpected argument %q", fs.Arg(0))
	case *port <= 0 || *port > 65535:
		return usage("-port %d out of range 1-65535", *port)
	case *policyPort <= 0 || *policyPort > 65535:
		return usage("-policy-port %d out of range 1-65535", *policyPort)
	}
	if w == nil {
		var err error
		if w, err = newWorld(*dnsServer, *caFile, *allowPrivate, strconv.Itoa(*policyPort)); err != nil {
			return usage("%v", err)
		}
	}
	msg, err := io.ReadAll(io.LimitReader(stdin, 64<<20))
	if err != nil {
		fmt.Fprintln(stderr, "sender-gosmtp: reading the message:", err)
		return exitError
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	domain := (*to)[strings.LastIndexByte(*to, '@')+1:]

	res, err := w.client.Lookup(ctx, domain)
	if errors.Is(err, mtasts.ErrInvalidDomain) {
		res, err = &mtasts.Result{Domain: domain}, nil // cannot have a policy
	}
	if err != nil {
		fmt.Fprintln(stdout, "temporary failure:", err) // the deadline
		return exitTempFail
	}
	// What was found, and why there is no policy when a fetch failed.
	fmt.Fprintf(stdout, "policy for %s: %s (source %s", res.Domain, res.Mode(), res.Source)
	if res.ID != "" {
		fmt.Fprintf(stdout, ", id %s", res.ID)
	}
	if res.Failure != "" {
		fmt.Fprintf(stdout, "; %s", res.Failure)
	}
	if res.Err != nil {
		fmt.Fprintf(stdout, "; %v", res.Err)
	}
	fmt.Fprintln(stdout, ")")

	mxs, _, err := mtasts.ResolveMX(ctx, w.mx, res.Domain) // or the implicit MX
	if errors.Is(err, mtasts.ErrNullMX) || errors.Is(err, mtasts.ErrNoSuchDomain) {
		fmt.Fprintln(stdout, "failed:", err) // permanent: the domain's own DNS says so
		return exitError
	}
	if err != nil {
		fmt.Fprintln(stdout, "temporary failure:", err)
		return exitTempFail
	}
	plan := res.Plan(mxs, mtasts.PlanOptions{})
	for i := range plan.Hosts {
		h := &plan.Hosts[i]
		if !h.Try {
			d := h.Skipped()
			fmt.Fprintf(stdout, "%s: skipped: %s%s\n", h.Host, d.Err, report(d))
			continue
		}
		addr := net.JoinHostPort(h.Host, strconv.Itoa(*port))
		c, d := w.open(ctx, addr, h)
		if c == nil {
			fmt.Fprintf(stdout, "%s: %s%s: %v\n", h.Host, d.Outcome, report(d), d.Err)
			continue
		}
		how := "without TLS"
		if cs, ok := c.TLSConnectionState(); ok {
			how = "over " + tls.VersionName(cs.Version)
		}
		err = c.SendMail(*from, []string{*to}, bytes.NewReader(msg))
		if err == nil {
			err = c.Quit()
		}
		c.Close()
		if err != nil {
			d = h.Sent(err) // TLS passed (or was not used); the session failed later
			fmt.Fprintf(stdout, "%s: not accepted: %v\n", h.Host, d.Err)
			continue
		}
		d = h.Sent(nil)
		fmt.Fprintf(stdout, "%s: delivered %s%s\n", h.Host, how, report(d))
		return exitOK
	}
	if _, err := w.client.Replan(ctx, plan); err != nil {
		fmt.Fprintln(stdout, "temporary failure:", err)
		return exitTempFail
	}
	fmt.Fprintln(stdout, "temporary failure: no MX host took the message")
	return exitTempFail
}

// report says what a decision reports to TLS-RPT, if anything.
func report(d mtasts.Decision) string {
	if d.ResultType == "" {
		return ""
	}
	s := " [" + string(d.ResultType)
	if d.Reason != "" {
		s += " " + d.Reason
	}
	return s + "]"
}

// errMXNotPublic means an MX host resolved only to addresses the dial
// guard refuses (loopback, private...): see -allow-private.
var errMXNotPublic = errors.New("sender-gosmtp: MX host address not public")

// newWorld builds the world from the flags: one resolver for every name,
// one set of roots for policy and MX hosts, the dial guard on both unless
// allowPrivate.
func newWorld(dnsServer, caFile string, allowPrivate bool, policyPort string) (*world, error) {
	res := &resolver.Stub{}
	if dnsServer != "" {
		res.Servers = []string{dnsServer}
	}
	var roots *x509.CertPool
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		if roots, err = x509.SystemCertPool(); err != nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificates in %s", caFile)
		}
	}
	// The Client's built-in fetch dialer resolves the policy host through
	// res (it resolves addresses) with the guard unless AllowPrivate;
	// another policy port takes a dialer of our own, built the same way.
	client := &mtasts.Client{Resolver: res, RootCAs: roots, AllowPrivate: allowPrivate}
	if policyPort != "443" {
		pd := &dialguard.Dialer{Class: mtasts.ErrDialGuard, Resolver: res, AllowPrivate: allowPrivate,
			Net: net.Dialer{Timeout: 30 * time.Second}}
		client.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, port, err := net.SplitHostPort(addr); err == nil && port == "443" {
				addr = net.JoinHostPort(host, policyPort)
			}
			return pd.DialContext(ctx, network, addr)
		}
	}
	mxd := &dialguard.Dialer{Class: errMXNotPublic, Resolver: res, AllowPrivate: allowPrivate,
		Net: net.Dialer{Timeout: 30 * time.Second}}
	return &world{client: client, mx: res, dial: mxd.DialContext, tls: &tls.Config{RootCAs: roots}}, nil
}

// open connects to one MX host the way its plan says. It returns a client
// ready for MAIL FROM and the decision for the host, or a nil client and
// the decision to go to the next host.
func (w *world) open(ctx context.Context, addr string, h *mtasts.HostPlan) (*smtp.Client, mtasts.Decision) {
	conn, err := w.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, h.NotReached(err) // not counted
	}
	sc := &stepConn{Conn: conn, ctx: ctx}
	c, err := smtp.NewClientStartTLS(sc, h.TLSConfig(w.tls))
	switch {
	case err == nil:
		// The handshake happens here. Done tells a TLS failure from an
		// EHLO refused after a good handshake by what TLSConfig recorded.
		err = c.Hello(heloName)
	case !sc.helloDone():
		return nil, h.NotReached(err) // the greeting or EHLO failed
	case !sc.startTLSSent():
		// EHLO went well and did not offer STARTTLS: the one failure
		// NewClientStartTLS has left.
		err = mtasts.ErrSTARTTLSNotSupported
	default:
		var smtpErr *smtp.SMTPError
		if errors.As(err, &smtpErr) {
			// A reply to STARTTLS: the server refused it before any
			// handshake (not a TLS failure).
			err = fmt.Errorf("%w: %w", mtasts.ErrSTARTTLSRefused, err)
		}
	}
	d := h.Done(err)
	if err == nil {
		return c, d
	}
	if c != nil {
		c.Close()
	}
	if !d.Deliver {
		return nil, d
	}
	// Plain text where the plan allows it (testing, no policy), on a new
	// connection: NewClientStartTLS closed the first one, or the failed
	// handshake left it unusable.
	if conn, err = w.dial(ctx, "tcp", addr); err != nil {
		return nil, h.Sent(err)
	}
	c = smtp.NewClient(&stepConn{Conn: conn, ctx: ctx})
	if err := c.Hello(heloName); err != nil {
		c.Close()
		return nil, h.Sent(err)
	}
	return c, d
}

// stepConn is an MX connection that records how far the SMTP dialogue
// before TLS went, so that a failure of NewClientStartTLS can be placed in
// its step, and that keeps every deadline within ctx's.
type stepConn struct {
	net.Conn
	ctx context.Context

	mu       sync.Mutex
	hello    bool         // EHLO or HELO written
	helloOK  bool         // a 250 reply read after it
	startTLS bool         // STARTTLS written
	reply    bytes.Buffer // what was read since the last EHLO or HELO, bounded
}

func (c *stepConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if !c.startTLS {
		switch cmd := strings.ToUpper(string(p[:min(len(p), 9)])); {
		case strings.HasPrefix(cmd, "EHLO ") || strings.HasPrefix(cmd, "HELO "):
			c.hello = true
			c.reply.Reset()
		case strings.HasPrefix(cmd, "STARTTLS"):
			c.startTLS = true
		}
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *stepConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if c.hello && !c.helloOK && !c.startTLS && c.reply.Len() < 64<<10 {
		c.reply.Write(p[:n])
		// The last line of a 250 reply, complete: hello succeeded.
		for line := range bytes.SplitAfterSeq(c.reply.Bytes(), []byte("\n")) {
			if bytes.HasPrefix(line, []byte("250 ")) && bytes.HasSuffix(line, []byte("\n")) {
				c.helloOK = true
			}
		}
	}
	c.mu.Unlock()
	return n, err
}

// helloDone reports whether EHLO (or HELO) was answered with 250.
func (c *stepConn) helloDone() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.helloOK
}

// startTLSSent reports whether the STARTTLS command was written.
func (c *stepConn) startTLSSent() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.startTLS
}

// SetDeadline keeps go-smtp's per-command deadlines (which it clears
// after each command) within the delivery's.
func (c *stepConn) SetDeadline(t time.Time) error {
	if dl, ok := c.ctx.Deadline(); ok && (t.IsZero() || t.After(dl)) {
		t = dl
	}
	return c.Conn.SetDeadline(t)
}
