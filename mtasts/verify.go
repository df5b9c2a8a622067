package mtasts

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/strictmx/strictmx/tlsrpt"
)

// TLSConfig returns the configuration for the STARTTLS handshake with the
// host, cloned from base (which may be nil) so that the caller's settings,
// such as client certificates, carry over.
//
// It always sets ServerName to the MX host (SNI, RFC 8461, Section 7.1).
// For a host with Verify set it checks, in VerifyConnection, that TLS 1.2 or
// newer was negotiated and that the certificate chains to base.RootCAs (the
// system roots when nil) at base.Time, is in its validity period and has a
// DNS-ID matching the host under RFC 6125 wildcard rules. The check runs on
// resumed sessions too. Under enforce a failure aborts the handshake; under
// testing it is recorded for Done and the handshake goes on.
//
// For opportunistic hosts (mode none, no policy, report traffic) the
// configuration accepts any certificate (RFC 7435). For DANE hosts the
// verification in base is left to the caller's DANE check.
func (h *HostPlan) TLSConfig(base *tls.Config) *tls.Config {
	var cfg *tls.Config
	if base != nil {
		cfg = base.Clone()
	} else {
		cfg = &tls.Config{}
	}
	cfg.ServerName = h.Host
	switch {
	case h.DANE:
		cfg.MinVersion = max(cfg.MinVersion, tls.VersionTLS12)
		return cfg
	case !h.Verify:
		cfg.InsecureSkipVerify = true // opportunistic: any certificate will do
		if cfg.MinVersion == 0 {
			cfg.MinVersion = tls.VersionTLS10
		}
		return cfg
	}
	enforce := h.RequireTLS
	if cfg.MinVersion == 0 {
		// Older versions are refused in VerifyConnection instead, before
		// a byte of mail is sent, so that the failure is classified
		// (ErrTLSVersion) and, in testing mode, reported.
		cfg.MinVersion = tls.VersionTLS10
	}
	roots, now, next := cfg.RootCAs, cfg.Time, cfg.VerifyConnection
	st := h.st()
	// crypto/tls's own verification cannot go on after a failure, which
	// testing mode needs; VerifyConnection does the same checks instead.
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		err := verifyConnection(cs, h.Host, roots, now)
		st.mu.Lock()
		st.verifyErr = err
		st.mu.Unlock()
		if err != nil && enforce {
			return err
		}
		if next != nil {
			return next(cs)
		}
		return nil
	}
	return cfg
}

// verifyConnection is the MTA-STS check of an MX handshake (RFC 8461,
// Section 4.2).
func verifyConnection(cs tls.ConnectionState, host string, roots *x509.CertPool, now func() time.Time) error {
	if cs.Version < tls.VersionTLS12 {
		return fmt.Errorf("%w: %s negotiated %s", ErrTLSVersion, host, tls.VersionName(cs.Version))
	}
	if len(cs.PeerCertificates) == 0 {
		return &CertificateError{Host: host, ResultType: tlsrpt.ResultValidationFailure, Reason: tlsrpt.ReasonCertInvalid, Err: fmt.Errorf("no certificate")}
	}
	opts := x509.VerifyOptions{DNSName: host, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if now != nil {
		opts.CurrentTime = now()
	}
	if len(cs.PeerCertificates) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
	}
	if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
		rt, reason := certResultType(err, cs.PeerCertificates[0])
		if rt == "" {
			rt, reason = tlsrpt.ResultValidationFailure, tlsrpt.ReasonCertInvalid
		}
		return &CertificateError{Host: host, ResultType: rt, Reason: reason, Err: err}
	}
	return nil
}
