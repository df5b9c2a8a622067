package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync/atomic"
	"time"
)

// DefaultValidity returns the validity window certificates get by default,
// 1999-01-01 to 2099-01-01 UTC: valid for the real clock and for the fake
// clock of testing/synctest, which starts at 2000-01-01 UTC.
func DefaultValidity() (notBefore, notAfter time.Time) {
	return time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
}

// ExpiredValidity returns a validity window that ended, for the real clock
// and for testing/synctest's, on 1999-01-01 UTC.
func ExpiredValidity() (notBefore, notAfter time.Time) {
	return time.Date(1998, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)
}

// ErrNoNames is returned by Leaf when the options give neither DNS names
// nor IP addresses.
var ErrNoNames = errors.New("testpki: leaf needs at least one DNS name or IP address")

// A CA is a test certificate authority. It is safe for concurrent use.
type CA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	serial  atomic.Int64
}

// New makes a CA with a fresh ECDSA P-256 key and a certificate valid for
// DefaultValidity.
func New() (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testpki: ca key: %w", err)
	}
	notBefore, notAfter := DefaultValidity()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "strictmx test CA", Organization: []string{"strictmx tests"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("testpki: ca certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("testpki: ca certificate: %w", err)
	}
	ca := &CA{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	ca.serial.Store(1)
	return ca, nil
}

// Certificate returns the CA's certificate. Do not modify it.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// Pool returns a new pool holding only the CA's certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// CertPEM returns the CA's certificate in PEM form.
func (ca *CA) CertPEM() []byte { return append([]byte(nil), ca.certPEM...) }

// LeafOptions describe a leaf certificate.
type LeafOptions struct {
	// DNSNames are the DNS subject alternative names, wildcards allowed
	// ("*.example.test"). The first is also the subject common name.
	DNSNames []string
	// IPAddresses are the IP subject alternative names.
	IPAddresses []net.IP
	// NotBefore and NotAfter bound the validity. Zero means the bound
	// from DefaultValidity; ExpiredValidity gives an expired window.
	NotBefore, NotAfter time.Time
	// SelfSigned signs the leaf with its own key instead of the CA's, so
	// that it chains to no root.
	SelfSigned bool
}

// Leaf issues a server and client certificate with a fresh ECDSA P-256 key.
// The returned tls.Certificate has Leaf set and holds the leaf, then the
// CA certificate unless SelfSigned.
func (ca *CA) Leaf(opts LeafOptions) (tls.Certificate, error) {
	if len(opts.DNSNames) == 0 && len(opts.IPAddresses) == 0 {
		return tls.Certificate{}, ErrNoNames
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("testpki: leaf key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.serial.Add(1)),
		NotBefore:    opts.NotBefore,
		NotAfter:     opts.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     opts.DNSNames,
		IPAddresses:  opts.IPAddresses,
	}
	defBefore, defAfter := DefaultValidity()
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = defBefore
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = defAfter
	}
	if len(opts.DNSNames) > 0 {
		tmpl.Subject.CommonName = opts.DNSNames[0]
	} else {
		tmpl.Subject.CommonName = opts.IPAddresses[0].String()
	}
	parent, signer := ca.cert, ca.key
	if opts.SelfSigned {
		tmpl.Subject.Organization = []string{"strictmx self-signed"}
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("testpki: leaf certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("testpki: leaf certificate: %w", err)
	}
	chain := [][]byte{der}
	if !opts.SelfSigned {
		chain = append(chain, ca.cert.Raw)
	}
	return tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, nil
}
