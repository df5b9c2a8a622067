// Command tlsrpt-reporter collects SMTP TLS session results and sends the
// daily TLS-RPT reports (RFC 8460) through a mail relay and by https.
//
// It reads session results as JSON lines, one tlsrpt.Result each, from
// stdin or from a Unix socket (-socket), keeps the counts in a bbolt file
// (-db) or in Redis shared with other instances (-redis), and sends each
// day's reports after the day ends. Example line:
//
//	{"policy":{"type":"sts","domain":"example.net","string":["version: STSv1","mode: enforce","mx: mx.example.net","max_age: 86400"],"mx_host":["mx.example.net"]},"mx_host":"mx.example.net","receiving_ip":"192.0.2.25","result_type":"certificate-expired","time":"2026-11-24T10:00:00Z"}
//
// Usage:
//
//	tlsrpt-reporter -org "Example Mail" -contact tlsrpt@sender.example \
//	    -dkim-key /etc/tlsrpt/dkim.pem -dkim-selector tlsrpt \
//	    -relay smtp.sender.example:587 -relay-tls starttls -relay-user tlsrpt \
//	    -socket /run/tlsrpt.sock -db /var/lib/tlsrpt/tlsrpt.db
//
// The relay password is read from the environment variable
// TLSRPT_RELAY_PASSWORD. SIGINT or SIGTERM flushes the counts and exits.
// -h lists every flag.
//
// # Start-up checks
//
// Before it reads any result the reporter validates its settings: -contact
// (and -from) must be bare addresses, -relay host:port with a numeric port,
// -relay-tls one of starttls, tls or none, and AUTH (-relay-user) is
// refused in plain text to a relay not on loopback. It then makes one
// session with the relay as a report would (connect, TLS or STARTTLS with
// the relay's certificate verified, EHLO, AUTH, QUIT; no mail), so that a
// typo shows at once rather than when the first report is due a day
// later. -no-relay-check skips that session (for a relay that is not up
// yet); the settings are still validated.
//
// # DKIM key record
//
// Report mail is DKIM-signed with d= the submitter domain, the domain of
// -contact, and the selector of -dkim-selector. Publish the public key at
// <selector>._domainkey.<submitter> as a record without an s= tag:
//
//	tlsrpt._domainkey.sender.example. TXT "v=DKIM1; k=ed25519; p=<base64 public key>"
//
// (k=rsa for an RSA key). s=* is equivalent. Spec note: RFC 8460 registers
// the DKIM service type "tlsrpt" for report keys, but receivers disagree
// on it: mox's DKIM check refuses a key whose record says s=tlsrpt, and
// dkimpy refuses s=email:tlsrpt; only a record with no s= (or s=*) passes
// every receiver tried. Use a key of its own for reports if the
// submitter's other mail must not share it.
//
// # From alignment
//
// The From header (-from, default -contact) should be in the submitter
// domain, or a parent or subdomain of it, so that DMARC receivers see the
// DKIM signature as aligned (relaxed alignment). The reporter logs a
// warning at start-up when it is not, and when -dkim-key is not set (most
// receivers discard unsigned report mail). It has no public suffix list,
// so it also warns about a sibling domain (reports.example.com for
// mail.example.com) that relaxed alignment would accept: the From domain
// equal to the -contact domain never warns.
//
// # Private https collectors
//
// By default an https rua is only posted to on a globally reachable
// address, as the URI comes from the reported domain's DNS. For an
// internal collector on the sender's own network, -allow-private-https
// turns that guard off (any domain's rua may then point into that network:
// use it where the reported domains are trusted, or the network has
// nothing else to reach), and -https-ca FILE adds the PEM roots of its
// certificate to the system roots.
//
// # Exit status
//
// 0 after SIGINT or SIGTERM (the counts flushed), and for -h or -help; 1
// when it cannot start (a key, CA or store that cannot be opened, a relay
// that fails the start-up check) or stops on an error; 2 for usage errors
// (a missing or invalid flag value).
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/strictmx/strictmx/tlsrpt"
	"github.com/strictmx/strictmx/tlsrpt/boltstore"
	"github.com/strictmx/strictmx/tlsrpt/redisstore"
	"github.com/strictmx/strictmx/tlsrpt/reporter"
)

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// relayCheckTimeout bounds the start-up session with the relay.
const relayCheckTimeout = time.Minute

type options struct {
	org, contact, from         string
	dkimKey, dkimSelector      string
	relay, relayTLS, relayUser string
	relayPassword              string
	noRelayCheck               bool
	allowPrivateHTTPS          bool
	httpsCA                    string
	socket, db, redisAddr      string
	flush, maxDelay, poll      time.Duration
	noHeartbeat                bool
	helloName                  string
}

// parseFlags parses and validates the flags. The flag package's own
// messages (a parse error and the usage, or the usage for -h) go to out;
// an error of its own is returned without being printed.
func parseFlags(args []string, getenv func(string) string, out io.Writer) (*options, error) {
	fs := flag.NewFlagSet("tlsrpt-reporter", flag.ContinueOnError)
	fs.SetOutput(out)
	o := &options{}
	fs.StringVar(&o.org, "org", "", "organization-name of the reports (required)")
	fs.StringVar(&o.contact, "contact", "", "contact-info address; its domain is the submitter and the DKIM d= (required)")
	fs.StringVar(&o.from, "from", "", "From address of report mail, in the -contact domain or a parent or subdomain (default: -contact)")
	fs.StringVar(&o.dkimKey, "dkim-key", "", "PEM `file` with the PKCS#8 DKIM private key (RSA or Ed25519); publish its record without s=")
	fs.StringVar(&o.dkimSelector, "dkim-selector", "", "DKIM selector")
	fs.StringVar(&o.relay, "relay", "", "SMTP relay `host:port` for mailto: reports (required)")
	fs.StringVar(&o.relayTLS, "relay-tls", "starttls", "relay TLS: starttls, tls or none")
	fs.StringVar(&o.relayUser, "relay-user", "", "relay AUTH PLAIN user (password from $TLSRPT_RELAY_PASSWORD)")
	fs.BoolVar(&o.noRelayCheck, "no-relay-check", false, "do not test the relay at start-up (its settings are still validated)")
	fs.BoolVar(&o.allowPrivateHTTPS, "allow-private-https", false, "let https reports go to loopback and private addresses (an internal collector)")
	fs.StringVar(&o.httpsCA, "https-ca", "", "PEM `file` of roots for https collectors, added to the system roots")
	fs.StringVar(&o.helloName, "hello", "localhost", "EHLO name")
	fs.StringVar(&o.socket, "socket", "", "read results from this Unix socket instead of stdin")
	fs.StringVar(&o.db, "db", "tlsrpt.db", "bbolt file for counts and progress")
	fs.StringVar(&o.redisAddr, "redis", "", "use Redis at host:port instead of bbolt (shared by a fleet)")
	fs.DurationVar(&o.flush, "flush", tlsrpt.DefaultFlushInterval, "interval between flushes to the store")
	fs.DurationVar(&o.maxDelay, "max-delay", reporter.DefaultMaxDelay, "maximum random delay after a day ends (0: none)")
	fs.DurationVar(&o.poll, "poll", reporter.DefaultPollInterval, "interval between looks for due reports")
	fs.BoolVar(&o.noHeartbeat, "no-heartbeat", false, "do not send reports in which every session succeeded")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: tlsrpt-reporter -org NAME -contact ADDR -relay HOST:PORT [flags]\n\n"+
			"Collects TLS session results (JSON lines) and sends the daily TLS-RPT reports (RFC 8460).\n"+
			"Exit status: 0 stopped by a signal, 1 error, 2 usage error.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.relayPassword = getenv("TLSRPT_RELAY_PASSWORD")
	switch {
	case fs.NArg() != 0:
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.org == "" || o.contact == "" || o.relay == "":
		return nil, errors.New("-org, -contact and -relay are required")
	case (o.dkimKey == "") != (o.dkimSelector == ""):
		return nil, errors.New("-dkim-key and -dkim-selector go together")
	}
	if _, err := tlsrpt.ContactDomain(o.contact); err != nil {
		return nil, fmt.Errorf("-contact: %w", err)
	}
	if o.from != "" {
		if _, err := tlsrpt.ContactDomain(o.from); err != nil {
			return nil, fmt.Errorf("-from: %w", err)
		}
	}
	switch o.relayTLS {
	case "starttls", "tls":
	case "none":
		o.relayTLS = "" // RelayMailer's word for plain text
	default:
		return nil, fmt.Errorf("-relay-tls %q: want starttls, tls or none", o.relayTLS)
	}
	if err := o.relayMailer().Validate(); err != nil {
		return nil, fmt.Errorf("relay settings: %w", err)
	}
	return o, nil
}

func (o *options) relayMailer() *reporter.RelayMailer {
	return &reporter.RelayMailer{Addr: o.relay, TLS: o.relayTLS, Username: o.relayUser,
		Password: o.relayPassword, HelloName: o.helloName}
}

// deps are what tests replace.
type deps struct {
	input    io.Reader        // stdin, when no -socket
	resolver tlsrpt.Resolver  // nil: a *resolver.Stub
	now      func() time.Time // nil: time.Now
	hooks    reporter.Hooks   // extra hooks, called after logging
	ready    func()           // called once the input is open
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, deps{input: os.Stdin})
	stop()
	os.Exit(code)
}

// cli is the whole program; main only adds the signals and the exit.
// The usage asked for with -h goes to stdout; everything else to stderr.
func cli(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, d deps) int {
	var flagOut bytes.Buffer
	o, err := parseFlags(args, getenv, &flagOut)
	switch {
	case errors.Is(err, flag.ErrHelp):
		stdout.Write(flagOut.Bytes())
		return exitOK
	case err != nil && flagOut.Len() > 0:
		// The flag package has said what is wrong, with the usage.
		stderr.Write(flagOut.Bytes())
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "tlsrpt-reporter: %v\nRun tlsrpt-reporter -h for usage.\n", err)
		return exitUsage
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	if err := run(ctx, o, d, logger); err != nil {
		logger.Error("tlsrpt-reporter stopped", "err", err)
		return exitError
	}
	return exitOK
}

// aligned reports whether a From domain aligns with the DKIM signing
// domain d under relaxed alignment, as far as it can be told without a
// public suffix list: the same domain, or one a subdomain of the other.
func aligned(from, d string) bool {
	from, d = strings.ToLower(from), strings.ToLower(d)
	return from == d || strings.HasSuffix(from, "."+d) || strings.HasSuffix(d, "."+from)
}

// warnConfig logs what an operator should fix but the reporter can run
// with.
func warnConfig(o *options, l *slog.Logger) {
	submitter, _ := tlsrpt.ContactDomain(o.contact) // validated
	if o.from != "" {
		fromDomain, _ := tlsrpt.ContactDomain(o.from)
		if !aligned(fromDomain, submitter) {
			l.Warn("the From domain does not align with the DKIM signing domain (the -contact domain): DMARC receivers may reject report mail",
				"from", o.from, "dkim_domain", submitter)
		}
	}
	if o.dkimKey == "" {
		l.Warn("report mail is not DKIM-signed (no -dkim-key): most receivers discard it", "dkim_domain", submitter)
	}
}

// httpClient returns the client for https reports, or nil for the
// Scheduler's default.
func httpClient(o *options) (*http.Client, error) {
	if !o.allowPrivateHTTPS && o.httpsCA == "" {
		return nil, nil
	}
	var roots *x509.CertPool // nil: the system roots
	if o.httpsCA != "" {
		pem, err := os.ReadFile(o.httpsCA)
		if err != nil {
			return nil, fmt.Errorf("-https-ca: %w", err)
		}
		if roots, err = x509.SystemCertPool(); err != nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-https-ca %s: no PEM certificate found", o.httpsCA)
		}
	}
	return reporter.NewHTTPClient(reporter.HTTPOptions{AllowPrivate: o.allowPrivateHTTPS, RootCAs: roots}), nil
}

func loadKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: not a signing key", path)
	}
	return s, nil
}

func run(ctx context.Context, o *options, d deps, logger *slog.Logger) error {
	warnConfig(o, logger)
	hc, err := httpClient(o)
	if err != nil {
		return err
	}
	mailer := o.relayMailer()
	if !o.noRelayCheck {
		cctx, cancel := context.WithTimeout(ctx, relayCheckTimeout)
		err := mailer.Check(cctx)
		cancel()
		if err != nil {
			return fmt.Errorf("relay check (-no-relay-check skips it): %w", err)
		}
		logger.Debug("relay check passed", "relay", o.relay)
	}
	var store tlsrpt.Store
	if o.redisAddr != "" {
		c := redis.NewClient(&redis.Options{Addr: o.redisAddr})
		defer c.Close()
		store = &redisstore.Store{Client: c}
	} else {
		b, err := boltstore.Open(o.db)
		if err != nil {
			return err
		}
		defer b.Close()
		store = b
	}
	var dk *reporter.DKIM
	if o.dkimKey != "" {
		key, err := loadKey(o.dkimKey)
		if err != nil {
			return err
		}
		dk = &reporter.DKIM{Selector: o.dkimSelector, Key: key}
	}
	maxDelay := o.maxDelay
	if maxDelay == 0 {
		maxDelay = -1
	}
	collector := &tlsrpt.Collector{Now: d.now}
	flusher := &tlsrpt.Flusher{Collector: collector, Store: store, Interval: o.flush, Logger: logger}
	sched := &reporter.Scheduler{
		Store: store, OrganizationName: o.org, ContactInfo: o.contact, From: o.from, DKIM: dk,
		Mailer: mailer, HTTPClient: hc,
		Resolver: d.resolver, MaxDelay: maxDelay, PollInterval: o.poll,
		SkipAllSuccess: o.noHeartbeat, Now: d.now, Logger: logger,
		Hooks: logHooks(logger, d.hooks),
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	wg.Go(func() { errc <- flusher.Run(ctx) })
	wg.Go(func() { errc <- sched.Run(ctx) })
	wg.Go(func() {
		var err error
		if o.socket != "" {
			err = serveSocket(ctx, o.socket, collector, logger, d.ready)
		} else {
			if d.ready != nil {
				d.ready()
			}
			readLines(d.input, collector, logger)
			err = flusher.Flush(ctx) // input over: store what it said now
		}
		if err != nil {
			errc <- err
		}
	})
	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
		cancel()
	}
	wg.Wait()
	return first
}

func logHooks(l *slog.Logger, extra reporter.Hooks) reporter.Hooks {
	return reporter.Hooks{
		Sent: func(k tlsrpt.Key, uri string) {
			l.Info("report sent", "domain", k.Domain, "day", k.Day.String(), "uri", uri)
			if extra.Sent != nil {
				extra.Sent(k, uri)
			}
		},
		Failed: func(k tlsrpt.Key, uri string, err error) {
			l.Info("report delivery failed", "domain", k.Domain, "day", k.Day.String(), "uri", uri, "err", err)
			if extra.Failed != nil {
				extra.Failed(k, uri, err)
			}
		},
		Retried: func(k tlsrpt.Key, n int, next time.Time) {
			l.Info("report retry scheduled", "domain", k.Domain, "day", k.Day.String(), "attempt", n, "next", next)
			if extra.Retried != nil {
				extra.Retried(k, n, next)
			}
		},
		Dropped: func(k tlsrpt.Key, err error) {
			l.Info("report dropped", "domain", k.Domain, "day", k.Day.String(), "err", err)
			if extra.Dropped != nil {
				extra.Dropped(k, err)
			}
		},
	}
}

// maxLine bounds one input line.
const maxLine = 64 << 10

// readLines records each JSON line of r until EOF or a read error.
func readLines(r io.Reader, c *tlsrpt.Collector, l *slog.Logger) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLine)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var res tlsrpt.Result
		if err := json.Unmarshal(line, &res); err != nil {
			l.Warn("bad result line", "line", n, "err", err)
			continue
		}
		if err := c.Record(res); err != nil {
			l.Warn("result not counted", "line", n, "err", err)
		}
	}
	if err := sc.Err(); err != nil {
		l.Warn("input ended", "err", err)
	}
}

// maxConns bounds concurrent socket clients.
const maxConns = 64

func serveSocket(ctx context.Context, path string, c *tlsrpt.Collector, l *slog.Logger, ready func()) error {
	os.Remove(path) // a stale socket from a previous run
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "unix", path)
	if err != nil {
		return err
	}
	defer os.Remove(path)
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	if ready != nil {
		ready()
	}
	sem := make(chan struct{}, maxConns)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			conn.Close()
			return nil
		}
		wg.Go(func() {
			defer func() { <-sem }()
			defer conn.Close()
			cstop := context.AfterFunc(ctx, func() { conn.Close() })
			defer cstop()
			readLines(conn, c, l) // the Flusher stores it with the next batch
		})
	}
}
