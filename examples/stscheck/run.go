package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/strictmx/strictmx/internal/domain"
	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/dane"
	"github.com/strictmx/strictmx/mtasts/resolver"
)

// Limits of one run.
const (
	// maxParallel is how many domains are checked at once.
	maxParallel = 8
	// defaultTimeout bounds each network step.
	defaultTimeout = 30 * time.Second
)

// Exit statuses.
const (
	exitOK       = 0
	exitProblems = 1
	exitUsage    = 2
)

type options struct {
	json         bool
	dns          string
	ca           string
	caOnly       bool
	smtpPort     int
	timeout      time.Duration
	noSMTP       bool
	allowPrivate bool
	trustAD      bool
	demo         bool
	domains      []string
}

// usageError is an error of the caller's: exit status 2. It is printed
// after "stscheck: ".
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// parseArgs parses and validates the arguments. The flag package's own
// messages (a parse error and the usage, or the usage for -h) go to out;
// an error of its own is returned without being printed.
func parseArgs(args []string, out io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("stscheck", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.BoolVar(&o.json, "json", false, "print one JSON document per domain")
	fs.StringVar(&o.dns, "dns", "", "DNS server `HOST:PORT` to ask (default: /etc/resolv.conf)")
	fs.StringVar(&o.ca, "ca", "", "PEM `FILE` of extra trusted roots, added to the system roots")
	fs.BoolVar(&o.caOnly, "ca-only", false, "trust only the roots of --ca")
	fs.IntVar(&o.smtpPort, "smtp-port", 25, "`port` of the MX hosts, and of their TLSA records")
	fs.DurationVar(&o.timeout, "timeout", defaultTimeout, "limit of each network step (DNS exchange, policy fetch, probe of one MX host)")
	fs.BoolVar(&o.noSMTP, "no-smtp", false, "do not connect to the MX hosts")
	fs.BoolVar(&o.allowPrivate, "allow-private", false, "let the policy fetch connect to loopback and private addresses")
	fs.BoolVar(&o.trustAD, "trust-ad", false, "believe the DNSSEC AD bit of --dns (or /etc/resolv.conf's servers) though not on loopback: for a validating resolver reached over a trusted network")
	fs.BoolVar(&o.demo, "demo", false, "check the domains of a built-in offline world (no network needed)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: stscheck [flags] DOMAIN...\n       stscheck --demo [flags] [DOMAIN...]\n\n"+
			"Checks MTA-STS (RFC 8461), DANE (RFC 7672) and TLS-RPT (RFC 8460) as a sending MTA sees them.\n"+
			"Exit status: 0 no problems, 1 problems found, 2 usage error.\n\nflags:\n")
		fs.PrintDefaults()
	}
	// Flags may follow the domains.
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		o.domains = append(o.domains, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	switch {
	case len(o.domains) == 0 && !o.demo:
		return nil, usagef("no domain given (try --demo)")
	case o.demo && (o.dns != "" || o.ca != "" || o.caOnly || o.smtpPort != 25):
		return nil, usagef("--demo has its own DNS and roots: drop --dns, --ca, --ca-only and --smtp-port")
	case o.caOnly && o.ca == "":
		return nil, usagef("--ca-only needs --ca")
	case o.timeout <= 0:
		return nil, usagef("--timeout must be positive")
	}
	if _, err := portString(o.smtpPort); err != nil {
		return nil, &usageError{err}
	}
	if o.dns != "" {
		if _, err := dnsServer(o.dns); err != nil {
			return nil, &usageError{err}
		}
	}
	for i, d := range o.domains {
		n, err := domain.Normalize(d)
		if err != nil {
			return nil, &usageError{err}
		}
		o.domains[i] = n
	}
	return o, nil
}

// run is the whole program; main only adds the signals and the exit.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var flagOut bytes.Buffer
	o, err := parseArgs(args, &flagOut)
	var ue *usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		// Asked for: the usage is the output.
		stdout.Write(flagOut.Bytes())
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "stscheck: %v\nRun stscheck -h for usage.\n", err)
		return exitUsage
	case err != nil:
		// The flag package has said what is wrong, with the usage.
		stderr.Write(flagOut.Bytes())
		return exitUsage
	}

	var c *checker
	if o.demo {
		d := newDemo()
		defer d.close()
		c = d.checker(o)
		if len(o.domains) == 0 {
			o.domains = d.domains
		}
	} else {
		c, err = newChecker(o)
		if err != nil {
			fmt.Fprintln(stderr, "stscheck:", err)
			return exitUsage
		}
	}

	term := newTerminal(stdout, stderr)
	prog := term.startProgress(len(o.domains))
	code := exitOK
	var emitErr error
	c.checkAll(ctx, o.domains, prog.step, func(r *report) {
		if len(r.Problems) > 0 || r.Verdict == verdictTempFail {
			code = exitProblems
		}
		if emitErr != nil {
			return
		}
		prog.clear()
		if o.json {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			emitErr = enc.Encode(r)
		} else {
			emitErr = term.print(stdout, r)
		}
		prog.redraw()
	})
	prog.stop()
	if emitErr != nil {
		fmt.Fprintln(stderr, "stscheck: writing output:", emitErr)
		return exitProblems
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "stscheck: interrupted")
		return exitProblems
	}
	return code
}

// newChecker makes the checker for real domains.
func newChecker(o *options) (*checker, error) {
	var roots *x509.CertPool // nil: the system roots
	if o.ca != "" {
		pem, err := os.ReadFile(o.ca)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		if o.caOnly {
			roots = x509.NewCertPool()
		} else if roots, err = x509.SystemCertPool(); err != nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca %s: no PEM certificate found", o.ca)
		}
	}
	port, _ := portString(o.smtpPort)
	res := &resolver.Stub{Timeout: o.timeout, TrustAD: o.trustAD}
	dialer := &net.Dialer{Timeout: o.timeout}
	if o.dns != "" {
		server, _ := dnsServer(o.dns)
		res.Servers = []string{server}
		// The policy host and the MX hosts are resolved by the same
		// server, so that a test or a split-horizon setup sees one world.
		var d net.Dialer
		if !o.allowPrivate {
			// The Client checks the peer of a caller's dialer only once
			// connected; refuse non-public addresses before connecting,
			// as its own dialer does.
			dialer.Control = mtasts.DialGuard
		}
		dialer.Resolver = &net.Resolver{
			PreferGo: true,
			Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, server)
			},
		}
	}
	client := &mtasts.Client{
		Resolver:     res,
		RootCAs:      roots,
		AllowPrivate: o.allowPrivate,
		FetchTimeout: o.timeout,
	}
	// MX hosts are probed wherever they are, as an MTA delivers to them:
	// the guard is for the policy fetch only.
	mxDialer := *dialer
	mxDialer.Control = nil
	if o.dns != "" {
		client.DialContext = dialer.DialContext
	}
	return &checker{
		dns:    res,
		client: client,
		// The TLSA records are those of the port the MX hosts are
		// probed on.
		finder:   &dane.Finder{Resolver: res, Port: o.smtpPort},
		trusted:  res.Trusted(),
		roots:    roots,
		dial:     mxDialer.DialContext,
		smtpPort: port,
		timeout:  o.timeout,
		noSMTP:   o.noSMTP,
		now:      time.Now,
	}, nil
}

// checkAll checks the domains, maxParallel at a time, and calls emit with
// each report in the order of domains, from the calling goroutine. step is
// called (from any goroutine) as each check ends.
func (c *checker) checkAll(ctx context.Context, domains []string, step func(), emit func(*report)) {
	n := len(domains)
	jobs := make(chan int, n)
	for i := range n {
		jobs <- i
	}
	close(jobs)
	done := make([]chan *report, n)
	for i := range done {
		done[i] = make(chan *report, 1)
	}
	var wg sync.WaitGroup
	for range min(maxParallel, n) {
		wg.Go(func() {
			for i := range jobs {
				done[i] <- c.check(ctx, domains[i])
				step()
			}
		})
	}
	for i := range n {
		emit(<-done[i])
	}
	wg.Wait()
}

// joinOr returns the strings joined by ", ", or alt when there are none.
func joinOr(s []string, alt string) string {
	if len(s) == 0 {
		return alt
	}
	return strings.Join(s, ", ")
}
