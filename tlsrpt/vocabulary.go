package tlsrpt

// PolicyType is the "policy-type" of a report policy (RFC 8460, Section 4.4).
type PolicyType string

// The registered policy types.
const (
	PolicySTS           PolicyType = "sts"
	PolicyTLSA          PolicyType = "tlsa"
	PolicyNoPolicyFound PolicyType = "no-policy-found"
)

// Valid reports whether t is one of the registered policy types.
func (t PolicyType) Valid() bool {
	return t == PolicySTS || t == PolicyTLSA || t == PolicyNoPolicyFound
}

// ResultType is the "result-type" of a failure (RFC 8460, Section 4.3).
type ResultType string

// The 11 registered result types (RFC 8460, Section 6.6). Nothing else is
// ever reported. Package mtasts produces them for MTA-STS sessions; this is
// their one declaration.
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
	// MTA-STS failures.
	ResultSTSPolicyFetchError ResultType = "sts-policy-fetch-error"
	ResultSTSPolicyInvalid    ResultType = "sts-policy-invalid"
	ResultSTSWebPKIInvalid    ResultType = "sts-webpki-invalid"
)

var resultTypes = []ResultType{
	ResultSTARTTLSNotSupported, ResultCertificateHostMismatch, ResultCertificateExpired,
	ResultCertificateNotTrusted, ResultValidationFailure, ResultTLSAInvalid,
	ResultDNSSECInvalid, ResultDANERequired, ResultSTSPolicyFetchError,
	ResultSTSPolicyInvalid, ResultSTSWebPKIInvalid,
}

// Valid reports whether t is one of the 11 registered result types.
func (t ResultType) Valid() bool {
	switch t {
	case ResultSTARTTLSNotSupported, ResultCertificateHostMismatch, ResultCertificateExpired,
		ResultCertificateNotTrusted, ResultValidationFailure, ResultTLSAInvalid,
		ResultDNSSECInvalid, ResultDANERequired, ResultSTSPolicyFetchError,
		ResultSTSPolicyInvalid, ResultSTSWebPKIInvalid:
		return true
	}
	return false
}

// needsReasonCode reports whether failures of type t carry a
// failure-reason-code in strictmx reports.
func (t ResultType) needsReasonCode() bool {
	return t == ResultCertificateNotTrusted || t == ResultValidationFailure
}

// Failure reason codes (the "failure-reason-code" of RFC 8460, Section
// 4.3, whose values the RFC leaves open). strictmx sets them with
// ResultValidationFailure and ResultCertificateNotTrusted.
const (
	// ReasonMXMismatch: the MX host is not matched by the MTA-STS policy
	// (result type validation-failure).
	ReasonMXMismatch = "mtasts-policy-mx-mismatch"
	// ReasonSelfSigned: the certificate is signed by its own key
	// (certificate-not-trusted).
	ReasonSelfSigned = "self-signed"
	// ReasonUnknownCA: the certificate chains to no trusted root
	// (certificate-not-trusted).
	ReasonUnknownCA = "unknown-authority"
	// ReasonTLSVersion: the server offered only TLS older than 1.2
	// (validation-failure).
	ReasonTLSVersion = "tls-version"
	// ReasonHandshake: the TLS handshake failed for a reason other than
	// the certificate (validation-failure).
	ReasonHandshake = "tls-handshake-failure"
	// ReasonCertInvalid: the certificate is invalid for a reason other
	// than its name, dates or issuer (validation-failure).
	ReasonCertInvalid = "certificate-invalid"
	// ReasonCachedPolicy: the session went by a cached MTA-STS policy
	// because refreshing it failed; it is counted as the refresh's
	// failure (sts-policy-fetch-error, sts-policy-invalid or
	// sts-webpki-invalid), with this code noting the fallback.
	ReasonCachedPolicy = "cached-policy-used"
	// ReasonTLSAUnusable: the secure TLSA RRset holds no usable record
	// (tlsa-invalid); see package mtasts/dane.
	ReasonTLSAUnusable = "all-tlsa-records-unusable"
	// ReasonDANENoMatch: no usable TLSA record matched the server's
	// certificate or chain (certificate-not-trusted); see package
	// mtasts/dane.
	ReasonDANENoMatch = "dane-no-match"
	// ReasonUnspecified is recorded when a result of a type that needs a
	// code (certificate-not-trusted, validation-failure) comes without.
	ReasonUnspecified = "unspecified"
)
