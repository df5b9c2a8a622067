package testpki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"net"
	"testing"
	"time"
)

func verify(ca *CA, cert tls.Certificate, name string, at time.Time) error {
	inter := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return err
		}
		inter.AddCert(c)
	}
	_, err := cert.Leaf.Verify(x509.VerifyOptions{
		DNSName: name, Roots: ca.Pool(), Intermediates: inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err
}

func TestLeaf(t *testing.T) {
	ca, err := New()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	synctestEpoch := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	leaf := func(o LeafOptions) tls.Certificate {
		t.Helper()
		c, err := ca.Leaf(o)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	good := leaf(LeafOptions{DNSNames: []string{"mta-sts.example.test", "*.example.test"}})
	for _, at := range []time.Time{now, synctestEpoch} {
		for _, name := range []string{"mta-sts.example.test", "mx1.example.test"} {
			if err := verify(ca, good, name, at); err != nil {
				t.Errorf("good leaf for %s at %v: %v", name, at, err)
			}
		}
	}
	var hostErr x509.HostnameError
	if err := verify(ca, good, "a.b.example.test", now); !errors.As(err, &hostErr) {
		t.Errorf("wrong name: got %v, want a HostnameError", err)
	}

	nb, na := ExpiredValidity()
	expired := leaf(LeafOptions{DNSNames: []string{"mx.example.test"}, NotBefore: nb, NotAfter: na})
	var invalid x509.CertificateInvalidError
	for _, at := range []time.Time{now, synctestEpoch} {
		if err := verify(ca, expired, "mx.example.test", at); !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
			t.Errorf("expired leaf at %v: got %v, want x509.Expired", at, err)
		}
	}

	self := leaf(LeafOptions{DNSNames: []string{"mx.example.test"}, SelfSigned: true})
	var unknown x509.UnknownAuthorityError
	if err := verify(ca, self, "mx.example.test", now); !errors.As(err, &unknown) {
		t.Errorf("self-signed leaf: got %v, want UnknownAuthorityError", err)
	}
	if len(self.Certificate) != 1 || len(good.Certificate) != 2 {
		t.Errorf("chain lengths %d and %d, want 1 and 2", len(self.Certificate), len(good.Certificate))
	}

	// Another CA's leaf is not trusted.
	other, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(other, good, "mta-sts.example.test", now); !errors.As(err, &unknown) {
		t.Errorf("leaf under another CA: got %v, want UnknownAuthorityError", err)
	}

	ip := leaf(LeafOptions{IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err := verify(ca, ip, "127.0.0.1", now); err != nil {
		t.Errorf("IP leaf: %v", err)
	}
	if _, err := ca.Leaf(LeafOptions{}); !errors.Is(err, ErrNoNames) {
		t.Errorf("no names: got %v, want ErrNoNames", err)
	}
	if good.Leaf.SerialNumber.Cmp(expired.Leaf.SerialNumber) == 0 {
		t.Error("two leaves share a serial number")
	}
}

func TestCertPEM(t *testing.T) {
	ca, err := New()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(ca.CertPEM())
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("CertPEM does not decode: %+v", b)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil || !c.Equal(ca.Certificate()) || !c.IsCA {
		t.Errorf("CertPEM holds %v, %v; want the CA certificate", c, err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(ca.CertPEM()) || !p.Equal(ca.Pool()) {
		t.Error("CertPEM and Pool disagree")
	}
}

// A real handshake over net.Pipe, as the harness uses the certificates.
func TestHandshake(t *testing.T) {
	ca, err := New()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Leaf(LeafOptions{DNSNames: []string{"mta-sts.example.test"}})
	if err != nil {
		t.Fatal(err)
	}
	c1, c2 := net.Pipe()
	srv := tls.Server(c1, &tls.Config{Certificates: []tls.Certificate{cert}})
	done := make(chan error, 1)
	go func() { done <- srv.Handshake() }()
	cli := tls.Client(c2, &tls.Config{RootCAs: ca.Pool(), ServerName: "mta-sts.example.test"})
	if err := cli.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	// Close the pipe, not the TLS conns: their close_notify would wait
	// for a reader that net.Pipe does not have.
	c2.Close()
	if err := <-done; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	c1.Close()
}

func TestIntermediate(t *testing.T) {
	root, err := New()
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.Intermediate(CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := inter.Chain(); len(got) != 2 || !got[0].Equal(inter.Certificate()) || !got[1].Equal(root.Certificate()) {
		t.Fatalf("intermediate Chain() = %d certificates, want the intermediate then the root", len(got))
	}
	if !inter.Root().Equal(root.Certificate()) || !root.Root().Equal(root.Certificate()) {
		t.Error("Root() is not the root")
	}
	if c := inter.Certificate(); !c.IsCA || !c.MaxPathLenZero || c.CheckSignatureFrom(root.Certificate()) != nil {
		t.Errorf("intermediate: IsCA %v, MaxPathLenZero %v, signed by the root: %v", c.IsCA, c.MaxPathLenZero, c.CheckSignatureFrom(root.Certificate()))
	}
	if _, err := inter.Intermediate(CAOptions{}); !errors.Is(err, ErrPathLen) {
		t.Errorf("intermediate of an intermediate: %v, want ErrPathLen", err)
	}

	// A leaf chains through the intermediate to the root, which a PKIX
	// client trusting the root alone accepts.
	leaf, err := inter.Leaf(LeafOptions{DNSNames: []string{"mx.example.test"}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(leaf.Certificate); n != 3 {
		t.Fatalf("leaf chain of %d certificates, want leaf, intermediate, root", n)
	}
	if err := verify(root, leaf, "mx.example.test", time.Now()); err != nil {
		t.Errorf("leaf under the intermediate: %v", err)
	}
	// The root's own leaves are unchanged: leaf and root.
	if l, err := root.Leaf(LeafOptions{DNSNames: []string{"mx.example.test"}}); err != nil || len(l.Certificate) != 2 {
		t.Errorf("root leaf: %v, %d certificates", err, len(l.Certificate))
	}

	// An expired intermediate breaks the path.
	nb, na := ExpiredValidity()
	old, err := root.Intermediate(CAOptions{CommonName: "old intermediate", NotBefore: nb, NotAfter: na})
	if err != nil {
		t.Fatal(err)
	}
	if old.Certificate().Subject.CommonName != "old intermediate" {
		t.Errorf("CommonName %q", old.Certificate().Subject.CommonName)
	}
	leaf, err = old.Leaf(LeafOptions{DNSNames: []string{"mx.example.test"}})
	if err != nil {
		t.Fatal(err)
	}
	var invalid x509.CertificateInvalidError
	if err := verify(root, leaf, "mx.example.test", time.Now()); !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
		t.Errorf("leaf under an expired intermediate: %v, want x509.Expired", err)
	}

	// A private root is trusted by nobody else.
	private, err := NewCA(CAOptions{CommonName: "private root"})
	if err != nil {
		t.Fatal(err)
	}
	pinter, err := private.Intermediate(CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err = pinter.Leaf(LeafOptions{DNSNames: []string{"mx.example.test"}})
	if err != nil {
		t.Fatal(err)
	}
	var unknown x509.UnknownAuthorityError
	if err := verify(root, leaf, "mx.example.test", time.Now()); !errors.As(err, &unknown) {
		t.Errorf("private leaf against the harness root: %v, want UnknownAuthorityError", err)
	}
	if err := verify(private, leaf, "mx.example.test", time.Now()); err != nil {
		t.Errorf("private leaf against its root: %v", err)
	}
}

func TestLeafCommonNameAndKey(t *testing.T) {
	ca, err := New()
	if err != nil {
		t.Fatal(err)
	}
	sanOID := asn1.ObjectIdentifier{2, 5, 29, 17}
	cnOnly, err := ca.Leaf(LeafOptions{CommonName: "mx.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	if cn := cnOnly.Leaf.Subject.CommonName; cn != "mx.example.test" {
		t.Errorf("CN-only leaf: CN %q", cn)
	}
	for _, e := range cnOnly.Leaf.Extensions {
		if e.Id.Equal(sanOID) {
			t.Error("CN-only leaf has a subjectAltName extension")
		}
	}
	// crypto/x509 ignores the CN: no name matches.
	var hostErr x509.HostnameError
	if err := verify(ca, cnOnly, "mx.example.test", time.Now()); !errors.As(err, &hostErr) {
		t.Errorf("CN-only leaf under crypto/x509: %v, want a HostnameError", err)
	}

	both, err := ca.Leaf(LeafOptions{DNSNames: []string{"other.example.test"}, CommonName: "mx.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	if both.Leaf.Subject.CommonName != "mx.example.test" || len(both.Leaf.DNSNames) != 1 || both.Leaf.DNSNames[0] != "other.example.test" {
		t.Errorf("CN beside a SAN: CN %q, SANs %q", both.Leaf.Subject.CommonName, both.Leaf.DNSNames)
	}

	// One key, two certificates: same SPKI, different DER.
	renewed, err := ca.Leaf(LeafOptions{DNSNames: []string{"mx.example.test"}, Key: cnOnly.PrivateKey.(*ecdsa.PrivateKey)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(renewed.Leaf.RawSubjectPublicKeyInfo, cnOnly.Leaf.RawSubjectPublicKeyInfo) || bytes.Equal(renewed.Leaf.Raw, cnOnly.Leaf.Raw) {
		t.Error("Key: want the same SPKI in a different certificate")
	}
	if bytes.Equal(both.Leaf.RawSubjectPublicKeyInfo, cnOnly.Leaf.RawSubjectPublicKeyInfo) {
		t.Error("two leaves without Key share a key")
	}
}
