package mtaststest

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/strictmx/strictmx/internal/testpki"
)

// TLSA adds a TLSA record (RFC 6698, Section 2.1) to name, such as
// "_25._tcp.mx1.example.test", with the given fields and data as they are:
// any usage, selector and matching type, data of any length, even empty,
// for testing records a client must find unusable. Delete(name) removes
// them. MXHost.PublishTLSA makes records from an MX host's own
// certificates.
func (s *Server) TLSA(name string, usage, selector, matching uint8, data []byte) *Server {
	s.add(&dns.TLSA{
		Hdr:          hdr(name, dns.TypeTLSA),
		Usage:        usage,
		Selector:     selector,
		MatchingType: matching,
		Certificate:  hex.EncodeToString(data),
	})
	return s
}

// Issuer chooses who issues an MX host's certificate, and so the chain the
// host presents after STARTTLS: what DANE-TA (usage 2) records can name.
type Issuer int

const (
	// IssuerCA has the harness CA issue the leaf: the host presents the
	// leaf and the CA certificate (the default).
	IssuerCA Issuer = iota
	// IssuerIntermediate has an intermediate CA of the harness CA issue
	// the leaf: the host presents leaf, intermediate and harness CA, a
	// chain PKIX clients trusting Server.RootCAs accept.
	IssuerIntermediate
	// IssuerPrivate has an intermediate CA under a private root issue
	// the leaf: the host presents leaf, intermediate and private root.
	// The private root, made for each Server, is in no pool the harness
	// hands out, so only DANE (or a client told of Server.PrivateRoot)
	// can accept the chain.
	IssuerPrivate
)

func (i Issuer) String() string {
	switch i {
	case IssuerCA:
		return "ca"
	case IssuerIntermediate:
		return "intermediate"
	case IssuerPrivate:
		return "private"
	}
	return "Issuer(" + strconv.Itoa(int(i)) + ")"
}

// Anchor chooses the CA certificate of an MX host's chain that its DANE-TA
// records, made by MXHost.TLSAData and MXHost.PublishTLSA, name as trust
// anchor.
type Anchor int

const (
	// AnchorIssuer is the CA certificate that issued the leaf (the
	// default): the harness CA under IssuerCA, the intermediate under
	// IssuerIntermediate and IssuerPrivate.
	AnchorIssuer Anchor = iota
	// AnchorRoot is the root at the top of the chain: the harness CA
	// under IssuerCA and IssuerIntermediate, the private root under
	// IssuerPrivate.
	AnchorRoot
)

func (a Anchor) String() string {
	switch a {
	case AnchorIssuer:
		return "issuer"
	case AnchorRoot:
		return "root"
	}
	return "Anchor(" + strconv.Itoa(int(a)) + ")"
}

// issuerKey names an issuing CA other than the harness CA.
type issuerKey struct {
	issuer  Issuer
	expired bool
}

// issuerCA returns the CA that issues leaves for issuer, making it on
// first use; expired makes an intermediate whose certificate has expired
// (the harness CA itself never is). s.mu is held.
func (s *Server) issuerCA(issuer Issuer, expired bool) (*testpki.CA, error) {
	switch issuer {
	case IssuerCA:
		return s.ca, nil
	case IssuerIntermediate, IssuerPrivate:
	default:
		return nil, fmt.Errorf("mtaststest: unknown %v", issuer)
	}
	k := issuerKey{issuer, expired}
	if ca := s.issuers[k]; ca != nil {
		return ca, nil
	}
	parent := s.ca
	if issuer == IssuerPrivate {
		if s.private == nil {
			p, err := testpki.NewCA(testpki.CAOptions{CommonName: "mtaststest private root"})
			if err != nil {
				return nil, err
			}
			s.private = p
		}
		parent = s.private
	}
	opts := testpki.CAOptions{CommonName: "mtaststest " + issuer.String() + " intermediate"}
	if expired {
		opts.CommonName += " (expired)"
		opts.NotBefore, opts.NotAfter = testpki.ExpiredValidity()
	}
	ca, err := parent.Intermediate(opts)
	if err != nil {
		return nil, err
	}
	s.issuers[k] = ca
	return ca, nil
}

// PrivateRoot returns the certificate of the private root under which
// IssuerPrivate's intermediate issues MX host certificates. No pool the
// harness hands out holds it.
func (s *Server) PrivateRoot() *x509.Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.issuerCA(IssuerPrivate, false); err != nil {
		s.fail("private root: %v", err)
		return nil
	}
	return s.private.Certificate()
}

// mxChain is what an MX host presents under one configuration.
type mxChain struct {
	presented tls.Certificate     // for the handshake
	full      []*x509.Certificate // leaf up to the root, anchor included
	anchor    int                 // index in full of the DANE-TA anchor
}

// mxCert returns the chain the MX host for host presents under cfg,
// issuing its certificate on first use. s.mu is held.
func (s *Server) mxCert(host string, cfg MXConfig) (mxChain, error) {
	names := cfg.CertNames
	if len(names) == 0 || cfg.Certificate == CertWrongName {
		names = []string{host}
	}
	is, err := s.issue(certKey{
		host:          strings.Join(names, ","),
		mode:          cfg.Certificate,
		cn:            cfg.CommonName,
		issuer:        cfg.Issuer,
		issuerExpired: cfg.IssuerExpired,
	})
	if err != nil {
		return mxChain{}, err
	}
	c := mxChain{presented: is.cert, full: is.chain}
	if len(c.full) > 1 {
		c.anchor = 1 // the issuer
		if cfg.Anchor == AnchorRoot {
			c.anchor = len(c.full) - 1
		}
	}
	if cfg.OmitAnchor && c.anchor > 0 {
		c.presented.Certificate = c.presented.Certificate[:c.anchor]
	}
	return c, nil
}

// Chain returns the MX host's certificate chain under its current
// configuration, from the leaf up to the root, whether or not the host
// presents all of it (see MXConfig.OmitAnchor); just the leaf if
// self-signed. It issues the certificate if no handshake has yet. Do not
// modify the certificates.
func (mx *MXHost) Chain() []*x509.Certificate {
	c, ok := mx.chain()
	if !ok {
		return nil
	}
	return slices.Clone(c.full)
}

// Anchor returns the certificate the MX host's DANE-TA records name as
// trust anchor under its current configuration (see MXConfig.Anchor): a CA
// certificate of its chain, or the leaf itself if it is self-signed.
func (mx *MXHost) Anchor() *x509.Certificate {
	c, ok := mx.chain()
	if !ok {
		return nil
	}
	return c.full[c.anchor]
}

func (mx *MXHost) chain() (mxChain, bool) {
	cfg := mx.Config()
	mx.s.mu.Lock()
	c, err := mx.s.mxCert(mx.host, cfg)
	mx.s.mu.Unlock()
	if err != nil {
		mx.s.fail("MX host %s certificate: %v", mx.host, err)
		return mxChain{}, false
	}
	return c, true
}

// TLSAData returns the certificate association data of a TLSA record with
// the given selector and matching type (RFC 6698, Section 2.1) for the
// certificate the MX host presents under its current configuration: for
// usages 1 (PKIX-EE) and 3 (DANE-EE), and any unassigned usage, the leaf;
// for usages 0 (PKIX-TA) and 2 (DANE-TA), the anchor (MXHost.Anchor).
// Selector 0 takes the whole DER certificate, 1 its DER
// SubjectPublicKeyInfo; matching type 0 gives that as it is, 1 its SHA-256
// digest, 2 its SHA-512 digest. Any other selector or matching type is a
// setup mistake (it fails the test and TLSAData returns nil): publish such
// records with Server.TLSA. A record's data stays as made when the host is
// reconfigured later, and then no longer matches a new certificate.
func (mx *MXHost) TLSAData(usage, selector, matching uint8) []byte {
	if selector > 1 || matching > 2 {
		mx.s.fail("TLSAData %d %d %d for %s: selector must be 0 or 1, matching type 0, 1 or 2; use Server.TLSA", usage, selector, matching, mx.host)
		return nil
	}
	c, ok := mx.chain()
	if !ok {
		return nil
	}
	cert := c.full[0]
	if usage == 0 || usage == 2 {
		cert = c.full[c.anchor]
	}
	return tlsaData(cert, selector, matching)
}

// tlsaData computes a record's data for cert; selector and matching are
// valid.
func tlsaData(cert *x509.Certificate, selector, matching uint8) []byte {
	b := cert.Raw
	if selector == 1 {
		b = cert.RawSubjectPublicKeyInfo
	}
	switch matching {
	case 1:
		h := sha256.Sum256(b)
		return h[:]
	case 2:
		h := sha512.Sum512(b)
		return h[:]
	}
	return slices.Clone(b)
}

// TLSASpec describes one TLSA record that MXHost.PublishTLSA makes from
// the MX host's certificates (see MXHost.TLSAData).
type TLSASpec struct {
	Usage, Selector, MatchingType uint8
	// Mismatch flips the bits of the data's last byte, so that the record
	// names no certificate the host has: a wrong digest, or full data
	// that is a different (or an unparsable) certificate or key.
	Mismatch bool
}

// Common TLSA records (RFC 7671 and RFC 7672 recommend the first two).
var (
	// DANEEESPKISHA256 is "3 1 1": the leaf's public key, by SHA-256.
	DANEEESPKISHA256 = TLSASpec{Usage: 3, Selector: 1, MatchingType: 1}
	// DANETASPKISHA256 is "2 1 1": the anchor's public key, by SHA-256.
	DANETASPKISHA256 = TLSASpec{Usage: 2, Selector: 1, MatchingType: 1}
)

// TLSAName returns the owner name of the MX host's TLSA records for
// port, "_<port>._tcp.<host>" (RFC 6698, Section 3); port 0 means 25.
func (mx *MXHost) TLSAName(port int) string {
	if port == 0 {
		port = 25
	}
	return "_" + strconv.Itoa(port) + "._tcp." + mx.host
}

// PublishTLSA replaces the TLSA records at TLSAName(port) with one record
// per spec, each made from the certificates the MX host presents under its
// current configuration; with no specs it removes them. The records are
// secure, and DANE applies to the host, only if the host's name is in a
// zone marked with Server.Signed; Server.Bogus(mx.TLSAName(port)) makes
// the lookup fail validation instead. For records it cannot make
// (unassigned selectors or matching types, data of a wrong length), use
// Server.TLSA.
func (mx *MXHost) PublishTLSA(port int, specs ...TLSASpec) *MXHost {
	name := mx.TLSAName(port)
	rrs := make([]dns.RR, 0, len(specs))
	for _, sp := range specs {
		data := mx.TLSAData(sp.Usage, sp.Selector, sp.MatchingType)
		if data == nil {
			return mx
		}
		if sp.Mismatch {
			data[len(data)-1] ^= 0xff
		}
		rrs = append(rrs, &dns.TLSA{
			Hdr:   hdr(name, dns.TypeTLSA),
			Usage: sp.Usage, Selector: sp.Selector, MatchingType: sp.MatchingType,
			Certificate: hex.EncodeToString(data),
		})
	}
	mx.s.set(name, dns.TypeTLSA, rrs)
	return mx
}
