package mtasts

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strings"

	"github.com/strictmx/strictmx/mtasts/dane"
	"github.com/strictmx/strictmx/tlsrpt"
)

// Outcome is how an attempt on one MX host ended, as the caller states it
// through Done, NotReached, Sent or Skipped.
type Outcome uint8

const (
	// OutcomeUnknown: nothing was recorded for the host.
	OutcomeUnknown Outcome = iota
	// OutcomeSkipped: the host may not be tried (Skipped).
	OutcomeSkipped
	// OutcomeNotReached: no session reached STARTTLS (NotReached, or Done
	// with an error wrapping ErrNotReached). Not counted in TLS-RPT.
	OutcomeNotReached
	// OutcomeSTARTTLSNotOffered: EHLO did not list STARTTLS.
	OutcomeSTARTTLSNotOffered
	// OutcomeSTARTTLSRefused: the STARTTLS command was refused.
	OutcomeSTARTTLSRefused
	// OutcomeTLSFailed: the handshake or the verification failed.
	OutcomeTLSFailed
	// OutcomeReady: the STARTTLS step is over and the mail transaction
	// may go on (Done(nil)); report its end with Sent.
	OutcomeReady
	// OutcomeSessionFailed: TLS passed (or was not required) and the SMTP
	// session failed later. A TLS success for TLS-RPT.
	OutcomeSessionFailed
	// OutcomeDelivered: the host accepted the message (Sent(nil)).
	OutcomeDelivered
)

var outcomeNames = [...]string{
	OutcomeUnknown:            "no outcome recorded",
	OutcomeSkipped:            "not tried",
	OutcomeNotReached:         "not reached",
	OutcomeSTARTTLSNotOffered: "STARTTLS not offered",
	OutcomeSTARTTLSRefused:    "STARTTLS refused by the server",
	OutcomeTLSFailed:          "TLS or verification failed",
	OutcomeReady:              "ready for the mail transaction",
	OutcomeSessionFailed:      "TLS passed and the session failed later",
	OutcomeDelivered:          "delivered",
}

// String says what happened, in words.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Decision is what a delivery attempt to one host comes to.
type Decision struct {
	// Host is the MX host.
	Host string
	// Outcome is how the attempt ended.
	Outcome Outcome
	// Deliver says whether to go on delivering the message over this
	// connection (for OutcomeTLSFailed: over a new one, without TLS).
	// When false, close it and try the next host; the failure is
	// temporary.
	Deliver bool
	// ResultType is the TLS-RPT result type of a failure to report, or ""
	// for a success (or nothing to report).
	ResultType tlsrpt.ResultType
	// Reason is the failure reason code that goes with ResultType.
	Reason string
	// Counted says whether this session belongs in a TLS-RPT report: true
	// under an enforce or testing policy, when a policy fetch failed with
	// no cached policy to fall back on (the session then reports that
	// failure), and when the domain has no policy (no-policy-found, unless
	// PlanOptions.SkipNoPolicyFound); false under a policy of mode none,
	// for DANE hosts, report traffic and hosts not reached.
	Counted bool
	// Err says what went wrong, worded as what happened: it wraps
	// ErrMXMismatch, ErrNotReached, ErrSTARTTLSNotSupported,
	// ErrSTARTTLSRefused, ErrCertificate (errors.As to *CertificateError),
	// ErrTLSVersion or ErrSessionFailed, or is a DANE failure (errors.As to
	// *dane.Error). Nil when nothing failed; under testing, the failure to
	// report while delivering.
	Err error

	// TLSA is DANE's verdict on the session, for the report of its tlsa
	// policy: set (TLSA.Counted) when a secure TLSA RRset judged the host,
	// or its TLSA lookup failed, or mandatory DANE kept it from being
	// tried (see HostPlan.SetDANE). The fields above are MTA-STS's verdict
	// (or no-policy-found's); a session may count under both.
	TLSA Verdict
}

// Verdict is one policy's judgement of a session, for its TLS-RPT report.
type Verdict struct {
	// Counted says whether the session belongs in the policy's report.
	Counted bool
	// ResultType is the failure's result type, "" for a success.
	ResultType tlsrpt.ResultType
	// Reason is the failure reason code that goes with ResultType.
	Reason string
	// Policy is the report policy the session counts under.
	Policy tlsrpt.Policy
}

// Skipped returns the decision for a host that may not be tried, so that
// the mismatch is reported like any other failed session. Spec note: RFC
// 8460 has no result type for an MX host outside the policy; it is reported
// as validation-failure (the catch-all of RFC 8460, Section 4.3.3) with the
// reason code mtasts-policy-mx-mismatch.
func (h *HostPlan) Skipped() Decision {
	d := Decision{Host: h.Host, Outcome: OutcomeSkipped, Counted: h.flags&countSTS != 0}
	if derr := h.skippedDANE(); derr != nil {
		// Kept back by DANE: a failed TLSA lookup or mandatory DANE. The
		// session is DANE's failure; MTA-STS did not judge the host.
		d.Counted, d.Err = false, derr
		if !errors.Is(derr, dane.ErrNoAddress) {
			d.TLSA = h.tlsaVerdict(derr)
		}
		return h.store(d)
	}
	if h.Host == "" {
		d.Counted, d.Err = false, ErrNullMX // nothing to report
	} else {
		d.Err = fmt.Errorf("%w: %s", ErrMXMismatch, h.Host)
	}
	if d.Counted {
		d.ResultType, d.Reason = ResultTypeOf(d.Err)
	}
	return h.store(d)
}

// NotReached records that no session with the host reached STARTTLS: the
// TCP connection, the greeting or EHLO failed with err (which may be nil).
// The decision is to try the next host; nothing is reported.
//
// Spec note: RFC 8460, Section 4.3.4 lets transient network failures be
// left out of reports, and a host that was never reached says nothing
// about its TLS: such attempts are not counted.
func (h *HostPlan) NotReached(err error) Decision {
	if err == nil {
		err = fmt.Errorf("%w: %s", ErrNotReached, h.Host)
	} else if !errors.Is(err, ErrNotReached) {
		err = fmt.Errorf("%w: %s: %w", ErrNotReached, h.Host, err)
	}
	return h.store(Decision{Host: h.Host, Outcome: OutcomeNotReached, Err: err})
}

// Done records how the STARTTLS step went and decides. Pass:
//
//   - nil after a successful handshake made with TLSConfig (or checked
//     with VerifyConnectionState);
//   - ErrSTARTTLSNotSupported when EHLO did not offer STARTTLS;
//   - an error wrapping ErrSTARTTLSRefused when the server refused the
//     STARTTLS command (a *textproto.Error from net/smtp's StartTLS
//     before any handshake is recognised as one);
//   - the error of the STARTTLS call otherwise.
//
// Done tells a TLS failure from a later one by what TLSConfig's
// verification recorded: an error after the handshake reached
// VerifyConnection and passed it, that is not a TLS alert or record error,
// is the session's failure (ErrSessionFailed), not a TLS one, and the
// session counts as a TLS success. So net/smtp's StartTLS, which is the
// handshake plus EHLO, and go-smtp's deferred handshake need no sorting by
// the caller. An error wrapping ErrNotReached is taken as NotReached.
//
// Under a testing policy a certificate the handshake let through is still
// judged here, from what TLSConfig's verification recorded: the decision is
// to deliver, with the failure to report.
//
// Spec note: RFC 8460, Section 4.3.1 defines starttls-not-supported as a
// recipient MX that did not support STARTTLS; a refused STARTTLS command
// is that (the server does not support it now), and is reported so.
func (h *HostPlan) Done(err error) Decision {
	var rec verifyRecord
	if r := h.st().verify.Load(); r != nil {
		rec = *r
	}
	d := Decision{Host: h.Host}
	switch {
	case err == nil:
		d.Outcome = OutcomeReady
	case errors.Is(err, ErrNotReached):
		return h.NotReached(err)
	case errors.Is(err, ErrSessionFailed):
		d.Outcome = OutcomeSessionFailed
	case errors.Is(err, ErrSTARTTLSRefused):
		d.Outcome = OutcomeSTARTTLSRefused
	case errors.Is(err, ErrSTARTTLSNotSupported):
		d.Outcome = OutcomeSTARTTLSNotOffered
	case rec.up && !tlsProtocolError(err):
		d.Outcome = OutcomeSessionFailed
		err = fmt.Errorf("%w: %s: %w", ErrSessionFailed, h.Host, err)
	case !rec.up && isSMTPReply(err):
		d.Outcome = OutcomeSTARTTLSRefused
		err = fmt.Errorf("%w: %s: %w", ErrSTARTTLSRefused, h.Host, err)
	default:
		d.Outcome = OutcomeTLSFailed
		err = classifyHandshake(h.Host, err)
	}
	// tlsErr is the session's TLS failure for MTA-STS, daneErr for DANE;
	// nil for a TLS success.
	tlsErr, daneErr := err, err
	switch d.Outcome {
	case OutcomeReady, OutcomeSessionFailed:
		tlsErr, daneErr = rec.err, rec.dane // what a testing handshake let through
	case OutcomeTLSFailed:
		if rec.aborted {
			// The verification aborted the handshake: each policy has
			// its own verdict (a DANE failure is not MTA-STS's).
			tlsErr, daneErr = rec.err, rec.dane
		}
	}
	if h.Mismatch {
		tlsErr = fmt.Errorf("%w: %s", ErrMXMismatch, h.Host) // whatever TLS did
	}
	// stsBlocks says whether an MTA-STS failure keeps the message from
	// going: under enforce (a HostPlan built by hand says so with
	// RequireTLS alone).
	stsBlocks := h.flags&stsEnforce != 0 || h.RequireTLS && !h.DANE
	switch d.Outcome {
	case OutcomeSessionFailed:
	case OutcomeReady:
		d.Deliver = tlsErr == nil || !stsBlocks
	default:
		// testing, report traffic or opportunistic: deliver anyway, after
		// a failed handshake on a new connection without TLS; enforce or
		// DANE: the host is skipped, temporarily.
		d.Deliver = !h.RequireTLS
	}
	d.Counted = h.flags&counted != 0
	d.Err = err
	if d.Outcome == OutcomeReady {
		d.Err = nil
	}
	switch {
	case h.flags&countSTS != 0:
		d.ResultType, d.Reason = ResultTypeOf(tlsErr)
		if d.Err == nil {
			d.Err = tlsErr
		}
	case h.flags&countNoPolicy != 0:
		// Spec note: RFC 8460, Section 4.4 counts as successes the
		// "successfully negotiated TLS-enabled connections" and as
		// failures the "failures to negotiate a TLS-enabled connection",
		// whatever the policy type; so a no-policy-found session is what
		// its TLS did: a success after a handshake, starttls-not-supported
		// (RFC 8460, Section 4.3.1) when STARTTLS was not offered or was
		// refused, and the handshake's failure otherwise. No certificate
		// is judged (opportunistic TLS accepts any), so no policy failure
		// applies.
		d.ResultType, d.Reason = ResultTypeOf(tlsErr)
	}
	if dh := h.daneHost(); dh != nil && h.flags&countTLSA != 0 {
		if daneErr == nil && dh.RRset.Usable() == 0 {
			daneErr = noUsableError(h.Host) // RFC 7672, Section 2.2: mail goes
		}
		d.TLSA = h.tlsaVerdict(daneErr)
		if d.Err == nil {
			d.Err = daneErr
		}
	}
	return h.store(d)
}

// tlsaVerdict returns DANE's verdict on a session of the host that failed
// with err (nil: a success).
func (h *HostPlan) tlsaVerdict(err error) Verdict {
	v := Verdict{Counted: true, Policy: h.TLSAPolicy()}
	v.ResultType, v.Reason = ResultTypeOf(err)
	return v
}

// Sent records the end of the mail transaction that followed a Done whose
// decision was to deliver: nil when the host accepted the message, else
// the error. The TLS-RPT view of the session stays what Done decided; a
// failure here is OutcomeSessionFailed, a TLS success.
func (h *HostPlan) Sent(err error) Decision {
	d := Decision{Host: h.Host, Counted: h.flags&counted != 0}
	if p := h.st().decision.Load(); p != nil {
		d = *p
	}
	if err == nil {
		if d.Outcome != OutcomeReady {
			d.Err = nil // keep only the failure to report of a testing handshake
		}
		d.Outcome, d.Deliver = OutcomeDelivered, true
		return h.store(d)
	}
	if !errors.Is(err, ErrSessionFailed) {
		err = fmt.Errorf("%w: %s: %w", ErrSessionFailed, h.Host, err)
	}
	d.Outcome, d.Deliver, d.Err = OutcomeSessionFailed, false, err
	return h.store(d)
}

// counted are the HostPlan.flags of a host whose sessions Done and Sent
// count.
const counted = countSTS | countFailure | countNoPolicy

// store keeps d as the host's last decision, for Replan, and returns it.
func (h *HostPlan) store(d Decision) Decision {
	h.st().decision.Store(&d)
	return d
}

// refusedForSTS reports whether d, the decision for h, refused the host
// for an MTA-STS reason: outside the policy, or TLS missing or failed
// where the policy requires it.
func refusedForSTS(h *HostPlan, d *Decision) bool {
	if d.Deliver {
		return false
	}
	switch d.Outcome {
	case OutcomeSkipped:
		return h.Mismatch && h.skippedDANE() == nil
	case OutcomeSTARTTLSNotOffered, OutcomeSTARTTLSRefused, OutcomeTLSFailed:
		// Under enforce, and MTA-STS's own verdict failed: not when DANE
		// alone judged the host, or DANE alone failed it.
		return h.flags&stsEnforce != 0 && d.ResultType != ""
	}
	return false
}

// isSMTPReply reports whether err is an SMTP reply as net/smtp returns it.
func isSMTPReply(err error) bool {
	var tp *textproto.Error
	return errors.As(err, &tp)
}

// maxUnwrap bounds the walk down an error chain.
const maxUnwrap = 32

// tlsProtocolError reports whether err is a failure of the TLS layer (an
// alert sent or received, a bad record, a failed verification) rather
// than of the SMTP session above it.
func tlsProtocolError(err error) bool {
	var (
		alert  tls.AlertError
		record tls.RecordHeaderError
		verify *tls.CertificateVerificationError
		op     *net.OpError
	)
	switch {
	case errors.As(err, &alert), errors.As(err, &record), errors.As(err, &verify):
		return true
	case errors.As(err, &op) && (op.Op == "remote error" || op.Op == "local error"):
		return true
	case isSMTPReply(err):
		return false
	}
	// crypto/tls reports its own protocol failures as plain errors.
	for range maxUnwrap {
		next := errors.Unwrap(err)
		if next == nil {
			break
		}
		err = next
	}
	return strings.HasPrefix(err.Error(), "tls: ")
}

// classifyHandshake turns a handshake error into a *CertificateError when
// it is about the certificate, so ResultTypeOf can map it.
func classifyHandshake(host string, err error) error {
	var (
		ce *CertificateError
		de *dane.Error
	)
	if errors.As(err, &ce) || errors.As(err, &de) || errors.Is(err, ErrTLSVersion) {
		return err // from TLSConfig's VerifyConnection: already classified
	}
	if rt, reason := certResultType(err, nil); rt != "" {
		return &CertificateError{Host: host, ResultType: rt, Reason: reason, Err: err}
	}
	return &CertificateError{Host: host, ResultType: tlsrpt.ResultValidationFailure, Reason: tlsrpt.ReasonHandshake, Err: err}
}
