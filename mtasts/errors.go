package mtasts

import (
	"errors"
	"strings"

	"github.com/strictmx/strictmx/tlsrpt"
)

// Discovery errors: what the `_mta-sts` TXT lookup found.
var (
	// ErrNoRecord means the domain publishes no usable `_mta-sts` record:
	// NXDOMAIN, NODATA, or no TXT RR that starts with v=STSv1. Deliver as if
	// the domain had no MTA-STS (unless an unexpired policy is cached).
	ErrNoRecord = errors.New("mtasts: no MTA-STS record")
	// ErrMultipleRecords means more than one TXT RR starts with v=STSv1.
	// RFC 8461, Section 3.1 treats that as no record.
	ErrMultipleRecords = errors.New("mtasts: more than one MTA-STS record")
	// ErrRecordSyntax means the only candidate record breaks the grammar of
	// RFC 8461, Section 3.1; it too counts as no record.
	ErrRecordSyntax = errors.New("mtasts: MTA-STS record syntax error")
	// ErrDNSTemporary means the TXT lookup failed temporarily (SERVFAIL,
	// timeout, refused). Keep using a cached policy; otherwise try later.
	ErrDNSTemporary = errors.New("mtasts: temporary DNS failure")
	// ErrInvalidDomain means the domain given is not a valid host name. It
	// is the caller's error, not the remote domain's.
	ErrInvalidDomain = errors.New("mtasts: invalid domain")
)

// Fetch errors: what happened to the HTTPS policy fetch. Each maps to a
// TLS-RPT result type; see ResultTypeOf.
var (
	// ErrPolicyFetch means the policy could not be fetched: connection,
	// status, media type, size or timeout (sts-policy-fetch-error).
	ErrPolicyFetch = errors.New("mtasts: policy fetch failed")
	// ErrPolicyInvalid means the policy body was fetched but is not a valid
	// policy (sts-policy-invalid). ParsePolicy wraps it.
	ErrPolicyInvalid = errors.New("mtasts: invalid policy")
	// ErrWebPKI means the policy host's certificate did not validate
	// (sts-webpki-invalid).
	ErrWebPKI = errors.New("mtasts: policy host certificate invalid")
	// ErrFetchBackoff means a fetch for this (domain, id) failed less than
	// FetchBackoff ago and is not retried yet; the earlier error is wrapped
	// too.
	ErrFetchBackoff = errors.New("mtasts: policy fetch backing off after a recent failure")
	// ErrDialGuard means the policy host resolved to an address the dial
	// guard refuses (see Client.AllowPrivate). It is wrapped with
	// ErrPolicyFetch.
	ErrDialGuard = errors.New("mtasts: policy host address not public")
	// ErrDiscoveryLimit means the Client already had MaxDiscoveries
	// discoveries in flight and did not start this one. Nothing was asked
	// of the domain, nothing was cached or backed off, and nothing is to
	// be reported (Result.Failure is empty). Use the cached policy the
	// Result may carry; without one, deliver as if the domain had no
	// MTA-STS, as after a failed fetch, or queue the message and look up
	// again later.
	ErrDiscoveryLimit = errors.New("mtasts: too many policy discoveries in flight")
)

// Enforcement errors: what a delivery attempt under a policy ran into.
var (
	// ErrMXMismatch means an MX host matches no mx pattern of the policy.
	ErrMXMismatch = errors.New("mtasts: MX host not allowed by policy")
	// ErrSTARTTLSNotSupported means the MX host did not offer STARTTLS.
	ErrSTARTTLSNotSupported = errors.New("mtasts: STARTTLS not offered")
	// ErrCertificate means the MX host's certificate failed validation, or
	// the handshake failed; a *CertificateError says how.
	ErrCertificate = errors.New("mtasts: MX certificate invalid")
	// ErrTLSVersion means the MX host negotiated a TLS version older than
	// 1.2 (RFC 8461, Section 7.2).
	ErrTLSVersion = errors.New("mtasts: TLS version older than 1.2")
	// ErrNoAcceptableMX means that under an enforce policy no MX host could
	// be used. It is always a temporary failure: queue and retry, never
	// bounce (RFC 8461, Section 5).
	ErrNoAcceptableMX = errors.New("mtasts: no MX host acceptable under the enforce policy")
)

// MX resolution errors: what ResolveMX found instead of hosts to try. Both
// are final answers of the domain's DNS, not failures of the lookup: trying
// again later gives the same answer until the domain's owner changes it. A
// lookup that failed wraps ErrDNSTemporary instead.
var (
	// ErrNullMX means the domain publishes a null MX (RFC 7505): it
	// accepts no mail. No host is to be tried; the message cannot be
	// delivered to this domain.
	ErrNullMX = errors.New("mtasts: domain accepts no mail (null MX)")
	// ErrNoSuchDomain means the domain does not exist (NXDOMAIN). Only a
	// resolver that tells NXDOMAIN from NODATA, such as *resolver.Stub,
	// lets ResolveMX report it; errors.Is then finds resolver.ErrNXDOMAIN
	// too.
	ErrNoSuchDomain = errors.New("mtasts: domain does not exist")
)

// Outcome errors: how an attempt on an MX host ended when it was not for a
// TLS or policy failure. None of them is a TLS-RPT failure.
var (
	// ErrNotReached means no SMTP session reached STARTTLS: the TCP
	// connection failed, or the greeting or EHLO did. Try the next host;
	// the attempt is not counted in TLS-RPT reports (see NotReached).
	ErrNotReached = errors.New("mtasts: MX host not reached")
	// ErrSTARTTLSRefused means the MX host offered STARTTLS but refused
	// the command (a 454 reply, say). It wraps ErrSTARTTLSNotSupported, so
	// it is reported as starttls-not-supported (see HostPlan.Done).
	ErrSTARTTLSRefused error = &refusedError{}
	// ErrSessionFailed means the STARTTLS step went as the Decision says
	// and the SMTP session failed later (an EHLO refused after the
	// handshake, a MAIL, RCPT or DATA reply, a dropped connection). It is
	// the caller's ordinary SMTP failure, not a TLS one: for TLS-RPT the
	// session is what its handshake was.
	ErrSessionFailed = errors.New("mtasts: SMTP session failed after STARTTLS")
)

// refusedError is ErrSTARTTLSRefused, a kind of ErrSTARTTLSNotSupported.
type refusedError struct{}

func (*refusedError) Error() string { return "mtasts: STARTTLS refused by the server" }

// Unwrap returns ErrSTARTTLSNotSupported.
func (*refusedError) Unwrap() error { return ErrSTARTTLSNotSupported }

// CertificateError is an MX certificate validation failure, classified.
// It wraps ErrCertificate and the underlying x509 error.
type CertificateError struct {
	Host       string
	ResultType tlsrpt.ResultType
	Reason     string
	Err        error
}

func (e *CertificateError) Error() string {
	return "mtasts: certificate of " + e.Host + ": " + string(e.ResultType) + ": " + e.Err.Error()
}

// Unwrap returns ErrCertificate and the cause.
func (e *CertificateError) Unwrap() []error { return []error{ErrCertificate, e.Err} }

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
