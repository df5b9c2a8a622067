package mtasts

import (
	"errors"
	"fmt"

	"github.com/strictmx/strictmx/tlsrpt"
)

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
// the mismatch is reported like any other failed session. Spec note: RFC
// 8460 has no result type for an MX host outside the policy; it is reported
// as validation-failure (the catch-all of RFC 8460, Section 4.3.3) with the
// reason code mtasts-policy-mx-mismatch.
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
