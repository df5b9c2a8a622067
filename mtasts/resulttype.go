package mtasts

import (
	"crypto/tls"
	"crypto/x509"
	"errors"

	"github.com/strictmx/strictmx/mtasts/dane"
	"github.com/strictmx/strictmx/tlsrpt"
)

// ResultTypeOf maps an error from this package (or from a TLS handshake
// verified by it) to its TLS-RPT result type and a failure reason code. It
// returns "" for nil and for errors that are not failures to report
// (discovery errors such as ErrNoRecord).
func ResultTypeOf(err error) (tlsrpt.ResultType, string) {
	if err == nil {
		return "", ""
	}
	var (
		certErr *CertificateError
		daneErr *dane.Error
	)
	if errors.As(err, &certErr) {
		return certErr.ResultType, certErr.Reason
	}
	if errors.As(err, &daneErr) {
		return daneErr.ResultType, daneErr.Reason
	}
	switch {
	case errors.Is(err, ErrWebPKI):
		return tlsrpt.ResultSTSWebPKIInvalid, ""
	case errors.Is(err, ErrPolicyInvalid):
		return tlsrpt.ResultSTSPolicyInvalid, ""
	case errors.Is(err, ErrPolicyFetch), errors.Is(err, ErrFetchBackoff):
		return tlsrpt.ResultSTSPolicyFetchError, ""
	case errors.Is(err, ErrMXMismatch):
		return tlsrpt.ResultValidationFailure, tlsrpt.ReasonMXMismatch
	case errors.Is(err, ErrSTARTTLSNotSupported):
		return tlsrpt.ResultSTARTTLSNotSupported, ""
	case errors.Is(err, ErrTLSVersion):
		return tlsrpt.ResultValidationFailure, tlsrpt.ReasonTLSVersion
	}
	if rt, reason := certResultType(err, nil); rt != "" {
		return rt, reason
	}
	return "", ""
}

// certResultType classifies a raw certificate or handshake error; leaf, if
// known, tells a self-signed certificate from one of an unknown CA.
func certResultType(err error, leaf *x509.Certificate) (tlsrpt.ResultType, string) {
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
		return tlsrpt.ResultCertificateHostMismatch, ""
	case errors.As(err, &invalid) || errors.As(err, &invalidP):
		if invalid.Cert == nil && invalidP != nil {
			invalid = *invalidP
		}
		if invalid.Reason == x509.Expired {
			return tlsrpt.ResultCertificateExpired, ""
		}
		return tlsrpt.ResultValidationFailure, tlsrpt.ReasonCertInvalid
	case errors.As(err, &unknown) || errors.As(err, &unknownP):
		if leaf != nil && selfSigned(leaf) {
			return tlsrpt.ResultCertificateNotTrusted, tlsrpt.ReasonSelfSigned
		}
		return tlsrpt.ResultCertificateNotTrusted, tlsrpt.ReasonUnknownCA
	case errors.As(err, &verify):
		return tlsrpt.ResultValidationFailure, tlsrpt.ReasonCertInvalid
	case errors.As(err, &alert):
		return tlsrpt.ResultValidationFailure, tlsrpt.ReasonHandshake
	}
	return "", ""
}

// selfSigned reports whether c is signed by its own key.
func selfSigned(c *x509.Certificate) bool {
	return c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}
