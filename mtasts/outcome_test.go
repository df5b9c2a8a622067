package mtasts

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strictmx/strictmx/mtasts/resolver"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/strictmx/strictmx/tlsrpt"
)

// fakeMX serves one SMTP session on loopback that offers STARTTLS and then
// misbehaves as how says: "refuse-starttls" answers STARTTLS with 454,
// "refuse-ehlo" completes the handshake with cert and refuses the EHLO
// that follows it. It returns the address.
func fakeMX(t *testing.T, cert tls.Certificate, how string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		var c net.Conn = conn
		r := bufio.NewReader(c)
		fmt.Fprintf(c, "220 fake ESMTP\r\n")
		tlsUp := false
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			cmd := strings.ToUpper(strings.TrimSpace(line))
			switch {
			case strings.HasPrefix(cmd, "EHLO") && tlsUp:
				fmt.Fprintf(c, "554 5.7.1 go away\r\n")
			case strings.HasPrefix(cmd, "EHLO"):
				fmt.Fprintf(c, "250-fake\r\n250 STARTTLS\r\n")
			case cmd == "STARTTLS" && how == "refuse-starttls":
				fmt.Fprintf(c, "454 4.7.0 TLS not available due to temporary reason\r\n")
			case cmd == "STARTTLS":
				fmt.Fprintf(c, "220 go ahead\r\n")
				tc := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{cert}})
				if tc.Handshake() != nil {
					return
				}
				c, r, tlsUp = tc, bufio.NewReader(tc), true
			case cmd == "QUIT":
				fmt.Fprintf(c, "221 bye\r\n")
				return
			default:
				fmt.Fprintf(c, "500 what\r\n")
			}
		}
	})
	return ln.Addr().String()
}

// netSMTPStartTLS runs net/smtp's EHLO and StartTLS (the handshake plus an
// EHLO) against addr with the host's TLSConfig, and returns StartTLS's
// error.
func netSMTPStartTLS(t *testing.T, addr string, h *HostPlan, base *tls.Config) error {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("sender.test"); err != nil {
		t.Fatal(err)
	}
	return c.StartTLS(h.TLSConfig(base))
}

// goSMTPStartTLS does the same with go-smtp, whose handshake is deferred
// to the next command.
func goSMTPStartTLS(t *testing.T, addr string, h *HostPlan, base *tls.Config) error {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := gosmtp.NewClientStartTLS(conn, h.TLSConfig(base))
	if err != nil {
		var se *gosmtp.SMTPError
		if errors.As(err, &se) {
			// The STARTTLS reply: go-smtp has not begun the handshake.
			return fmt.Errorf("%w: %w", ErrSTARTTLSRefused, err)
		}
		return err
	}
	defer c.Close()
	return c.Hello("sender.test") // the handshake happens here
}

// RFC 8460, Section 4.3: only TLS failures are TLS-RPT failures. An EHLO
// refused after a good handshake is the session's failure and a TLS
// success; a refused STARTTLS command is starttls-not-supported (a Spec
// note of Done).
func TestDoneTellsTLSFromLaterFailures(t *testing.T) {
	w := world(t)
	base := &tls.Config{RootCAs: w.ca.Pool()}
	clients := map[string]func(*testing.T, string, *HostPlan, *tls.Config) error{
		"net/smtp": netSMTPStartTLS,
		"go-smtp":  goSMTPStartTLS,
	}
	for name, startTLS := range clients {
		t.Run(name+"/ehlo refused after TLS", func(t *testing.T) {
			plan := planFor(t, enforcePolicy, "mx1.example.test")
			h := &plan.Hosts[0]
			err := startTLS(t, fakeMX(t, w.certs["valid"], "refuse-ehlo"), h, base)
			if err == nil {
				t.Fatal("StartTLS succeeded against a server that refuses EHLO")
			}
			d := h.Done(err)
			if d.Deliver || d.ResultType != "" || !d.Counted || d.Outcome != OutcomeSessionFailed || !errors.Is(d.Err, ErrSessionFailed) {
				t.Fatalf("decision %+v; want a TLS success whose session failed", d)
			}
		})
		t.Run(name+"/STARTTLS refused", func(t *testing.T) {
			plan := planFor(t, enforcePolicy, "mx1.example.test")
			h := &plan.Hosts[0]
			d := h.Done(startTLS(t, fakeMX(t, w.certs["valid"], "refuse-starttls"), h, base))
			if d.Deliver || d.ResultType != tlsrpt.ResultSTARTTLSNotSupported || d.Outcome != OutcomeSTARTTLSRefused ||
				!errors.Is(d.Err, ErrSTARTTLSRefused) || !strings.Contains(d.Err.Error(), "454") {
				t.Fatalf("decision %+v; want starttls-not-supported for a refused STARTTLS", d)
			}
		})
		t.Run(name+"/certificate expired", func(t *testing.T) {
			plan := planFor(t, enforcePolicy, "mx1.example.test")
			h := &plan.Hosts[0]
			d := h.Done(startTLS(t, fakeMX(t, w.certs["expired"], "refuse-ehlo"), h, base))
			if d.Deliver || d.ResultType != tlsrpt.ResultCertificateExpired || d.Outcome != OutcomeTLSFailed {
				t.Fatalf("decision %+v; want certificate-expired", d)
			}
		})
	}
}

// Each outcome the caller can state, and what it comes to.
func TestOutcomes(t *testing.T) {
	plan := planFor(t, enforcePolicy, "mx1.example.test", "evil.example.org")
	h := &plan.Hosts[0]
	if d := h.NotReached(errors.New("connection refused")); d.Deliver || d.Counted || d.ResultType != "" ||
		d.Outcome != OutcomeNotReached || !errors.Is(d.Err, ErrNotReached) || errors.Is(d.Err, ErrMXMismatch) {
		t.Fatalf("not reached: %+v", d)
	}
	if d := h.Done(fmt.Errorf("dial: %w", ErrNotReached)); d.Outcome != OutcomeNotReached || d.Counted {
		t.Fatalf("Done(ErrNotReached): %+v", d)
	}
	h.TLSConfig(nil)
	if d := h.Done(nil); !d.Deliver || d.Outcome != OutcomeReady || d.Err != nil {
		t.Fatalf("ready: %+v", d)
	}
	if d := h.Sent(errors.New("550 no such user")); d.Deliver || d.Outcome != OutcomeSessionFailed || d.ResultType != "" || !d.Counted || !errors.Is(d.Err, ErrSessionFailed) {
		t.Fatalf("sent, failed: %+v", d)
	}
	if d := h.Sent(nil); !d.Deliver || d.Outcome != OutcomeDelivered || d.Err != nil {
		t.Fatalf("delivered: %+v", d)
	}
	if d := plan.Hosts[1].Skipped(); d.Outcome != OutcomeSkipped || !errors.Is(d.Err, ErrMXMismatch) {
		t.Fatalf("skipped: %+v", d)
	}
	for o := OutcomeUnknown; o <= OutcomeDelivered; o++ {
		if s := o.String(); s == "" || strings.HasPrefix(s, "Outcome(") {
			t.Errorf("Outcome %d has no name", o)
		}
	}
}

// Replan's NoAcceptableMXError is for hosts refused by the policy; hosts
// not reached are not "not allowed by policy", and when no host was refused
// for an MTA-STS reason the caller's own retry handling applies.
func TestReplanOnlyForPolicyRefusals(t *testing.T) {
	ctx := context.Background()
	newPlan := func(t *testing.T) (*Client, *Plan) {
		c := &Client{Resolver: sameRecord("v=STSv1; id=1;")}
		r, err := c.Preload(ctx, "example.test", "1", []byte(enforcePolicy))
		if err != nil {
			t.Fatal(err)
		}
		return c, r.Plan(benchMX()[:3], PlanOptions{}) // a.mx, b.mx, c.mx: all in the policy
	}
	t.Run("none reached", func(t *testing.T) {
		c, plan := newPlan(t)
		plan.Hosts[0].NotReached(errors.New("connection refused"))
		// Hosts 1 and 2 were never given to Done: not reached either.
		if next, err := c.Replan(ctx, plan); next != nil || err != nil {
			t.Fatalf("Replan = %v, %v; want nil, nil", next, err)
		}
	})
	t.Run("failed after TLS", func(t *testing.T) {
		c, plan := newPlan(t)
		for i := range plan.Hosts {
			h := &plan.Hosts[i]
			h.TLSConfig(nil)
			h.Done(nil)
			h.Sent(errors.New("451 try later"))
		}
		if next, err := c.Replan(ctx, plan); next != nil || err != nil {
			t.Fatalf("Replan = %v, %v; want nil, nil", next, err)
		}
	})
	t.Run("one refused", func(t *testing.T) {
		c, plan := newPlan(t)
		plan.Hosts[0].NotReached(errors.New("connection refused"))
		plan.Hosts[1].Done(ErrSTARTTLSNotSupported)
		_, err := c.Replan(ctx, plan)
		var derr *NoAcceptableMXError
		if !errors.As(err, &derr) || len(derr.Hosts) != 3 {
			t.Fatalf("Replan error %v; want a NoAcceptableMXError for 3 hosts", err)
		}
		for _, i := range []int{0, 2} {
			if d := derr.Hosts[i]; d.Outcome != OutcomeNotReached || !errors.Is(d.Err, ErrNotReached) || errors.Is(d.Err, ErrMXMismatch) {
				t.Errorf("host %d: %+v; want not reached", i, d)
			}
		}
		if msg := err.Error(); strings.Contains(msg, "not allowed by policy") || strings.Contains(msg, ": failed") {
			t.Errorf("error %q words a host wrongly", msg)
		}
	})
	// RFC 8461, Section 5: the failure stays temporary, and the documented
	// error, even when the id cannot be re-checked.
	t.Run("context ended", func(t *testing.T) {
		_, plan := newPlan(t)
		plan.Hosts[0].Done(ErrSTARTTLSNotSupported)
		c := &Client{Resolver: stallResolver{}}
		if _, err := c.Preload(ctx, "example.test", "1", []byte(enforcePolicy)); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := c.Replan(cctx, plan)
		var derr *NoAcceptableMXError
		if !errors.As(err, &derr) || !derr.Temporary() || !errors.Is(err, context.Canceled) {
			t.Fatalf("Replan after the context ended: %v; want a NoAcceptableMXError wrapping the context's error", err)
		}
	})
}

// stallResolver answers when its context ends.
type stallResolver struct{}

func (stallResolver) LookupTXT(ctx context.Context, _ string) ([]string, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// RFC 8460, Section 5.3.1: report traffic does not honor MTA-STS or DANE
// TLSA failures, and its sessions are never counted, whatever the lookup.
func TestReportTrafficNeverBlockedNorCounted(t *testing.T) {
	w := world(t)
	failing := func(tls.ConnectionState) error { return errors.New("TLSA mismatch") }
	for _, policy := range []string{enforcePolicy, ""} {
		r := &Result{Domain: "example.test", Failure: tlsrpt.ResultSTSPolicyFetchError}
		if policy != "" {
			r.Policy = mustPolicy(t, policy)
		}
		plan := r.Plan([]*net.MX{{Host: "mx1.example.test"}}, PlanOptions{ReportTraffic: true, MXSecurity: resolver.Secure})
		h := &plan.Hosts[0]
		h.SetDANE(secureTLSA("mx1.example.test", wrongDigest))
		if !h.Try || h.RequireTLS || h.Verify || h.DANE {
			t.Fatalf("report plan %+v; want opportunistic", h)
		}
		_, err := handshake(t, w.certs["self"], 0, h.TLSConfig(&tls.Config{VerifyConnection: failing}))
		if err != nil {
			t.Fatalf("report handshake failed: %v", err)
		}
		d := h.Done(err)
		if !d.Deliver || d.Counted {
			t.Fatalf("report decision %+v", d)
		}
		if s, ok := r.Session(d, time.Now()); ok {
			t.Fatalf("report session counted: %+v", s)
		}
		if s, ok := r.Session(h.Done(ErrSTARTTLSNotSupported), time.Now()); ok {
			t.Fatalf("report session without STARTTLS counted: %+v", s)
		}
	}
	// A session judged by DANE alone, to a domain whose policy fetch
	// failed, belongs to the tlsa report, not to an sts-policy-fetch-error.
	r := &Result{Domain: "example.test", Failure: tlsrpt.ResultSTSPolicyFetchError}
	plan := r.Plan([]*net.MX{{Host: "mx1.example.test"}}, PlanOptions{MXSecurity: resolver.Secure})
	plan.Hosts[0].SetDANE(secureTLSA("mx1.example.test", ee311(t, w.certs["valid"])))
	d := plan.Hosts[0].Done(nil)
	if s, ok := r.Session(d, time.Now()); ok {
		t.Fatalf("DANE session counted as MTA-STS: %+v", s)
	}
	if s, ok := d.TLSASession(time.Now()); !ok || s.Policy.Type != tlsrpt.PolicyTLSA {
		t.Fatalf("DANE session %+v, %v; want it under tlsa", s, ok)
	}
}

// For MTAs that run their own handshake: the finished connection state is
// verified as TLSConfig's VerifyConnection does, and Done sees it.
func TestVerifyConnectionState(t *testing.T) {
	w := world(t)
	base := &tls.Config{RootCAs: w.ca.Pool()}
	own := func(cert string) tls.ConnectionState {
		c, s := pipe(t)
		go func() {
			srv := tls.Server(s, &tls.Config{Certificates: []tls.Certificate{w.certs[cert]}})
			_ = srv.Handshake()
		}()
		cli := tls.Client(c, &tls.Config{InsecureSkipVerify: true, ServerName: "mx1.example.test"})
		if err := cli.Handshake(); err != nil {
			t.Fatal(err)
		}
		return cli.ConnectionState()
	}
	plan := planFor(t, enforcePolicy, "mx1.example.test")
	h := &plan.Hosts[0]
	if err := h.VerifyConnectionState(own("valid"), base); err != nil {
		t.Fatalf("valid: %v", err)
	}
	if d := h.Done(nil); !d.Deliver || d.ResultType != "" {
		t.Fatalf("valid: %+v", d)
	}
	err := h.VerifyConnectionState(own("expired"), base)
	var ce *CertificateError
	if !errors.As(err, &ce) || ce.ResultType != tlsrpt.ResultCertificateExpired {
		t.Fatalf("expired under enforce: %v", err)
	}
	if d := h.Done(err); d.Deliver || d.ResultType != tlsrpt.ResultCertificateExpired {
		t.Fatalf("expired under enforce: %+v", d)
	}
	plan = planFor(t, testingPolicy, "mx1.example.test")
	h = &plan.Hosts[0]
	if err := h.VerifyConnectionState(own("expired"), base); err != nil {
		t.Fatalf("expired under testing: %v; want nil", err)
	}
	if d := h.Done(nil); !d.Deliver || d.ResultType != tlsrpt.ResultCertificateExpired {
		t.Fatalf("expired under testing: %+v", d)
	}
	// The caller's VerifyConnection is chained after the MTA-STS check.
	plan = planFor(t, enforcePolicy, "mx1.example.test")
	called := 0
	chained := &tls.Config{RootCAs: w.ca.Pool(), VerifyConnection: func(tls.ConnectionState) error { called++; return nil }}
	if err := plan.Hosts[0].VerifyConnectionState(own("valid"), chained); err != nil || called != 1 {
		t.Fatalf("chained: err %v, called %d times", err, called)
	}
	if err := plan.Hosts[0].VerifyConnectionState(own("expired"), chained); err == nil || called != 1 {
		t.Fatalf("chained after a failed check: err %v, called %d times; want the check's error, not called", err, called)
	}
}

// The Client logs with the caller's context, so that a per-delivery
// handler sees its records.
func TestLogsCarryContext(t *testing.T) {
	type key struct{}
	h := &ctxHandler{key: key{}}
	c := &Client{Resolver: failingResolver{}, Logger: slog.New(h)}
	ctx := context.WithValue(context.Background(), key{}, "delivery-1")
	if _, err := c.Lookup(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	if h.records == 0 || h.without != 0 {
		t.Fatalf("%d records, %d without the caller's context", h.records, h.without)
	}
}

type failingResolver struct{}

func (failingResolver) LookupTXT(context.Context, string) ([]string, error) {
	return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
}

// ctxHandler counts records and those whose context lacks key.
type ctxHandler struct {
	key              any
	mu               sync.Mutex
	records, without int
}

func (h *ctxHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *ctxHandler) Handle(ctx context.Context, _ slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records++
	if ctx.Value(h.key) == nil {
		h.without++
	}
	return nil
}
func (h *ctxHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *ctxHandler) WithGroup(string) slog.Handler      { return h }
