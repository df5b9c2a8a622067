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
package main

import (
	"bufio"
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
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/strictmx/strictmx/tlsrpt"
	"github.com/strictmx/strictmx/tlsrpt/boltstore"
	"github.com/strictmx/strictmx/tlsrpt/redisstore"
	"github.com/strictmx/strictmx/tlsrpt/reporter"
)

type options struct {
	org, contact, from         string
	dkimKey, dkimSelector      string
	relay, relayTLS, relayUser string
	relayPassword              string
	socket, db, redisAddr      string
	flush, maxDelay, poll      time.Duration
	noHeartbeat                bool
	helloName                  string
}

func parseFlags(args []string, getenv func(string) string) (*options, error) {
	fs := flag.NewFlagSet("tlsrpt-reporter", flag.ContinueOnError)
	o := &options{}
	fs.StringVar(&o.org, "org", "", "organization-name of the reports (required)")
	fs.StringVar(&o.contact, "contact", "", "contact-info address; its domain is the submitter (required)")
	fs.StringVar(&o.from, "from", "", "From address of report mail (default: -contact)")
	fs.StringVar(&o.dkimKey, "dkim-key", "", "PEM file with the PKCS#8 DKIM private key (RSA or Ed25519)")
	fs.StringVar(&o.dkimSelector, "dkim-selector", "", "DKIM selector")
	fs.StringVar(&o.relay, "relay", "", "SMTP relay host:port for mailto: reports (required)")
	fs.StringVar(&o.relayTLS, "relay-tls", "starttls", "relay TLS: starttls, tls or none")
	fs.StringVar(&o.relayUser, "relay-user", "", "relay AUTH PLAIN user (password from $TLSRPT_RELAY_PASSWORD)")
	fs.StringVar(&o.helloName, "hello", "localhost", "EHLO name")
	fs.StringVar(&o.socket, "socket", "", "read results from this Unix socket instead of stdin")
	fs.StringVar(&o.db, "db", "tlsrpt.db", "bbolt file for counts and progress")
	fs.StringVar(&o.redisAddr, "redis", "", "use Redis at host:port instead of bbolt (shared by a fleet)")
	fs.DurationVar(&o.flush, "flush", tlsrpt.DefaultFlushInterval, "interval between flushes to the store")
	fs.DurationVar(&o.maxDelay, "max-delay", reporter.DefaultMaxDelay, "maximum random delay after a day ends (0: none)")
	fs.DurationVar(&o.poll, "poll", reporter.DefaultPollInterval, "interval between looks for due reports")
	fs.BoolVar(&o.noHeartbeat, "no-heartbeat", false, "do not send reports in which every session succeeded")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.relayPassword = getenv("TLSRPT_RELAY_PASSWORD")
	if o.org == "" || o.contact == "" || o.relay == "" {
		return nil, errors.New("-org, -contact and -relay are required")
	}
	if (o.dkimKey == "") != (o.dkimSelector == "") {
		return nil, errors.New("-dkim-key and -dkim-selector go together")
	}
	if o.relayTLS == "none" {
		o.relayTLS = ""
	}
	return o, nil
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
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	o, err := parseFlags(os.Args[1:], os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tlsrpt-reporter:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, deps{input: os.Stdin}, logger); err != nil {
		logger.Error("tlsrpt-reporter stopped", "err", err)
		os.Exit(1)
	}
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
		Mailer: &reporter.RelayMailer{Addr: o.relay, TLS: o.relayTLS, Username: o.relayUser,
			Password: o.relayPassword, HelloName: o.helloName},
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
