package dane

import (
	"errors"
	"fmt"

	"github.com/strictmx/strictmx/tlsrpt"
)

// Lookup errors: what finding the TLSA records ran into.
var (
	// ErrLookup means a DNSSEC-aware lookup for the host failed (SERVFAIL,
	// timeout, a malformed answer): the host is treated as compromised.
	// Skip it, temporarily, whatever MTA-STS says (dnssec-invalid, with the
	// reason code of resolver.FailureReason).
	ErrLookup = errors.New("dane: DNSSEC lookup failed")
	// ErrRequired means DANE was mandatory for the destination and no
	// secure TLSA RRset was found. Skip the host (dane-required).
	ErrRequired = errors.New("dane: DANE required but no secure TLSA records")
)

// Record errors: what the secure TLSA RRset holds.
var (
	// ErrNoUsable means the secure TLSA RRset holds no usable record.
	// STARTTLS and TLS are still required but any certificate is accepted,
	// and the session is reported as failed (tlsa-invalid,
	// all-tlsa-records-unusable) though the mail goes.
	ErrNoUsable = errors.New("dane: no usable TLSA record")
)

// Verification errors: what the server's certificates failed. Each skips
// the host; with no host left the failure is temporary, never a bounce.
var (
	// ErrNoMatch means no usable record matched: the leaf for DANE-EE, or
	// for DANE-TA no anchor was found or the chain did not reach one
	// (certificate-not-trusted, dane-no-match).
	ErrNoMatch = errors.New("dane: no TLSA record matches the server's certificates")
	// ErrNameMismatch means a DANE-TA chain validated but the leaf names
	// none of the reference identifiers (certificate-host-mismatch).
	ErrNameMismatch = errors.New("dane: certificate does not name the host")
	// ErrExpired means a certificate on a DANE-TA path, the anchor
	// certificate included, is outside its validity period
	// (certificate-expired).
	ErrExpired = errors.New("dane: certificate outside its validity period")
	// ErrChain means a DANE-TA path is invalid for another reason: an
	// issuer that is not a CA, a path length or name constraint broken, an
	// unhandled critical extension, a leaf whose extended key usage
	// excludes serverAuth (validation-failure, certificate-invalid).
	ErrChain = errors.New("dane: certificate chain invalid")
	// ErrTLSVersion means the connection negotiated a TLS version older
	// than 1.2 (validation-failure, tls-version).
	ErrTLSVersion = errors.New("dane: TLS version older than 1.2")
)

// An Error is a DANE failure with the TLS-RPT result type and reason code
// it is reported under (RFC 8460, Section 4.3). errors.Is finds its class,
// one of the sentinels above, and the cause, when there is one.
type Error struct {
	// Host is the MX host the failure is about, when known. Verify and
	// VerifyConnection leave it empty; the caller that knows the host may
	// set it.
	Host string
	// ResultType and Reason are the result-type and failure-reason-code
	// to report. Reason may be empty.
	ResultType tlsrpt.ResultType
	Reason     string
	// Err wraps the class and the cause.
	Err error
}

// Error returns "dane: <host>: <err>", or Err's text without a Host.
func (e *Error) Error() string {
	if e.Err == nil {
		return "dane: " + string(e.ResultType)
	}
	if e.Host == "" {
		return e.Err.Error()
	}
	return "dane: " + e.Host + ": " + e.Err.Error()
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// NewError returns the *Error for a failure of class (one of the
// sentinels of this package) about host, wrapping cause when it is not
// nil. ResultType and Reason are set as each sentinel's doc says;
// for ErrLookup, Reason is left for the caller, who has the DNS failure
// (resolver.FailureReason). A class that is not one of the sentinels is
// reported as validation-failure, certificate-invalid.
func NewError(host string, class, cause error) *Error {
	e := &Error{Host: host, Err: class}
	if cause != nil {
		e.Err = fmt.Errorf("%w: %w", class, cause)
	}
	switch class {
	case ErrLookup:
		e.ResultType = tlsrpt.ResultDNSSECInvalid
	case ErrRequired:
		e.ResultType = tlsrpt.ResultDANERequired
	case ErrNoUsable:
		e.ResultType, e.Reason = tlsrpt.ResultTLSAInvalid, tlsrpt.ReasonTLSAUnusable
	case ErrNoMatch:
		e.ResultType, e.Reason = tlsrpt.ResultCertificateNotTrusted, tlsrpt.ReasonDANENoMatch
	case ErrNameMismatch:
		e.ResultType = tlsrpt.ResultCertificateHostMismatch
	case ErrExpired:
		e.ResultType = tlsrpt.ResultCertificateExpired
	case ErrTLSVersion:
		e.ResultType, e.Reason = tlsrpt.ResultValidationFailure, tlsrpt.ReasonTLSVersion
	default:
		e.ResultType, e.Reason = tlsrpt.ResultValidationFailure, tlsrpt.ReasonCertInvalid
	}
	return e
}
