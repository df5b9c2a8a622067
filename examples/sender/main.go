// Command sender delivers one message the way an MTA-STS compliant MTA
// does, and prints what happened at each MX host.
//
//	go run ./examples/sender -from me@example.org -to you@example.com < message.eml
//
// For the recipient domain it looks up the MTA-STS policy (mtasts.Client),
// the MX hosts in preference order (mtasts.ResolveMX: the domain itself when
// there are none, RFC 5321, Section 5.1), and makes a delivery plan. It then tries each host
// the plan allows: connect to port 25, EHLO, STARTTLS with the plan's TLS
// configuration (SNI and, under enforce or testing, full certificate
// validation for the MX host), and asks the plan whether to go on. A host
// that fails under enforce is skipped; when none is left the policy id is
// checked again, and a new policy is tried at once; otherwise the message
// is left for later: exit status 75 (EX_TEMPFAIL), never a bounce.
//
// With -results FILE every session is appended to FILE as a JSON line in
// the format examples/tlsrpt-reporter reads, so that the reporter can send
// the daily TLS-RPT reports (RFC 8460): one line per policy that judged
// the session, MTA-STS's (or no-policy-found's) and DANE's, whose lines
// have policy-type "tlsa".
//
// Every name is resolved through one resolver (-dns, or /etc/resolv.conf):
// the `_mta-sts` and MX records, and the addresses of the policy hosts and
// the MX hosts. Policy and MX hosts are connected to only on globally
// reachable addresses (the dial guard of package mtasts) unless
// -allow-private is given; a refused MX host is "not reached". A delivery
// over TLS takes one connection (EHLO, STARTTLS, the message); only a
// failed handshake that the plan lets go on (testing, or no policy) takes
// a second one, in plain text.
//
// # DANE
//
// The sender applies SMTP DANE (RFC 7672) too, by default whenever its
// resolver can be trusted (below). An MX host whose TLSA records sit in a
// DNSSEC-signed zone must then offer STARTTLS and present a certificate
// that one of its usable records names (DANE-EE "3 x x": the server's own
// key or certificate, names and dates ignored; DANE-TA "2 x x": a CA, with
// the chain checked from it). A host that fails is skipped and the next
// MX tried; with none left the message waits (exit 75), never bounces. A
// TLSA lookup that fails (a validating resolver answers SERVFAIL for
// forged or broken data) skips the host, whatever MTA-STS says. Where a
// domain has both, a host with usable TLSA records from a secure MX RRset
// is judged by DANE alone; otherwise both judge and the stricter wins
// (RFC 8461, Section 2: MTA-STS never overrides a failing DANE check).
// Hosts in unsigned zones are delivered to as without DANE.
//
// Each host line says DANE's verdict, "[dane: pass]" or "[dane:
// RESULT-TYPE REASON]" such as "[dane: certificate-not-trusted
// dane-no-match]", and the first lines say whether DANE is on and how
// secure the MX RRset was.
//
// The sender validates no DNSSEC itself: it believes the AD
// ("authenticated data") bit of the resolver it asks, as Postfix and Exim
// do. That bit is one unsigned bit in the DNS header, which anyone on the
// path between a remote resolver and the sender can set; a stub resolver
// "MUST NOT place any reliance on signature validation allegedly
// performed on its behalf", except for data from a trusted validating
// resolver over a secure channel (RFC 4035, Section 4.9.3). So the AD bit
// is believed, and DANE applied, only when every server asked is on
// loopback (127.0.0.0/8, ::1), when -trust-ad says the servers are
// trusted (a validating resolver on a network you control, or behind a
// protected channel), or when /etc/resolv.conf has `options trust-ad`.
// Otherwise DANE is off and the first output line says why. Anything on
// loopback is believed: make sure it validates (a forwarding stub such as
// systemd-resolved's 127.0.0.53 validates only as it is configured to).
//
// A validating resolver on loopback takes a few commands with Unbound; on
// Debian its package listens on 127.0.0.1 port 53, answers only local
// clients, and validates from the root trust anchor in
// /var/lib/unbound/root.key as installed:
//
//	apt-get install unbound
//	dig @127.0.0.1 +dnssec isc.org SOA            # the flags include "ad"
//	dig @127.0.0.1 dnssec-failed.org SOA          # SERVFAIL: validation works
//	go run ./examples/sender -dns 127.0.0.1:53 -from me@example.org -to you@example.com < message.eml
//
// Elsewhere, point Unbound's configuration at the anchor that
// unbound-anchor maintains:
//
//	server:
//	    interface: 127.0.0.1
//	    access-control: 127.0.0.0/8 allow
//	    auto-trust-anchor-file: "/var/lib/unbound/root.key"
//
// -no-dane turns DANE off. -require-dane makes it mandatory for the
// delivery (RFC 7672, Section 6): the MX RRset must be DNSSEC-secure and
// only hosts with usable TLSA records are tried, so a domain without DANE
// waits (exit 75); it needs a trusted resolver (else exit 2).
//
// Exit status: 0 delivered, and for -h or -help (the usage, on stdout); 75
// temporary failure; 2 usage error (the usage, on stderr); 1 a permanent
// failure, which only the domain's own DNS can cause (a null MX, a domain
// that does not exist) or a local problem (the message or the results file
// cannot be read or opened). Nothing MTA-STS does, and no DNS timeout or
// deadline, is permanent: those exit 75. A recipient domain that cannot
// have a policy (an address literal, a name with an underscore) is
// delivered to as a domain without MTA-STS.
//
// Flags:
//
//	-from ADDR       envelope sender (required)
//	-to ADDR[,ADDR]  recipients, all in one domain (required)
//	-port N          SMTP port of the MX hosts (default 25), and of the TLSA
//	                 records looked up for them
//	-policy-port N   HTTPS port of the policy hosts (default 443; for test
//	                 worlds such as package mtaststest)
//	-helo NAME       name sent in EHLO (default: this host's name)
//	-dns HOST:PORT   DNS server for every name (default: /etc/resolv.conf)
//	-ca FILE         PEM roots for MX and policy hosts, added to the system
//	                 roots
//	-allow-private   let policy hosts and MX hosts be on loopback and
//	                 private addresses
//	-timeout D       bound for the whole delivery (default 5m)
//	-results FILE    append session results as JSON lines
//	-report          the message is a TLS-RPT report (RFC 8460, Section 5.3.1):
//	                 MTA-STS and DANE failures are ignored and not recorded
//	-trust-ad        believe the AD bit of the DNS servers though not on
//	                 loopback (see DANE above)
//	-no-dane         do not apply DANE
//	-require-dane    mandatory DANE (RFC 7672, Section 6)
package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/smtp"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/strictmx/strictmx/internal/dialguard"
	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/dane"
	"github.com/strictmx/strictmx/mtasts/resolver"
	"github.com/strictmx/strictmx/tlsrpt"
)

// Exit statuses (sysexits.h).
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitTempFail = 75
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, nil))
}

// env is what a delivery talks to. main builds it from the flags; tests
// point it at an mtaststest world.
type env struct {
	client *mtasts.Client
	mx     mtasts.MXResolver
	// res makes the DNSSEC-aware lookups of DANE (the MX RRset, the MX
	// hosts' addresses and TLSA records); nil: no DANE.
	res *resolver.Stub
	// finder is DANE's, on res, when DANE is on (run decides);
	// requireDANE makes it mandatory.
	finder      *dane.Finder
	requireDANE bool
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	tls         *tls.Config // base for STARTTLS: roots, client certificate
	port        string
	helo        string
	report      bool
	out         io.Writer
	record      func(tlsrpt.Result) error // nil: results are not kept
}

// usageLine is the synopsis; the usage adds the flags.
const usageLine = "usage: sender -from ADDR -to ADDR[,ADDR...] [flags] < message"

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, testEnv *env) int {
	// The flag package's messages go to flagOut: the usage is the output
	// for -h (stdout, exit 0), and goes with an error otherwise (stderr,
	// exit 2).
	var flagOut bytes.Buffer
	fs := flag.NewFlagSet("sender", flag.ContinueOnError)
	fs.SetOutput(&flagOut)
	from := fs.String("from", "", "envelope sender `ADDR` (required)")
	to := fs.String("to", "", "recipients, comma-separated, all in one domain (required)")
	port := fs.Int("port", 25, "SMTP `port` of the MX hosts, and of their TLSA records")
	policyPort := fs.Int("policy-port", 443, "HTTPS `port` of the policy hosts (for test worlds)")
	helo := fs.String("helo", "", "EHLO `name` (default: host name)")
	dnsServer := fs.String("dns", "", "DNS server `HOST:PORT` for every name: records, policy hosts, MX hosts (default: /etc/resolv.conf)")
	caFile := fs.String("ca", "", "PEM `FILE` of roots for MX and policy hosts, added to the system roots")
	allowPrivate := fs.Bool("allow-private", false, "let policy hosts and MX hosts be on loopback and private addresses")
	timeout := fs.Duration("timeout", 5*time.Minute, "bound for the whole delivery")
	results := fs.String("results", "", "append session results to this `FILE` as JSON lines")
	report := fs.Bool("report", false, "the message is a TLS-RPT report")
	trustAD := fs.Bool("trust-ad", false, "believe the DNSSEC AD bit of -dns (or /etc/resolv.conf's servers) though not on loopback: for a validating resolver over a trusted network")
	noDANE := fs.Bool("no-dane", false, "do not apply DANE, even with a trusted resolver")
	requireDANE := fs.Bool("require-dane", false, "mandatory DANE: deliver only to MX hosts with usable TLSA records from a DNSSEC-secure MX RRset")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\n\nExit status: 0 delivered, 75 temporary failure, 1 permanent failure, 2 usage error.\n\nflags:\n", usageLine)
		fs.PrintDefaults()
	}
	usage := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "sender: "+format+"\n", args...)
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
	rcpts := splitList(*to)
	switch {
	case *from == "" || len(rcpts) == 0:
		return usage("-from and -to are required")
	case fs.NArg() != 0:
		return usage("unexpected argument %q", fs.Arg(0))
	case *port <= 0 || *port > 65535:
		return usage("-port %d out of range 1-65535", *port)
	case *policyPort <= 0 || *policyPort > 65535:
		return usage("-policy-port %d out of range 1-65535", *policyPort)
	case *noDANE && *requireDANE:
		return usage("-no-dane and -require-dane contradict each other")
	}
	domain := domainOf(rcpts[0])
	for _, r := range rcpts[1:] {
		if !strings.EqualFold(domainOf(r), domain) {
			return usage("all recipients must be in one domain")
		}
	}
	if domain == "" {
		return usage("%q has no domain", rcpts[0])
	}

	e := testEnv
	if e == nil {
		var err error
		if e, err = newEnv(*dnsServer, *caFile, *allowPrivate, strconv.Itoa(*policyPort), *trustAD); err != nil {
			fmt.Fprintln(stderr, "sender:", err)
			return exitUsage
		}
	}
	// DANE is on when the resolver's AD bit can be believed, unless
	// turned off.
	daneState := "off (-no-dane)"
	switch {
	case *noDANE:
	case e.res == nil || !e.res.Trusted():
		daneState = "off: the resolver is not trusted, its DNSSEC answers cannot be believed (see -trust-ad)"
		if *requireDANE {
			fmt.Fprintln(stderr, "sender: -require-dane needs a trusted validating resolver: one on loopback (-dns 127.0.0.1:53), or -trust-ad")
			return exitUsage
		}
	default:
		// The TLSA records are those of the port delivered to.
		e.finder = &dane.Finder{Resolver: e.res, Port: *port}
		e.requireDANE = *requireDANE
		daneState = "on"
		if e.requireDANE {
			daneState = "on, mandatory"
		}
	}
	e.port = strconv.Itoa(*port)
	e.helo = *helo
	if e.helo == "" {
		e.helo, _ = os.Hostname()
	}
	e.report = *report
	e.out = stdout
	fmt.Fprintln(e.out, "dane:", daneState)
	if *results != "" {
		f, err := os.OpenFile(*results, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			fmt.Fprintln(stderr, "sender:", err)
			return exitError
		}
		defer f.Close()
		e.record = resultWriter(f)
	}

	msg, err := io.ReadAll(io.LimitReader(stdin, 64<<20))
	if err != nil {
		fmt.Fprintln(stderr, "sender: reading the message:", err)
		return exitError
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	err = e.deliver(ctx, *from, rcpts, domain, msg)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, mtasts.ErrNullMX), errors.Is(err, mtasts.ErrNoSuchDomain):
		fmt.Fprintln(stdout, "failed:", err)
		return exitError
	default:
		// A *mtasts.NoAcceptableMXError, a DNS or network failure, the
		// deadline: all temporary, never a bounce.
		fmt.Fprintln(stdout, "temporary failure, try again later:", err)
		return exitTempFail
	}
}

// errMXNotPublic means an MX host resolved only to addresses the dial
// guard refuses (loopback, private...): see -allow-private.
var errMXNotPublic = errors.New("sender: MX host address not public")

// newEnv builds the delivery's world from the flags: one resolver for
// every name (the `_mta-sts` and MX records, and the addresses of the
// policy hosts and MX hosts), one set of roots for the policy and MX
// hosts, and the dial guard on both unless allowPrivate.
func newEnv(dnsServer, caFile string, allowPrivate bool, policyPort string, trustAD bool) (*env, error) {
	res := &resolver.Stub{TrustAD: trustAD}
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
	// res (a *resolver.Stub resolves addresses) and applies the guard
	// unless AllowPrivate. Another policy port needs a dialer of our own,
	// built the same way.
	client := &mtasts.Client{Resolver: res, RootCAs: roots, AllowPrivate: allowPrivate}
	if policyPort != "443" {
		pd := &dialguard.Dialer{Class: mtasts.ErrDialGuard, Resolver: res, AllowPrivate: allowPrivate,
			Net: net.Dialer{Timeout: 30 * time.Second}}
		client.DialContext = withPort("443", policyPort, pd.DialContext)
	}
	mxd := &dialguard.Dialer{Class: errMXNotPublic, Resolver: res, AllowPrivate: allowPrivate,
		Net: net.Dialer{Timeout: 30 * time.Second}}
	return &env{
		client: client,
		mx:     res,
		res:    res,
		dial:   mxd.DialContext,
		tls:    &tls.Config{RootCAs: roots},
	}, nil
}

// withPort returns dial with port from replaced by to.
func withPort(from, to string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, port, err := net.SplitHostPort(addr); err == nil && port == from {
			addr = net.JoinHostPort(host, to)
		}
		return dial(ctx, network, addr)
	}
}

// resultWriter keeps session results as JSON lines, checked by a
// tlsrpt.Collector first so that only valid results reach the reporter.
func resultWriter(w io.Writer) func(tlsrpt.Result) error {
	var check tlsrpt.Collector
	enc := json.NewEncoder(w)
	return func(r tlsrpt.Result) error {
		if err := check.Record(r); err != nil {
			return err
		}
		return enc.Encode(r)
	}
}

var errTemporary = errors.New("temporary failure")

// deliver is the delivery loop of a compliant sender.
func (e *env) deliver(ctx context.Context, from string, to []string, domain string, msg []byte) error {
	res, err := e.client.Lookup(ctx, domain)
	noPolicy := errors.Is(err, mtasts.ErrInvalidDomain)
	if noPolicy {
		// Not a host name (an address literal, an underscore): it cannot
		// publish a policy, so there is none.
		res, err = &mtasts.Result{Domain: domain}, nil
	}
	if err != nil {
		return fmt.Errorf("%w: %w", errTemporary, err) // the deadline
	}
	fmt.Fprintf(e.out, "policy for %s: %s (source %s", res.Domain, res.Mode(), res.Source)
	if res.ID != "" {
		fmt.Fprintf(e.out, ", id %s", res.ID)
	}
	if res.Err != nil {
		fmt.Fprintf(e.out, "; %v", res.Err)
	}
	fmt.Fprintln(e.out, ")")

	// The MX hosts in preference order, or the implicit MX (RFC 5321,
	// Section 5.1), which must match the policy like any other (a Spec
	// note of package mtasts).
	var mxs []*net.MX
	var mxSec resolver.Security
	switch {
	case noPolicy:
		mxs, err = e.mxOfNonHostName(ctx, domain)
	case e.finder != nil:
		// DANE needs the MX RRset's DNSSEC state (RFC 7672, Section
		// 2.2.1): secure, a host with usable TLSA records is judged by
		// DANE alone.
		mxs, _, mxSec, err = mtasts.ResolveMXSecure(ctx, e.finder.Resolver, res.Domain)
		if err == nil {
			fmt.Fprintf(e.out, "mx for %s: DNSSEC %s\n", res.Domain, mxSec)
		}
	default:
		mxs, _, err = mtasts.ResolveMX(ctx, e.mx, res.Domain)
	}
	if errors.Is(err, mtasts.ErrDNSTemporary) {
		return fmt.Errorf("%w: %w", errTemporary, err)
	}
	if err != nil {
		return err // a null MX or a domain that does not exist: permanent; else temporary
	}
	plan := res.Plan(mxs, mtasts.PlanOptions{ReportTraffic: e.report, MXSecurity: mxSec, RequireDANE: e.requireDANE})
	// At most one new plan: a policy that changes again while we deliver
	// waits for the next attempt.
	for range 2 {
		for i := range plan.Hosts {
			h := &plan.Hosts[i]
			if e.try(ctx, plan.Result, h, from, to, msg) {
				return nil
			}
		}
		next, err := e.client.Replan(ctx, plan)
		if err != nil {
			return err // wraps a *mtasts.NoAcceptableMXError: temporary, never a bounce
		}
		if next == nil {
			return fmt.Errorf("%w: no MX host of %s took the message", errTemporary, domain)
		}
		fmt.Fprintf(e.out, "policy changed (id %s): trying again\n", next.Result.ID)
		plan = next
	}
	return fmt.Errorf("%w: the policy of %s changed during delivery", errTemporary, domain)
}

// mxOfNonHostName returns the hosts to try for a domain that is not a
// host name: the address of an address literal (RFC 5321, Section 4.1.3),
// or the MX records as the resolver gives them (or the implicit MX).
func (e *env) mxOfNonHostName(ctx context.Context, domain string) ([]*net.MX, error) {
	if lit, ok := strings.CutPrefix(domain, "["); ok {
		ip, err := netip.ParseAddr(strings.TrimPrefix(strings.TrimSuffix(lit, "]"), "IPv6:"))
		if err != nil {
			return nil, fmt.Errorf("%w: address literal %q: %w", mtasts.ErrNoSuchDomain, domain, err)
		}
		return []*net.MX{{Host: ip.String()}}, nil
	}
	mxs, err := e.mx.LookupMX(ctx, domain)
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return []*net.MX{{Host: domain}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errTemporary, err)
	}
	slices.SortStableFunc(mxs, func(a, b *net.MX) int { return cmp.Compare(a.Pref, b.Pref) })
	return mxs, nil
}

// try makes one attempt at host h and reports whether the message was
// accepted.
func (e *env) try(ctx context.Context, res *mtasts.Result, h *mtasts.HostPlan, from string, to []string, msg []byte) bool {
	start := time.Now()
	if e.finder != nil {
		// DANE per host, at connection time; the Finder caches, so a new
		// plan after a policy change asks the DNS nothing again. Report
		// traffic ignores DANE (RFC 8460, Section 5.3.1): no lookup.
		h.FindDANE(ctx, e.finder)
	}
	if !h.Try {
		e.done(res, h.Skipped(), start, nil, "skipped")
		return false
	}
	c, conn, err := e.connect(ctx, h.Host)
	if err != nil {
		// Not a TLS failure: not counted (NotReached), just the next host.
		e.done(res, h.NotReached(err), start, nil, "not reached")
		return false
	}
	defer c.Close()
	var d mtasts.Decision
	if ok, _ := c.Extension("STARTTLS"); !ok {
		d = h.Done(mtasts.ErrSTARTTLSNotSupported)
	} else {
		// StartTLS is the handshake plus an EHLO; Done tells a refused
		// STARTTLS (a 454 reply), a TLS failure and an EHLO refused after
		// a good handshake apart.
		d = h.Done(c.StartTLS(h.TLSConfig(e.tls)))
	}
	tlsUp := d.Outcome == mtasts.OutcomeReady
	if !d.Deliver {
		e.done(res, d, start, conn, d.Outcome.String())
		return false
	}
	if d.Outcome == mtasts.OutcomeTLSFailed {
		// testing mode or opportunistic: a failed handshake leaves the
		// session unusable, so deliver on a new connection without TLS.
		c.Close()
		if c, conn, err = e.connect(ctx, h.Host); err != nil {
			e.done(res, h.Sent(err), start, nil, "reconnect failed")
			return false
		}
		defer c.Close()
	}
	if err := send(c, from, to, msg); err != nil {
		e.done(res, h.Sent(err), start, conn, "not accepted")
		return false
	}
	d = h.Sent(nil)
	how := "delivered"
	if tlsUp {
		cs, _ := c.TLSConnectionState()
		how += " over " + tls.VersionName(cs.Version)
	} else {
		how += " without TLS"
	}
	e.done(res, d, start, conn, how)
	return true
}

// connect dials host and says EHLO, with the context's deadline on the
// connection.
func (e *env) connect(ctx context.Context, host string) (*smtp.Client, net.Conn, error) {
	conn, err := e.dial(ctx, "tcp", net.JoinHostPort(host, e.port))
	if err != nil {
		return nil, nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	if err := c.Hello(e.helo); err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, conn, nil
}

func send(c *smtp.Client, from string, to []string, msg []byte) error {
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// done prints the outcome at one host and records its session.
func (e *env) done(res *mtasts.Result, d mtasts.Decision, start time.Time, conn net.Conn, what string) {
	line := fmt.Sprintf("  %-30s %s", d.Host, what)
	if d.ResultType != "" {
		line += " [" + string(d.ResultType)
		if d.Reason != "" {
			line += " " + d.Reason
		}
		line += "]"
	}
	if d.TLSA.Counted {
		// DANE's verdict, which it reports under its own tlsa policy.
		v := "pass"
		if d.TLSA.ResultType != "" {
			v = string(d.TLSA.ResultType)
			if d.TLSA.Reason != "" {
				v += " " + d.TLSA.Reason
			}
		}
		line += " [dane: " + v + "]"
	}
	if d.Err != nil && !d.Deliver {
		line += ": " + d.Err.Error()
	}
	fmt.Fprintln(e.out, line)
	if e.record == nil {
		return
	}
	// Each policy that judged the session gets it: MTA-STS (or
	// no-policy-found) and DANE's tlsa.
	if err := res.Record(connRecorder{e.record, conn}, d, start); err != nil {
		fmt.Fprintln(e.out, "  (session not recorded:", err, ")")
	}
}

// connRecorder records session results with the addresses of the
// session's connection, when there was one.
type connRecorder struct {
	record func(tlsrpt.Result) error
	conn   net.Conn
}

func (c connRecorder) Record(r tlsrpt.Result) error {
	if c.conn != nil {
		r.SendingIP = addrOf(c.conn.LocalAddr())
		r.ReceivingIP = addrOf(c.conn.RemoteAddr())
	}
	return c.record(r)
}

func addrOf(a net.Addr) netip.Addr {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func domainOf(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	return strings.TrimSuffix(addr[at+1:], ">")
}
