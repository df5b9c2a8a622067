// Package testpki issues certificates for strictmx's tests and for the
// mtaststest harness: throwaway certificate authorities (roots, and
// intermediates under them) and leaf certificates from them, or
// self-signed ones, with chosen names, keys and validity windows.
//
// It implements just enough of an X.509 PKI (RFC 5280) to exercise a TLS
// client's verification, PKIX or DANE: ECDSA P-256 keys, root CA
// certificates, intermediate CA certificates one level below a root (for
// chains of leaf, intermediate and root, which DANE-TA records can anchor
// at either CA), and server leaves with DNS and IP subject alternative
// names (RFC 6125 DNS-IDs) or a subject common name alone. It does not do
// revocation (no CRL or OCSP), deeper chains, name constraints, RSA keys,
// persistence, or anything a production CA needs.
//
// Usage:
//
//	ca, err := testpki.New()
//	if err != nil { ... }
//	cert, err := ca.Leaf(testpki.LeafOptions{DNSNames: []string{"mta-sts.example.test"}})
//	srv := &tls.Config{Certificates: []tls.Certificate{cert}}
//	cli := &tls.Config{RootCAs: ca.Pool(), ServerName: "mta-sts.example.test"}
//
// Validity windows default to fixed dates, from 1999-01-01 to 2099-01-01
// UTC (DefaultValidity), so certificates are valid both for the real clock
// and inside a testing/synctest bubble, whose clock starts at 2000-01-01.
// ExpiredValidity gives a window that has ended for both clocks.
//
// # Security
//
// Keys are made with crypto/rand and live only in memory, but nothing here
// is meant to protect anything: a CA from this package must never be
// trusted outside a test.
//
// # Testing
//
// The package's own tests verify, with crypto/x509, that leaves chain to
// the CA, through an intermediate too, and that expired, wrong-name,
// self-signed and CN-only leaves, expired intermediates and private roots
// fail the way a TLS client reports them.
//
// This package is internal and has no stability promise; like the rest of
// strictmx before v1, it may change.
package testpki
