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
	"slices"
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

// ErrNoNames is returned by Leaf when the options give no DNS name, no IP
// address and no common name.
var ErrNoNames = errors.New("testpki: leaf needs at least one DNS name, IP address or common name")

// ErrPathLen is returned by Intermediate when called on an intermediate
// CA: its certificate allows no CA below it.
var ErrPathLen = errors.New("testpki: an intermediate CA issues no CA certificates")

// A CA is a test certificate authority: a root, or an intermediate CA
// under one. It is safe for concurrent use.
type CA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	chain   []*x509.Certificate // cert, then its issuers up to the root
	serial  atomic.Int64
}

// CAOptions describe a CA certificate.
type CAOptions struct {
	// CommonName is the subject common name. "" means "strictmx test
	// CA" for a root and "strictmx test intermediate CA" for an
	// intermediate.
	CommonName string
	// NotBefore and NotAfter bound the validity. Zero means the bound
	// from DefaultValidity; ExpiredValidity gives an expired window.
	NotBefore, NotAfter time.Time
}

// New makes a root CA with a fresh ECDSA P-256 key and a certificate valid
// for DefaultValidity: NewCA with zero options.
func New() (*CA, error) { return NewCA(CAOptions{}) }

// NewCA makes a root CA with a fresh ECDSA P-256 key and a self-signed
// certificate described by opts. Its certificate sets no path length
// limit, so that Intermediate can make CAs below it.
func NewCA(opts CAOptions) (*CA, error) {
	if opts.CommonName == "" {
		opts.CommonName = "strictmx test CA"
	}
	return newCA(opts, nil)
}

// Intermediate makes a CA with a fresh ECDSA P-256 key whose certificate
// ca issues, with a path length limit of zero: it issues leaves only. Its
// leaves' chains hold the leaf, the intermediate, then ca's chain. Called
// on an intermediate, it returns ErrPathLen.
func (ca *CA) Intermediate(opts CAOptions) (*CA, error) {
	if len(ca.chain) > 1 {
		return nil, ErrPathLen
	}
	if opts.CommonName == "" {
		opts.CommonName = "strictmx test intermediate CA"
	}
	return newCA(opts, ca)
}

// newCA makes a CA issued by parent, or a root if parent is nil.
func newCA(opts CAOptions, parent *CA) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testpki: ca key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: opts.CommonName, Organization: []string{"strictmx tests"}},
		NotBefore:             opts.NotBefore,
		NotAfter:              opts.NotAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	defBefore, defAfter := DefaultValidity()
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = defBefore
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = defAfter
	}
	issuer, signer := tmpl, key
	if parent != nil {
		tmpl.SerialNumber = big.NewInt(parent.serial.Add(1))
		tmpl.MaxPathLenZero = true
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, signer)
	if err != nil {
		return nil, fmt.Errorf("testpki: ca certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("testpki: ca certificate: %w", err)
	}
	ca := &CA{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	ca.chain = []*x509.Certificate{cert}
	if parent != nil {
		ca.chain = append(ca.chain, parent.chain...)
	}
	ca.serial.Store(1)
	return ca, nil
}

// Certificate returns the CA's certificate. Do not modify it.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// Chain returns the CA's certificate followed by its issuers' up to the
// root: one certificate for a root, two for an intermediate. Do not modify
// them.
func (ca *CA) Chain() []*x509.Certificate { return slices.Clone(ca.chain) }

// Root returns the certificate of the root CA at the top of the CA's
// chain: the CA's own for a root. Do not modify it.
func (ca *CA) Root() *x509.Certificate { return ca.chain[len(ca.chain)-1] }

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
	// ("*.example.test"). The first is also the subject common name,
	// unless CommonName is set.
	DNSNames []string
	// CommonName, if set, is the subject common name. With no DNSNames
	// and no IPAddresses it makes a leaf that names its host only there,
	// with no subject alternative name extension at all, which
	// crypto/x509 never matches but a DANE-TA name check may.
	CommonName string
	// IPAddresses are the IP subject alternative names.
	IPAddresses []net.IP
	// NotBefore and NotAfter bound the validity. Zero means the bound
	// from DefaultValidity; ExpiredValidity gives an expired window.
	NotBefore, NotAfter time.Time
	// SelfSigned signs the leaf with its own key instead of the CA's, so
	// that it chains to no root.
	SelfSigned bool
	// Key, if set, is the leaf's key instead of a fresh one: two leaves
	// with one key share their SubjectPublicKeyInfo, as a renewed
	// certificate often does.
	Key *ecdsa.PrivateKey
}

// Leaf issues a server and client certificate with a fresh ECDSA P-256 key
// (or opts.Key). The returned tls.Certificate has Leaf set and holds the
// leaf, then, unless SelfSigned, the CA's chain (see CA.Chain).
func (ca *CA) Leaf(opts LeafOptions) (tls.Certificate, error) {
	if len(opts.DNSNames) == 0 && len(opts.IPAddresses) == 0 && opts.CommonName == "" {
		return tls.Certificate{}, ErrNoNames
	}
	key := opts.Key
	if key == nil {
		var err error
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("testpki: leaf key: %w", err)
		}
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
	switch {
	case opts.CommonName != "":
		tmpl.Subject.CommonName = opts.CommonName
	case len(opts.DNSNames) > 0:
		tmpl.Subject.CommonName = opts.DNSNames[0]
	default:
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
		for _, c := range ca.chain {
			chain = append(chain, c.Raw)
		}
	}
	return tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, nil
}
