package mtasts

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/strictmx/strictmx/mtasts/dane"
	"github.com/strictmx/strictmx/tlsrpt"
)

// TLSConfig returns the configuration for the STARTTLS handshake with the
// host, cloned from base (which may be nil) so that the caller's settings,
// such as client certificates, carry over. Call it once per attempt: each
// call starts the record that Done reads.
//
// It always sets ServerName to the MX host (SNI, RFC 8461, Section 7.1).
// For a host with Verify set it checks, in VerifyConnection, that TLS 1.2 or
// newer was negotiated and that the certificate chains to base.RootCAs (the
// system roots when nil) at base.Time, is in its validity period and has a
// DNS-ID matching the host under RFC 6125 wildcard rules. The check runs on
// resumed sessions too. Under enforce a failure aborts the handshake; under
// testing it is recorded for Done and the handshake goes on.
//
// For opportunistic hosts (mode none, no policy) the configuration accepts
// any certificate (RFC 7435). For report traffic it does too, and errors of
// base's VerifyPeerCertificate and VerifyConnection are ignored (RFC 8460,
// Section 5.3.1).
//
// For a host given a secure TLSA RRset (SetDANE; HostPlan.DANE set),
// ServerName is the TLSA base domain (RFC 7672, Section 8.1), TLS 1.2 or
// newer is required, and VerifyConnection checks the certificate against
// the usable records (DANE-EE and DANE-TA, package mtasts/dane) at
// base.Time; a failure aborts the handshake whatever the MTA-STS mode (RFC
// 8461, Section 2). When MTA-STS judges the host too (see SetDANE), its
// check runs after DANE's, as for a host without DANE. With no usable
// record any certificate is accepted. System roots and base.RootCAs play
// no part in the DANE check.
//
// base.VerifyConnection, if set, is chained: it runs after the MTA-STS
// check, in the same handshake (resumed ones included), and only when that
// check did not abort the handshake; its error aborts the handshake, except
// for report traffic. Every returned configuration has a VerifyConnection,
// which records for Done that the handshake got that far.
//
// MinVersion: a base MinVersion of 0 becomes TLS 1.0 (so that an older
// version than TLS 1.2 is refused in VerifyConnection, for a verified host
// classified as ErrTLSVersion, for a DANE host as dane.ErrTLSVersion, and
// under testing reported rather than lost in a handshake error); a non-zero
// MinVersion is kept as it is.
func (h *HostPlan) TLSConfig(base *tls.Config) *tls.Config {
	var cfg *tls.Config
	if base != nil {
		cfg = base.Clone()
	} else {
		cfg = &tls.Config{}
	}
	cfg.ServerName = h.Host
	st := h.st()
	st.verify.Store(nil) // a new attempt
	next := cfg.VerifyConnection
	var check func(tls.ConnectionState) error     // the MTA-STS check
	var daneCheck func(tls.ConnectionState) error // the DANE check
	abort := true                                 // a failed MTA-STS check aborts the handshake
	ignoreNext := false
	if dh := h.daneHost(); dh != nil {
		// RFC 7672, Section 8.1: SNI is the TLSA base domain; TLS 1.2 or
		// newer (Spec note); the records, not crypto/tls, judge the
		// certificate.
		cfg.ServerName = dh.Base
		cfg.InsecureSkipVerify = true
		rrs, ids, now, host := dh.RRset, h.daneIDs(dh), cfg.Time, h.Host
		daneCheck = func(cs tls.ConnectionState) error {
			t := time.Now()
			if now != nil {
				t = now()
			}
			err := rrs.VerifyConnection(cs, ids, t) // TLS 1.2 or newer, then the records
			if errors.Is(err, dane.ErrNoUsable) {
				// RFC 7672, Section 2.2: with no usable record any
				// certificate will do, over TLS; Done reports the
				// session as tlsa-invalid.
				return nil
			}
			var de *dane.Error
			if errors.As(err, &de) && errors.Is(err, dane.ErrTLSVersion) {
				de.Host = host // the version says nothing of the records: name the host
			}
			return err
		}
	}
	switch {
	case h.flags&reportTraffic != 0:
		cfg.InsecureSkipVerify = true
		if vp := cfg.VerifyPeerCertificate; vp != nil {
			cfg.VerifyPeerCertificate = func(raw [][]byte, chains [][]*x509.Certificate) error {
				_ = vp(raw, chains) // RFC 8460, Section 5.3.1
				return nil
			}
		}
		ignoreNext = true
	case daneCheck != nil && !h.Verify:
		// DANE alone judges the host.
	case !h.Verify:
		cfg.InsecureSkipVerify = true // opportunistic: any certificate will do
	default:
		roots, now, host := cfg.RootCAs, cfg.Time, h.Host
		// crypto/tls's own verification cannot go on after a failure, which
		// testing mode needs; VerifyConnection does the same checks instead.
		cfg.InsecureSkipVerify = true
		check = func(cs tls.ConnectionState) error { return verifyConnection(cs, host, roots, now) }
		abort = h.RequireTLS
		if daneCheck != nil {
			abort = h.flags&stsEnforce != 0
		}
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS10
	}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		var err, derr error
		if daneCheck != nil {
			derr = daneCheck(cs)
		}
		if check != nil {
			err = check(cs)
		}
		// RFC 8461, Section 2: a failing DANE validation aborts the
		// handshake, whatever MTA-STS says; each verdict is kept.
		if derr != nil || err != nil && abort {
			st.verify.Store(&verifyRecord{err: err, dane: derr, aborted: true})
			if derr != nil {
				return derr
			}
			return err
		}
		if next != nil {
			if nerr := next(cs); nerr != nil && !ignoreNext {
				st.verify.Store(&verifyRecord{err: err})
				return nerr
			}
		}
		if err == nil {
			st.verify.Store(verifyPassed)
		} else {
			st.verify.Store(&verifyRecord{err: err, up: true})
		}
		return nil
	}
	return cfg
}

// VerifyConnectionState checks a TLS connection to the host that the
// caller set up itself, with its own configuration, after the handshake:
// for an MTA that runs its own STARTTLS and then asks each policy about the
// result. It applies exactly the verification of TLSConfig's
// VerifyConnection, with base.RootCAs (the system roots when nil),
// base.Time and base.VerifyConnection as TLSConfig uses them, and records
// the outcome for Done in the same way, as a new attempt.
//
// It returns an error when the connection must not be used: under
// enforce, a failed check; for DANE hosts, a failed DANE check or
// base.VerifyConnection's error.
// Under testing a failed check is recorded and nil returned. Then call
// Done with what it returned (nil, or the error), as after a handshake
// made with TLSConfig. The handshake's own settings, MinVersion included,
// are the caller's: a version below TLS 1.2 is refused here.
func (h *HostPlan) VerifyConnectionState(cs tls.ConnectionState, base *tls.Config) error {
	return h.TLSConfig(base).VerifyConnection(cs)
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
