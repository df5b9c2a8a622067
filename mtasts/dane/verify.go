package dane

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// Bounds on the DANE-TA path search. They keep a server that sends many
// certificates, or an RRset with many anchors, from making a handshake
// cost more than a bounded number of signature checks.
const (
	// maxSent is the most certificates after the leaf that are looked at.
	maxSent = 32
	// maxDepth is the most intermediates between the leaf and an anchor.
	maxDepth = 8
	// maxSigChecks is the most signature checks one verification makes
	// (as crypto/x509's own chain building).
	maxSigChecks = 100
)

// VerifyConnection checks a TLS connection against the RRset: TLS 1.2 or
// newer (Spec note: strictmx's floor, after RFC 8996), then Verify on the
// certificates the server sent. Call it from tls.Config.VerifyConnection, with
// InsecureSkipVerify set so that crypto/tls does no PKIX check of its own:
// it runs for resumed sessions too, which carry the certificates of the
// session's first handshake, and so checks them against this attempt's
// records. The tls.Config's ServerName (SNI) should be the TLSA base
// domain (RFC 7672, Section 8.1).
func (s *RRset) VerifyConnection(cs tls.ConnectionState, ids []string, now time.Time) error {
	if cs.Version < tls.VersionTLS12 {
		return NewError("", ErrTLSVersion, fmt.Errorf("negotiated %s", tls.VersionName(cs.Version)))
	}
	return s.Verify(cs.PeerCertificates, ids, now)
}

// Verify checks a server's certificates, leaf first as sent in the TLS
// handshake, against the RRset's usable records (RFC 7672, Section 3), and
// returns nil when one record matches:
//
//   - DANE-EE(3) (RFC 7672, Section 3.1.1): the leaf's certificate or
//     public key matches the record. Nothing else about the leaf or the
//     chain is checked: not its names, dates, issuer or key usage.
//   - DANE-TA(2) (RFC 7672, Section 3.1.2; RFC 7671, Section 5.2): the
//     trust anchor is a sent certificate other than the leaf that matches
//     the record, or the record's own Full(0) data, a certificate (2 0 0)
//     or a bare public key (2 1 0), which the server may then omit. A
//     digest of a certificate that was not sent matches nothing. From the
//     anchor down to the leaf the path must validate (RFC 5280, Section 6):
//     each certificate signed by the one above, with names chaining, every
//     issuer a CA (basic constraints, keyCertSign when key usage is
//     present, path length), every path certificate and an anchor
//     certificate inside its validity period at now, no unhandled
//     critical extension, name and policy constraints (checked by
//     crypto/x509 when a path certificate carries them), and serverAuth
//     among the leaf's extended key usages when it has any. System roots
//     are never consulted. Then the leaf must name one of ids (MatchName;
//     RFC 7672, Section 3.2.2).
//
// Errors are *Error values wrapping ErrNoUsable (the RRset has no usable
// record: the caller still requires TLS, accepts any certificate and
// reports the session as failed), ErrNoMatch, ErrNameMismatch, ErrExpired
// or ErrChain. A successful verification allocates nothing beyond what
// its signature checks cost crypto/x509 (none for DANE-EE).
func (s *RRset) Verify(certs []*x509.Certificate, ids []string, now time.Time) error {
	if s.Usable() == 0 {
		return NewError("", ErrNoUsable, nil)
	}
	if len(certs) == 0 || certs[0] == nil {
		return NewError("", ErrNoMatch, errors.New("no certificate"))
	}
	leaf := certs[0]
	if !s.ee[SelectorCert].empty() && s.ee[SelectorCert].matches(leaf.Raw) ||
		!s.ee[SelectorSPKI].empty() && s.ee[SelectorSPKI].matches(leaf.RawSubjectPublicKeyInfo) {
		return nil
	}
	if s.ta[SelectorCert].empty() && s.ta[SelectorSPKI].empty() && len(s.anchorCerts) == 0 && len(s.anchorKeys) == 0 {
		return NewError("", ErrNoMatch, nil)
	}
	var v search
	v.s, v.now = s, now
	v.sent = certs[1:min(len(certs), 1+maxSent)]
	for i, c := range v.sent {
		if c != nil && (s.ta[SelectorCert].matches(c.Raw) || s.ta[SelectorSPKI].matches(c.RawSubjectPublicKeyInfo)) {
			v.anchors |= 1 << i
		}
	}
	if !v.walk(leaf, 0, v.leafTaint(leaf)) {
		if v.failure != nil {
			return v.failure
		}
		return NewError("", ErrNoMatch, errors.New("no chain to a trust anchor"))
	}
	if !MatchName(leaf, ids) {
		return NewError("", ErrNameMismatch, nil)
	}
	return nil
}

// A search looks for a DANE-TA path from a leaf up to an anchor, depth
// first. failure keeps the first error of a path that reached an anchor:
// it is what Verify reports when no path succeeds.
type search struct {
	s       *RRset
	now     time.Time
	sent    []*x509.Certificate
	anchors uint64 // bit i: sent[i] matches a DANE-TA digest record
	inPath  uint64 // bit i: sent[i] is on the path being tried
	path    [maxDepth + 1]*x509.Certificate
	checks  int
	failure error
}

// leafTaint returns what is wrong with the leaf itself on any DANE-TA
// path, or nil.
func (v *search) leafTaint(leaf *x509.Certificate) error {
	if err := v.certTaint(leaf); err != nil {
		return err
	}
	if len(leaf.ExtKeyUsage) == 0 && len(leaf.UnknownExtKeyUsage) == 0 {
		return nil
	}
	for _, u := range leaf.ExtKeyUsage {
		if u == x509.ExtKeyUsageServerAuth || u == x509.ExtKeyUsageAny {
			return nil
		}
	}
	return NewError("", ErrChain, errors.New("leaf's extended key usage excludes serverAuth"))
}

// certTaint returns what is wrong with a path certificate, the anchor
// certificate included, wherever it is: its dates and critical extensions.
func (v *search) certTaint(c *x509.Certificate) error {
	if v.now.Before(c.NotBefore) || v.now.After(c.NotAfter) {
		return NewError("", ErrExpired, fmt.Errorf("%q valid from %s to %s", c.Subject.CommonName,
			c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339)))
	}
	if len(c.UnhandledCriticalExtensions) > 0 {
		return NewError("", ErrChain, fmt.Errorf("%q has an unhandled critical extension", c.Subject.CommonName))
	}
	return nil
}

// issuerTaint returns what is wrong with parent as the issuer of the
// certificate at path[depth], given that its key signed it: parent's own
// taint, or a path length over its constraint.
func (v *search) issuerTaint(parent *x509.Certificate, depth int) error {
	if err := v.certTaint(parent); err != nil {
		return err
	}
	if parent.BasicConstraintsValid && parent.MaxPathLen >= 0 && depth > parent.MaxPathLen {
		return NewError("", ErrChain, fmt.Errorf("%q allows %d intermediates below it, the path has %d",
			parent.Subject.CommonName, parent.MaxPathLen, depth))
	}
	return nil
}

// signed reports whether parent's key signed child. A parent that is not
// allowed to sign certificates (not a CA) but whose key did sign child is
// reported with a taint, so that the path is followed and its failure
// named.
func (v *search) signed(child, parent *x509.Certificate) (ok bool, taint error) {
	if v.checks >= maxSigChecks {
		if v.failure == nil {
			v.failure = NewError("", ErrChain, errors.New("signature check limit reached"))
		}
		return false, nil
	}
	v.checks++
	err := child.CheckSignatureFrom(parent)
	if err == nil {
		return true, nil
	}
	var cv x509.ConstraintViolationError
	if errors.As(err, &cv) && parent.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature) == nil {
		return true, NewError("", ErrChain, fmt.Errorf("issuer %q is not a CA", parent.Subject.CommonName))
	}
	return false, nil
}

// walk looks for an anchor above child, the certificate at path[depth],
// carrying taint, the first thing found wrong on the path so far. It
// reports whether a path without taint reached an anchor.
func (v *search) walk(child *x509.Certificate, depth int, taint error) bool {
	v.path[depth] = child
	// An anchor certificate sent by the server, or given by a 2 0 0 record.
	for i, a := range v.sent {
		if v.anchors&(1<<i) != 0 && v.inPath&(1<<i) == 0 && v.tryCert(child, a, depth, taint) {
			return true
		}
	}
	for _, a := range v.s.anchorCerts[string(child.RawIssuer)] {
		if v.tryCert(child, a, depth, taint) {
			return true
		}
	}
	// A bare key given by a 2 1 0 record: its signature is all there is
	// to check.
	for _, k := range v.s.anchorKeys {
		if ok, _ := v.signed(child, k); ok && v.reached(depth, nil, taint) {
			return true
		}
	}
	if depth == maxDepth {
		return false
	}
	// An intermediate sent by the server.
	for i, c := range v.sent {
		if c == nil || v.inPath&(1<<i) != 0 || !bytes.Equal(child.RawIssuer, c.RawSubject) {
			continue
		}
		ok, t := v.signed(child, c)
		if !ok {
			continue
		}
		if taint != nil {
			t = taint
		}
		if t == nil {
			t = v.issuerTaint(c, depth)
		}
		v.inPath |= 1 << i
		found := v.walk(c, depth+1, t)
		v.inPath &^= 1 << i
		if found {
			return true
		}
	}
	return false
}

// tryCert tries anchor certificate a as the issuer of child. The leaf is
// never its own anchor (Spec note: strictmx's choice), nor is a certificate its own
// issuer.
func (v *search) tryCert(child, a *x509.Certificate, depth int, taint error) bool {
	if a == nil || !bytes.Equal(child.RawIssuer, a.RawSubject) || bytes.Equal(a.Raw, v.path[0].Raw) || bytes.Equal(a.Raw, child.Raw) {
		return false
	}
	ok, t := v.signed(child, a)
	if !ok {
		return false
	}
	if taint == nil {
		taint = t
	}
	if taint == nil {
		taint = v.issuerTaint(a, depth)
	}
	return v.reached(depth, a, taint)
}

// reached handles a path from the leaf up to path[depth] whose issuer is
// an anchor: the certificate a, or a bare key when a is nil. It reports
// whether the path is valid; if not, the first such failure is kept.
func (v *search) reached(depth int, a *x509.Certificate, taint error) bool {
	if taint == nil {
		taint = v.constraints(depth, a)
	}
	if taint == nil {
		return true
	}
	if v.failure == nil {
		v.failure = taint
	}
	return false
}

// constraints checks the name and policy constraints of the path with
// crypto/x509, when a certificate on it carries any: strictmx's own
// checks leave them to it. The path's top certificate, a or else
// path[depth], is the only root.
func (v *search) constraints(depth int, a *x509.Certificate) error {
	top := a
	chain := v.path[:depth+1]
	if top == nil {
		top, chain = v.path[depth], v.path[:depth]
	}
	need := hasConstraints(top)
	for _, c := range chain[min(1, len(chain)):] {
		need = need || hasConstraints(c)
	}
	if !need || len(chain) == 0 {
		return nil
	}
	roots := x509.NewCertPool()
	roots.AddCert(top)
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   v.now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return NewError("", ErrChain, err)
	}
	return nil
}

// hasConstraints reports whether c carries name or policy constraints.
func hasConstraints(c *x509.Certificate) bool {
	return c.PermittedDNSDomainsCritical ||
		len(c.PermittedDNSDomains) > 0 || len(c.ExcludedDNSDomains) > 0 ||
		len(c.PermittedIPRanges) > 0 || len(c.ExcludedIPRanges) > 0 ||
		len(c.PermittedEmailAddresses) > 0 || len(c.ExcludedEmailAddresses) > 0 ||
		len(c.PermittedURIDomains) > 0 || len(c.ExcludedURIDomains) > 0 ||
		c.RequireExplicitPolicy > 0 || c.RequireExplicitPolicyZero ||
		c.InhibitPolicyMapping > 0 || c.InhibitPolicyMappingZero ||
		c.InhibitAnyPolicy > 0 || c.InhibitAnyPolicyZero ||
		len(c.PolicyMappings) > 0
}
