package mtasts

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
)

// ResultType is a TLS-RPT result type (RFC 8460, Section 4.3). Package
// tlsrpt uses the same strings; ResultTypeOf is the one place that maps
// strictmx errors to them.
type ResultType string

// The result types registered by RFC 8460, Section 4.3.
const (
	// Negotiation failures.
	ResultSTARTTLSNotSupported    ResultType = "starttls-not-supported"
	ResultCertificateHostMismatch ResultType = "certificate-host-mismatch"
	ResultCertificateExpired      ResultType = "certificate-expired"
	ResultCertificateNotTrusted   ResultType = "certificate-not-trusted"
	ResultValidationFailure       ResultType = "validation-failure"
	// DANE failures.
	ResultTLSAInvalid   ResultType = "tlsa-invalid"
	ResultDNSSECInvalid ResultType = "dnssec-invalid"
	ResultDANERequired  ResultType = "dane-required"
	// MTA-STS policy failures.
	ResultSTSPolicyFetchError ResultType = "sts-policy-fetch-error"
	ResultSTSPolicyInvalid    ResultType = "sts-policy-invalid"
	ResultSTSWebPKIInvalid    ResultType = "sts-webpki-invalid"
)

// Failure reason codes that strictmx sets with ResultValidationFailure and
// ResultCertificateNotTrusted (RFC 8460, Section 4.3 leaves them open).
const (
	ReasonMXMismatch  = "mtasts-policy-mx-mismatch"
	ReasonSelfSigned  = "self-signed"
	ReasonUnknownCA   = "unknown-authority"
	ReasonTLSVersion  = "tls-version"
	ReasonHandshake   = "tls-handshake-failure"
	ReasonCertInvalid = "certificate-invalid"
)

// ResultTypeOf maps an error from this package (or from a TLS handshake
// verified by it) to its TLS-RPT result type and a failure reason code. It
// returns "" for nil and for errors that are not failures to report
// (discovery errors such as ErrNoRecord).
func ResultTypeOf(err error) (ResultType, string) {
	if err == nil {
		return "", ""
	}
	var certErr *CertificateError
	if errors.As(err, &certErr) {
		return certErr.ResultType, certErr.Reason
	}
	switch {
	case errors.Is(err, ErrWebPKI):
		return ResultSTSWebPKIInvalid, ""
	case errors.Is(err, ErrPolicyInvalid):
		return ResultSTSPolicyInvalid, ""
	case errors.Is(err, ErrPolicyFetch), errors.Is(err, ErrFetchBackoff):
		return ResultSTSPolicyFetchError, ""
	case errors.Is(err, ErrMXMismatch):
		return ResultValidationFailure, ReasonMXMismatch
	case errors.Is(err, ErrSTARTTLSNotSupported):
		return ResultSTARTTLSNotSupported, ""
	case errors.Is(err, ErrTLSVersion):
		return ResultValidationFailure, ReasonTLSVersion
	}
	if rt, reason := certResultType(err, nil); rt != "" {
		return rt, reason
	}
	return "", ""
}

// certResultType classifies a raw certificate or handshake error; leaf, if
// known, tells a self-signed certificate from one of an unknown CA.
func certResultType(err error, leaf *x509.Certificate) (ResultType, string) {
	var (
		host     x509.HostnameError
		hostP    *x509.HostnameError
		unknown  x509.UnknownAuthorityError
		unknownP *x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		invalidP *x509.CertificateInvalidError
		alert    tls.AlertError
		verify   *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &host) || errors.As(err, &hostP):
		return ResultCertificateHostMismatch, ""
	case errors.As(err, &invalid) || errors.As(err, &invalidP):
		if invalid.Cert == nil && invalidP != nil {
			invalid = *invalidP
		}
		if invalid.Reason == x509.Expired {
			return ResultCertificateExpired, ""
		}
		return ResultValidationFailure, ReasonCertInvalid
	case errors.As(err, &unknown) || errors.As(err, &unknownP):
		if leaf != nil && selfSigned(leaf) {
			return ResultCertificateNotTrusted, ReasonSelfSigned
		}
		return ResultCertificateNotTrusted, ReasonUnknownCA
	case errors.As(err, &verify):
		return ResultValidationFailure, ReasonCertInvalid
	case errors.As(err, &alert):
		return ResultValidationFailure, ReasonHandshake
	}
	return "", ""
}

// selfSigned reports whether c is signed by its own key.
func selfSigned(c *x509.Certificate) bool {
	return c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// CertificateError is an MX certificate validation failure, classified.
// It wraps ErrCertificate and the underlying x509 error.
type CertificateError struct {
	Host       string
	ResultType ResultType
	Reason     string
	Err        error
}

func (e *CertificateError) Error() string {
	return "mtasts: certificate of " + e.Host + ": " + string(e.ResultType) + ": " + e.Err.Error()
}

// Unwrap returns ErrCertificate and the cause.
func (e *CertificateError) Unwrap() []error { return []error{ErrCertificate, e.Err} }
