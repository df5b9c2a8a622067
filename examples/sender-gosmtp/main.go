// Command sender-gosmtp is examples/sender in miniature, with the SMTP
// client of github.com/emersion/go-smtp instead of net/smtp: it shows
// where the MTA-STS calls go in a go-smtp delivery.
//
//	go run ./examples/sender-gosmtp -from me@example.org -to you@example.com < message.eml
//
// go-smtp (v0.25) upgrades a connection only in NewClientStartTLS, which
// sends its own EHLO first, so this example asks one connection whether
// STARTTLS is offered and upgrades a second one. It prints what happened
// at each MX host and exits 0 (delivered), 75 (temporary failure), 1
// (permanent failure: a null MX, a domain that does not exist) or 2
// (usage).
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/resolver"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, nil))
}

// world is what the program talks to; tests replace it with mtaststest.
type world struct {
	client *mtasts.Client
	mx     mtasts.MXResolver
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	tls    *tls.Config
}

func run(ctx context.Context, args []string, stdin io.Reader, out io.Writer, w *world) int {
	fs := flag.NewFlagSet("sender-gosmtp", flag.ContinueOnError)
	fs.SetOutput(out)
	from := fs.String("from", "", "envelope sender")
	to := fs.String("to", "", "recipient")
	port := fs.Int("port", 25, "SMTP port")
	dnsServer := fs.String("dns", "", "DNS server HOST:PORT")
	if err := fs.Parse(args); err != nil || *from == "" || !strings.Contains(*to, "@") {
		fmt.Fprintln(out, "usage: sender-gosmtp -from ADDR -to ADDR [-port N] [-dns HOST:PORT] < message")
		return 2
	}
	if w == nil {
		res := &resolver.Stub{}
		if *dnsServer != "" {
			res.Servers = []string{*dnsServer}
		}
		w = &world{client: &mtasts.Client{Resolver: res}, mx: res, dial: (&net.Dialer{}).DialContext}
	}
	msg, err := io.ReadAll(io.LimitReader(stdin, 64<<20))
	if err != nil {
		fmt.Fprintln(out, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	domain := (*to)[strings.LastIndexByte(*to, '@')+1:]

	res, err := w.client.Lookup(ctx, domain)
	if errors.Is(err, mtasts.ErrInvalidDomain) {
		res, err = &mtasts.Result{Domain: domain}, nil // cannot have a policy
	}
	if err != nil {
		fmt.Fprintln(out, "temporary failure:", err) // the deadline
		return 75
	}
	mxs, _, err := mtasts.ResolveMX(ctx, w.mx, res.Domain) // or the implicit MX
	if errors.Is(err, mtasts.ErrNullMX) || errors.Is(err, mtasts.ErrNoSuchDomain) {
		fmt.Fprintln(out, "failed:", err) // permanent: the domain's own DNS says so
		return 1
	}
	if err != nil {
		fmt.Fprintln(out, "temporary failure:", err)
		return 75
	}
	plan := res.Plan(mxs, mtasts.PlanOptions{})
	fmt.Fprintf(out, "policy: %s\n", res.Mode())
	for i := range plan.Hosts {
		h := &plan.Hosts[i]
		if !h.Try {
			fmt.Fprintf(out, "%s: skipped: %s\n", h.Host, h.Reason)
			continue
		}
		addr := net.JoinHostPort(h.Host, strconv.Itoa(*port))
		c, d, err := w.open(ctx, addr, h)
		if err != nil {
			d = h.NotReached(err) // not counted
			fmt.Fprintf(out, "%s: %s: %v\n", h.Host, d.Outcome, d.Err)
			continue
		}
		if !d.Deliver {
			if c != nil {
				c.Close()
			}
			fmt.Fprintf(out, "%s: skipped: %s %s: %v\n", h.Host, d.ResultType, d.Reason, d.Err)
			continue
		}
		err = c.SendMail(*from, []string{*to}, strings.NewReader(string(msg)))
		c.Close()
		if err != nil {
			d = h.Sent(err) // TLS passed; the session failed later
			fmt.Fprintf(out, "%s: not accepted: %v\n", h.Host, d.Err)
			continue
		}
		h.Sent(nil)
		fmt.Fprintf(out, "%s: delivered (%s)\n", h.Host, d.ResultType)
		return 0
	}
	if _, err := w.client.Replan(ctx, plan); err != nil {
		fmt.Fprintln(out, "temporary failure:", err)
		return 75
	}
	fmt.Fprintln(out, "temporary failure: no MX host took the message")
	return 75
}

// open connects to one MX host the way its plan says and returns a client
// ready for MAIL FROM, with the decision for the host.
func (w *world) open(ctx context.Context, addr string, h *mtasts.HostPlan) (*smtp.Client, mtasts.Decision, error) {
	conn, err := w.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, mtasts.Decision{}, err
	}
	c := smtp.NewClient(conn)
	if err := c.Hello("sender.invalid"); err != nil {
		c.Close()
		return nil, mtasts.Decision{}, err
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		return c, h.Done(mtasts.ErrSTARTTLSNotSupported), nil
	}
	c.Close()
	if conn, err = w.dial(ctx, "tcp", addr); err != nil {
		return nil, mtasts.Decision{}, err
	}
	tc, err := smtp.NewClientStartTLS(conn, h.TLSConfig(w.tls))
	var smtpErr *smtp.SMTPError
	if errors.As(err, &smtpErr) {
		// A reply to EHLO or STARTTLS: go-smtp has not begun the
		// handshake, so the server refused STARTTLS (not a TLS failure).
		err = fmt.Errorf("%w: %w", mtasts.ErrSTARTTLSRefused, err)
	}
	if err == nil {
		// The handshake happens here. Done tells a TLS failure from an
		// EHLO refused after a good handshake by what TLSConfig recorded.
		err = tc.Hello("sender.invalid")
	}
	d := h.Done(err)
	if err == nil {
		return tc, d, nil
	}
	if tc != nil {
		tc.Close()
	}
	if !d.Deliver {
		return nil, d, nil
	}
	// testing mode: deliver without TLS on a new connection.
	if conn, err = w.dial(ctx, "tcp", addr); err != nil {
		return nil, d, err
	}
	c = smtp.NewClient(conn)
	if err := c.Hello("sender.invalid"); err != nil {
		c.Close()
		return nil, d, err
	}
	return c, d, nil
}
