package mtasts

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/strictmx/strictmx/tlsrpt"
)

// PlanOptions carries what the caller knows about a delivery that changes
// the plan.
type PlanOptions struct {
	// ReportTraffic says the message is itself a TLS-RPT report. It is delivered
	// despite MTA-STS failures (RFC 8460, Section 5.3.1) and its sessions
	// are not reported.
	ReportTraffic bool

	// DANE reports whether the caller validates host with DANE (it found
	// usable TLSA records). For such a host the caller's DANE verification
	// governs and MTA-STS never relaxes it (RFC 8461, Section 2): TLS is
	// required whatever the mode, and the host is not skipped or verified
	// by MTA-STS. Nil means no host uses DANE.
	DANE func(host string) bool
}

// Plan is the per-MX delivery plan for one message to one policy domain.
// Make it with Result.Plan; try Hosts in order, skipping those whose Try is
// false. A Plan and its HostPlans are used by one delivery at a time.
type Plan struct {
	// Result is the policy lookup the plan was made from.
	Result *Result
	// Mode is the policy's mode, ModeNone when there is no policy.
	Mode Mode
	// ReportTraffic is PlanOptions.ReportTraffic.
	ReportTraffic bool
	// Hosts are the MX hosts in the order given, one HostPlan each.
	Hosts []HostPlan

	mx   []*net.MX
	opts PlanOptions
}

// HostPlan says how to deliver to one MX host, and records the outcome.
type HostPlan struct {
	// Host is the MX host name without a trailing dot.
	Host string
	// Preference is the MX preference.
	Preference uint16
	// Try says whether the host may be tried at all. Under an enforce
	// policy a host that matches no mx pattern may not.
	Try bool
	// Mismatch says that there is a policy and the host matches none of
	// its mx patterns. Under testing such a host is still tried, and the
	// mismatch reported.
	Mismatch bool
	// RequireTLS says that delivery must not go on without STARTTLS and a
	// successful handshake (enforce, or DANE).
	RequireTLS bool
	// Verify says that the host's certificate is validated with PKIX for
	// MTA-STS (enforce and testing). Use TLSConfig for the handshake.
	Verify bool
	// DANE says the caller's DANE validation governs this host.
	DANE bool
	// Reason says, for a host that may not be tried or that does not match,
	// why.
	Reason string

	counted bool       // sessions with this host go into TLS-RPT reports
	state   *hostState // made by TLSConfig or a decision
}

// hostState is the part of a HostPlan that attempts write. It is kept
// apart so that making a Plan stays one small allocation.
type hostState struct {
	mu        sync.Mutex
	verifyErr error     // set by the TLSConfig's VerifyConnection
	decision  *Decision // the last decision made
}

func (h *HostPlan) st() *hostState {
	if h.state == nil {
		h.state = &hostState{}
	}
	return h.state
}

// Plan makes the delivery plan for the MX hosts of the policy domain, in
// the order the caller will try them (by preference, from its MX lookup).
// When the domain has no MX records, pass the domain itself as the only
// host: RFC 8461, Section 4.1 requires the implicit MX to match the policy
// too. A null MX (".") is never tried.
//
// Under enforce, hosts that match no pattern may not be tried; under
// testing every host is tried and a mismatch is recorded for reporting; with
// mode none or no policy, delivery is opportunistic. Plan does no I/O and
// makes one allocation.
func (r *Result) Plan(mx []*net.MX, opts PlanOptions) *Plan {
	mode := r.Mode()
	pl := &planAlloc{}
	pl.plan = Plan{Result: r, Mode: mode, ReportTraffic: opts.ReportTraffic, mx: mx, opts: opts}
	if len(mx) <= len(pl.hosts) {
		pl.plan.Hosts = pl.hosts[:len(mx)]
	} else {
		pl.plan.Hosts = make([]HostPlan, len(mx))
	}
	for i, m := range mx {
		h := &pl.plan.Hosts[i]
		h.Host = strings.TrimSuffix(m.Host, ".")
		h.Preference = m.Pref
		h.Mismatch = r.Policy != nil && !r.Policy.Match(h.Host)
		h.DANE = opts.DANE != nil && opts.DANE(h.Host)
		switch {
		case h.Host == "":
			// RFC 7505 null MX: the domain accepts no mail.
			h.Reason = "null MX: the domain accepts no mail"
		case h.DANE:
			// Spec note: RFC 8461, Section 2 forbids MTA-STS to override a
			// failing DANE validation; the caller's DANE check decides.
			h.Try, h.RequireTLS = true, true
		case opts.ReportTraffic:
			// RFC 8460, Section 5.3.1: reports go out despite failures.
			h.Try = true
		case mode == ModeEnforce:
			h.Try, h.RequireTLS, h.Verify = !h.Mismatch, !h.Mismatch, !h.Mismatch
			if h.Mismatch {
				h.Reason = "MX host matches no mx pattern of the enforce policy"
			}
		case mode == ModeTesting:
			h.Try, h.Verify = true, true
			if h.Mismatch {
				h.Reason = "MX host matches no mx pattern of the testing policy"
			}
		default:
			h.Try = true
		}
		h.counted = (mode == ModeEnforce || mode == ModeTesting) && !opts.ReportTraffic && !h.DANE
	}
	return &pl.plan
}

// planAlloc lets Plan make one allocation for up to five hosts.
type planAlloc struct {
	plan  Plan
	hosts [5]HostPlan
}

// Decision is what a delivery attempt to one host comes to.
type Decision struct {
	// Host is the MX host.
	Host string
	// Deliver says whether to go on delivering the message over this
	// connection. When false, close it and try the next host; the failure
	// is temporary.
	Deliver bool
	// ResultType is the TLS-RPT result type of a failure to report, or ""
	// for a success (or nothing to report).
	ResultType tlsrpt.ResultType
	// Reason is the failure reason code that goes with ResultType.
	Reason string
	// Counted says whether this session belongs in a TLS-RPT report: true
	// under an enforce or testing policy, false for opportunistic delivery
	// and for report traffic.
	Counted bool
	// Err is the failure, wrapping ErrMXMismatch, ErrSTARTTLSNotSupported
	// or ErrCertificate (errors.As to *CertificateError), or nil.
	Err error
}

// Skipped returns the decision for a host that may not be tried, so that
// the mismatch is reported like any other failed session (RFC 8460,
// Section 4.3: validation-failure, mtasts-policy-mx-mismatch).
func (h *HostPlan) Skipped() Decision {
	return h.decide(false, nil)
}

// Done records how the attempt went and decides. Pass nil after a
// successful STARTTLS handshake made with TLSConfig, ErrSTARTTLSNotSupported
// when the host did not offer STARTTLS, or the handshake's error.
//
// Under a testing policy a certificate the handshake let through is still
// judged here, from what TLSConfig's verification recorded: the decision is
// to deliver, with the failure to report.
func (h *HostPlan) Done(err error) Decision {
	return h.decide(true, err)
}

func (h *HostPlan) decide(tried bool, err error) Decision {
	st := h.st()
	d := Decision{Host: h.Host, Counted: h.counted}
	switch {
	case !tried || h.Mismatch:
		// A mismatch is the session's failure whatever TLS did.
		err = fmt.Errorf("%w: %s", ErrMXMismatch, h.Host)
	case err == nil:
		st.mu.Lock()
		err = st.verifyErr // what a testing handshake let through
		st.mu.Unlock()
	case !errors.Is(err, ErrSTARTTLSNotSupported):
		err = classifyHandshake(h.Host, err)
	}
	switch {
	case !tried:
	case err == nil:
		d.Deliver = true
	case h.RequireTLS:
		// enforce or DANE: a failed host is skipped, temporarily.
	default:
		// testing, report traffic, or opportunistic: deliver anyway. After a
		// failed handshake that means a new connection without TLS.
		d.Deliver = true
	}
	if d.Counted {
		d.Err = err
		d.ResultType, d.Reason = ResultTypeOf(err)
	} else if !d.Deliver {
		d.Err = err
	}
	st.mu.Lock()
	st.decision = &d
	st.mu.Unlock()
	return d
}

// classifyHandshake turns a handshake error into a *CertificateError when
// it is about the certificate, so ResultTypeOf can map it.
func classifyHandshake(host string, err error) error {
	var ce *CertificateError
	if errors.As(err, &ce) || errors.Is(err, ErrTLSVersion) {
		return err // from TLSConfig's VerifyConnection: already classified
	}
	if rt, reason := certResultType(err, nil); rt != "" {
		return &CertificateError{Host: host, ResultType: rt, Reason: reason, Err: err}
	}
	return &CertificateError{Host: host, ResultType: tlsrpt.ResultValidationFailure, Reason: tlsrpt.ReasonHandshake, Err: err}
}

// NoAcceptableMXError is the temporary failure of a message under an enforce
// policy when no MX host was acceptable. Queue the message and retry later;
// never bounce it for this (RFC 8461, Section 5). It wraps
// ErrNoAcceptableMX.
type NoAcceptableMXError struct {
	Domain   string
	PolicyID string
	// Hosts are the decisions for each host, in plan order.
	Hosts []Decision
}

func (e *NoAcceptableMXError) Error() string {
	var b strings.Builder
	b.WriteString("mtasts: no MX host of ")
	b.WriteString(e.Domain)
	b.WriteString(" acceptable under the enforce policy (temporary failure)")
	for _, d := range e.Hosts {
		b.WriteString("; ")
		b.WriteString(d.Host)
		b.WriteString(": ")
		if d.Err != nil {
			b.WriteString(d.Err.Error())
		} else {
			b.WriteString("failed")
		}
	}
	return b.String()
}

// Unwrap returns ErrNoAcceptableMX.
func (e *NoAcceptableMXError) Unwrap() error { return ErrNoAcceptableMX }

// Temporary reports true: the failure is never permanent.
func (e *NoAcceptableMXError) Temporary() bool { return true }

// Replan is called when no host of plan took the message. Before the
// failure is final it re-checks the policy id (RFC 8461, Section 5.1): if
// the domain now publishes another policy, Replan returns a new plan for
// the same hosts, to be tried at once. Otherwise it returns a
// *NoAcceptableMXError, a temporary failure, with the decision for each host.
//
// Only an enforce policy makes delivery fail for MTA-STS reasons; for other
// plans, and for report traffic, Replan returns (nil, nil) and the
// caller's own handling of unreachable hosts applies.
func (c *Client) Replan(ctx context.Context, plan *Plan) (*Plan, error) {
	if plan.Mode != ModeEnforce || plan.ReportTraffic {
		return nil, nil
	}
	r, err := c.CheckID(ctx, plan.Result.Domain)
	if err != nil {
		return nil, err
	}
	if r.Policy != nil && (r.ID != plan.Result.ID || r.Policy.Raw != plan.Result.Policy.Raw) {
		return r.Plan(plan.mx, plan.opts), nil
	}
	derr := &NoAcceptableMXError{Domain: plan.Result.Domain, PolicyID: plan.Result.ID}
	for i := range plan.Hosts {
		h := &plan.Hosts[i]
		st := h.st()
		st.mu.Lock()
		d := st.decision
		st.mu.Unlock()
		if d == nil {
			dd := h.Skipped()
			d = &dd
		}
		derr.Hosts = append(derr.Hosts, *d)
	}
	return nil, derr
}
