package mtaststest_test

// Tests of the DANE pieces: TLSA records made from the MX hosts' own
// certificates, checked against digests computed here from the chain a
// real STARTTLS handshake shows, and the chains the hosts present.

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/strictmx/strictmx/mtasts/mtaststest"
)

// peerChain delivers a message to host over STARTTLS without verifying
// anything and returns the certificates the host sent.
func peerChain(t *testing.T, s *mtaststest.Server, host string) []*x509.Certificate {
	t.Helper()
	st, err := deliver(t, s, host, &tls.Config{ServerName: host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("STARTTLS to %s: %v", host, err)
	}
	return st.PeerCertificates
}

// association computes, independently of the harness, a TLSA record's data
// for cert (RFC 6698, Section 2.1).
func association(t *testing.T, cert *x509.Certificate, selector, matching uint8) []byte {
	t.Helper()
	var b []byte
	switch selector {
	case 0:
		b = cert.Raw
	case 1:
		b = cert.RawSubjectPublicKeyInfo
	default:
		t.Fatalf("selector %d", selector)
	}
	switch matching {
	case 0:
		return b
	case 1:
		h := sha256.Sum256(b)
		return h[:]
	case 2:
		h := sha512.Sum512(b)
		return h[:]
	}
	t.Fatalf("matching type %d", matching)
	return nil
}

// tlsaRecords asks the harness DNS for the TLSA records of name, as a
// validating stub resolver asks.
func tlsaRecords(t *testing.T, s *mtaststest.Server, name string) (*dns.Msg, []*dns.TLSA) {
	t.Helper()
	resp := query(t, s, name, dns.TypeTLSA, secure)
	var out []*dns.TLSA
	for _, rr := range resp.Answer {
		if r, ok := rr.(*dns.TLSA); ok {
			out = append(out, r)
		}
	}
	return resp, out
}

func TestTLSAData(t *testing.T) {
	s := mtaststest.NewServer(t)
	s.Signed("example.test")
	mx := s.MXHost("example.test", 10, "mx1.example.test", mtaststest.MXConfig{Issuer: mtaststest.IssuerIntermediate})
	sent := peerChain(t, s, "mx1.example.test")
	if len(sent) != 3 {
		t.Fatalf("host sent %d certificates, want leaf, intermediate, CA", len(sent))
	}
	leaf, issuer := sent[0], sent[1]
	if !issuer.IsCA || leaf.CheckSignatureFrom(issuer) != nil {
		t.Fatal("the second certificate sent did not issue the leaf")
	}

	var specs []mtaststest.TLSASpec
	var want [][]byte
	for _, usage := range []uint8{0, 1, 2, 3} {
		for _, sel := range []uint8{0, 1} {
			for _, mt := range []uint8{0, 1, 2} {
				cert := leaf // usages 1 and 3: the end entity
				if usage == 0 || usage == 2 {
					cert = issuer // usages 0 and 2: the trust anchor, the issuer by default
				}
				w := association(t, cert, sel, mt)
				if got := mx.TLSAData(usage, sel, mt); !bytes.Equal(got, w) {
					t.Errorf("TLSAData(%d, %d, %d) = %x, want %x", usage, sel, mt, got, w)
				}
				specs = append(specs, mtaststest.TLSASpec{Usage: usage, Selector: sel, MatchingType: mt})
				want = append(want, w)
			}
		}
	}
	// Digest lengths, as RFC 6698 fixes them.
	if n := len(mx.TLSAData(3, 1, 1)); n != 32 {
		t.Errorf("SHA-256 data of %d bytes", n)
	}
	if n := len(mx.TLSAData(3, 1, 2)); n != 64 {
		t.Errorf("SHA-512 data of %d bytes", n)
	}
	// An unassigned usage takes the leaf.
	if got := mx.TLSAData(4, 1, 1); !bytes.Equal(got, association(t, leaf, 1, 1)) {
		t.Error("usage 4: not the leaf's data")
	}

	// Published: the DNS answer holds exactly these records, signed.
	mx.PublishTLSA(25, specs...)
	if name := mx.TLSAName(25); name != "_25._tcp.mx1.example.test" || mx.TLSAName(0) != name {
		t.Errorf("TLSAName(25) = %q, TLSAName(0) = %q", name, mx.TLSAName(0))
	}
	resp, recs := tlsaRecords(t, s, "_25._tcp.mx1.example.test")
	if !resp.AuthenticatedData || len(recs) != len(specs) {
		t.Fatalf("TLSA answer: AD=%v, %d records; want AD=1, %d", resp.AuthenticatedData, len(recs), len(specs))
	}
	for i, r := range recs {
		data, err := hex.DecodeString(r.Certificate)
		if err != nil {
			t.Fatal(err)
		}
		sp := specs[i]
		if r.Usage != sp.Usage || r.Selector != sp.Selector || r.MatchingType != sp.MatchingType || !bytes.Equal(data, want[i]) {
			t.Errorf("record %d: %d %d %d %x, want %d %d %d %x", i, r.Usage, r.Selector, r.MatchingType, data,
				sp.Usage, sp.Selector, sp.MatchingType, want[i])
		}
	}

	// Mismatch: a wrong digest, the last byte changed and nothing else.
	mx.PublishTLSA(25, mtaststest.TLSASpec{Usage: 3, Selector: 1, MatchingType: 1, Mismatch: true}, mtaststest.DANETASPKISHA256)
	_, recs = tlsaRecords(t, s, "_25._tcp.mx1.example.test")
	if len(recs) != 2 {
		t.Fatalf("%d records after republishing, want 2", len(recs))
	}
	bad, _ := hex.DecodeString(recs[0].Certificate)
	good := association(t, leaf, 1, 1)
	if bytes.Equal(bad, good) || !bytes.Equal(bad[:31], good[:31]) || len(bad) != 32 {
		t.Errorf("Mismatch data %x; want %x with another last byte", bad, good)
	}
	if ta, _ := hex.DecodeString(recs[1].Certificate); !bytes.Equal(ta, association(t, issuer, 1, 1)) {
		t.Errorf("DANETASPKISHA256 data %x, want the issuer's key digest", ta)
	}

	// Another port has its own name; no specs remove the records.
	mx.PublishTLSA(587, mtaststest.DANEEESPKISHA256)
	if _, recs := tlsaRecords(t, s, "_587._tcp.mx1.example.test"); len(recs) != 1 {
		t.Errorf("port 587: %d records", len(recs))
	}
	mx.PublishTLSA(25)
	if resp, recs := tlsaRecords(t, s, "_25._tcp.mx1.example.test"); len(recs) != 0 || resp.Rcode != dns.RcodeNameError || !resp.AuthenticatedData {
		t.Errorf("after removal: rcode %s, %d records, AD=%v; want a secure NXDOMAIN", dns.RcodeToString[resp.Rcode], len(recs), resp.AuthenticatedData)
	}

	// Raw records keep whatever they are given, unusable ones too.
	name := mx.TLSAName(25)
	s.TLSA(name, 3, 2, 1, good).
		TLSA(name, 3, 1, 1, good[:31]).
		TLSA(name, 3, 1, 255, good).
		TLSA(name, 2, 0, 0, nil)
	_, recs = tlsaRecords(t, s, name)
	if len(recs) != 4 {
		t.Fatalf("raw records: %d, want 4", len(recs))
	}
	for i, w := range []struct {
		u, s, m uint8
		data    []byte
	}{{3, 2, 1, good}, {3, 1, 1, good[:31]}, {3, 1, 255, good}, {2, 0, 0, nil}} {
		r := recs[i]
		data, _ := hex.DecodeString(r.Certificate)
		if r.Usage != w.u || r.Selector != w.s || r.MatchingType != w.m || !bytes.Equal(data, w.data) {
			t.Errorf("raw record %d: %d %d %d %x, want %d %d %d %x", i, r.Usage, r.Selector, r.MatchingType, data, w.u, w.s, w.m, w.data)
		}
	}

	// TLSA lookups count like any other; a bogus TLSA name answers
	// SERVFAIL.
	s.ResetCounters()
	s.Bogus(name)
	if resp, _ := tlsaRecords(t, s, name); resp.Rcode != dns.RcodeServerFailure {
		t.Errorf("bogus TLSA: rcode %s", dns.RcodeToString[resp.Rcode])
	}
	if n := s.Queries(name, "TLSA"); n != 1 || s.TotalQueries() != 1 {
		t.Errorf("Queries(%s, TLSA) = %d, TotalQueries = %d; want 1, 1", name, n, s.TotalQueries())
	}
}

func TestTLSADataSetupMistake(t *testing.T) {
	for _, c := range [][3]uint8{{3, 2, 1}, {3, 1, 3}, {2, 255, 255}} {
		func() {
			s := mtaststest.NewServer(nil) // panics on setup mistakes
			defer s.Close()
			mx := s.MXHost("", 0, "mx.example.test", mtaststest.MXConfig{})
			defer func() {
				if recover() == nil {
					t.Errorf("TLSAData(%d, %d, %d) did not fail the setup", c[0], c[1], c[2])
				}
			}()
			mx.TLSAData(c[0], c[1], c[2])
		}()
	}
}

func TestMXHostChains(t *testing.T) {
	s := mtaststest.NewServer(t)
	mx := s.MXHost("example.test", 10, "mx1.example.test", mtaststest.MXConfig{})
	harness := s.CA()
	private := s.PrivateRoot()
	if private == nil || !private.IsCA || private.Equal(harness) {
		t.Fatal("PrivateRoot is not a CA of its own")
	}

	pkix := func(chain []*x509.Certificate, roots *x509.CertPool) error {
		inter := x509.NewCertPool()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
		_, err := chain[0].Verify(x509.VerifyOptions{DNSName: "mx1.example.test", Roots: roots, Intermediates: inter})
		return err
	}
	privatePool := x509.NewCertPool()
	privatePool.AddCert(private)

	for _, tc := range []struct {
		name string
		cfg  mtaststest.MXConfig
		// sent: how many certificates the host sends; anchor: index of
		// the anchor in the full chain; root: the chain's root.
		sent, full, anchor int
		root               *x509.Certificate
	}{
		{"harness CA", mtaststest.MXConfig{}, 2, 2, 1, harness},
		{"harness CA, root anchor", mtaststest.MXConfig{Anchor: mtaststest.AnchorRoot}, 2, 2, 1, harness},
		{"harness CA, anchor omitted", mtaststest.MXConfig{OmitAnchor: true}, 1, 2, 1, harness},
		{"intermediate", mtaststest.MXConfig{Issuer: mtaststest.IssuerIntermediate}, 3, 3, 1, harness},
		{"intermediate, anchor omitted", mtaststest.MXConfig{Issuer: mtaststest.IssuerIntermediate, OmitAnchor: true}, 1, 3, 1, harness},
		{"intermediate, root anchor", mtaststest.MXConfig{Issuer: mtaststest.IssuerIntermediate, Anchor: mtaststest.AnchorRoot}, 3, 3, 2, harness},
		{"intermediate, root anchor omitted", mtaststest.MXConfig{Issuer: mtaststest.IssuerIntermediate, Anchor: mtaststest.AnchorRoot, OmitAnchor: true}, 2, 3, 2, harness},
		{"private", mtaststest.MXConfig{Issuer: mtaststest.IssuerPrivate}, 3, 3, 1, private},
		{"private, root anchor", mtaststest.MXConfig{Issuer: mtaststest.IssuerPrivate, Anchor: mtaststest.AnchorRoot}, 3, 3, 2, private},
		{"private, root anchor omitted", mtaststest.MXConfig{Issuer: mtaststest.IssuerPrivate, Anchor: mtaststest.AnchorRoot, OmitAnchor: true}, 2, 3, 2, private},
		{"self-signed", mtaststest.MXConfig{Certificate: mtaststest.CertSelfSigned, Issuer: mtaststest.IssuerPrivate, OmitAnchor: true}, 1, 1, 0, nil},
	} {
		mx.Configure(tc.cfg)
		sent := peerChain(t, s, "mx1.example.test")
		full := mx.Chain()
		if len(sent) != tc.sent || len(full) != tc.full {
			t.Errorf("%s: sent %d certificates, Chain %d; want %d, %d", tc.name, len(sent), len(full), tc.sent, tc.full)
			continue
		}
		// What is sent is the full chain's start.
		for i, c := range sent {
			if !c.Equal(full[i]) {
				t.Errorf("%s: certificate %d sent is not Chain()[%d]", tc.name, i, i)
			}
		}
		// Each certificate of the full chain issued the one before.
		for i := 1; i < len(full); i++ {
			if err := full[i-1].CheckSignatureFrom(full[i]); err != nil {
				t.Errorf("%s: Chain()[%d] not issued by Chain()[%d]: %v", tc.name, i-1, i, err)
			}
		}
		if tc.root != nil && !full[len(full)-1].Equal(tc.root) {
			t.Errorf("%s: chain ends in %s, want %s", tc.name, full[len(full)-1].Subject, tc.root.Subject)
		}
		anchor := mx.Anchor()
		if !anchor.Equal(full[tc.anchor]) {
			t.Errorf("%s: Anchor is %s, want Chain()[%d] %s", tc.name, anchor.Subject, tc.anchor, full[tc.anchor].Subject)
		}
		// Omitted: the anchor is not among the certificates sent.
		omitted := true
		for _, c := range sent {
			if c.Equal(anchor) {
				omitted = false
			}
		}
		if tc.cfg.OmitAnchor && tc.cfg.Certificate != mtaststest.CertSelfSigned && !omitted {
			t.Errorf("%s: the anchor was sent", tc.name)
		}
		if !tc.cfg.OmitAnchor && omitted {
			t.Errorf("%s: the anchor was not sent", tc.name)
		}
		// DANE-TA data names the anchor.
		if got := mx.TLSAData(2, 0, 1); !bytes.Equal(got, association(t, anchor, 0, 1)) {
			t.Errorf("%s: TLSAData(2, 0, 1) does not name the anchor", tc.name)
		}
		// PKIX: the harness chains pass with RootCAs, private ones only
		// with the private root.
		switch tc.root {
		case harness:
			if err := pkix(full, s.RootCAs()); err != nil {
				t.Errorf("%s: PKIX with RootCAs: %v", tc.name, err)
			}
		case private:
			var unknown x509.UnknownAuthorityError
			if err := pkix(full, s.RootCAs()); !errors.As(err, &unknown) {
				t.Errorf("%s: PKIX with RootCAs: %v, want UnknownAuthorityError", tc.name, err)
			}
			if err := pkix(full, privatePool); err != nil {
				t.Errorf("%s: PKIX with the private root: %v", tc.name, err)
			}
		}
	}

	// One private root and one intermediate per kind, whatever the host.
	mx.Configure(mtaststest.MXConfig{Issuer: mtaststest.IssuerPrivate})
	other := s.MXHost("example.test", 20, "mx2.example.test", mtaststest.MXConfig{Issuer: mtaststest.IssuerPrivate})
	if a, b := mx.Chain(), other.Chain(); !a[1].Equal(b[1]) || !a[2].Equal(b[2]) || a[0].Equal(b[0]) {
		t.Error("two private hosts: want one intermediate and root, two leaves")
	}
	// The same configuration, the same certificate: records stay valid.
	if !bytes.Equal(mx.TLSAData(3, 0, 0), peerChain(t, s, "mx1.example.test")[0].Raw) {
		t.Error("the leaf changed between TLSAData and the handshake")
	}
}

func TestMXHostDANECertificates(t *testing.T) {
	s := mtaststest.NewServer(t)
	mx := s.MXHost("example.test", 10, "mx1.example.test", mtaststest.MXConfig{})
	now := time.Now()

	// CN only: no DNS names, the host's name as CN.
	mx.Configure(mtaststest.MXConfig{Certificate: mtaststest.CertNoSAN, Issuer: mtaststest.IssuerIntermediate})
	leaf := peerChain(t, s, "mx1.example.test")[0]
	if leaf.Subject.CommonName != "mx1.example.test" || len(leaf.DNSNames) != 0 {
		t.Errorf("CertNoSAN: CN %q, DNS names %q", leaf.Subject.CommonName, leaf.DNSNames)
	}
	var hostErr x509.HostnameError
	if err := leaf.VerifyHostname("mx1.example.test"); !errors.As(err, &hostErr) {
		t.Errorf("CertNoSAN under crypto/x509: %v, want a HostnameError", err)
	}
	// CN only, another name.
	mx.Configure(mtaststest.MXConfig{Certificate: mtaststest.CertNoSAN, CommonName: "other.example.test"})
	if leaf := peerChain(t, s, "mx1.example.test")[0]; leaf.Subject.CommonName != "other.example.test" || len(leaf.DNSNames) != 0 {
		t.Errorf("CertNoSAN with CommonName: CN %q, DNS names %q", leaf.Subject.CommonName, leaf.DNSNames)
	}
	// The host's name as CN beside a DNS name for another.
	mx.Configure(mtaststest.MXConfig{CertNames: []string{"other.example.test"}, CommonName: "mx1.example.test"})
	if leaf := peerChain(t, s, "mx1.example.test")[0]; leaf.Subject.CommonName != "mx1.example.test" ||
		len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "other.example.test" {
		t.Errorf("CommonName beside CertNames: CN %q, DNS names %q", leaf.Subject.CommonName, leaf.DNSNames)
	}

	// Expired leaf and wrong name under an intermediate.
	mx.Configure(mtaststest.MXConfig{Certificate: mtaststest.CertExpired, Issuer: mtaststest.IssuerIntermediate})
	chain := peerChain(t, s, "mx1.example.test")
	if !chain[0].NotAfter.Before(now) || chain[1].NotAfter.Before(now) {
		t.Errorf("CertExpired: leaf until %v, intermediate until %v; want only the leaf expired", chain[0].NotAfter, chain[1].NotAfter)
	}
	mx.Configure(mtaststest.MXConfig{Certificate: mtaststest.CertWrongName, Issuer: mtaststest.IssuerPrivate})
	if leaf := peerChain(t, s, "mx1.example.test")[0]; leaf.VerifyHostname("mx1.example.test") == nil {
		t.Errorf("CertWrongName: leaf for %q matches the host", leaf.DNSNames)
	}

	// An expired intermediate above a valid leaf.
	for _, is := range []mtaststest.Issuer{mtaststest.IssuerIntermediate, mtaststest.IssuerPrivate} {
		mx.Configure(mtaststest.MXConfig{Issuer: is, IssuerExpired: true})
		chain := peerChain(t, s, "mx1.example.test")
		if len(chain) != 3 || chain[0].NotAfter.Before(now) || !chain[1].NotAfter.Before(now) || chain[2].NotAfter.Before(now) {
			t.Errorf("IssuerExpired %v: %d certificates; want a valid leaf under an expired intermediate under a valid root", is, len(chain))
			continue
		}
		if err := chain[0].CheckSignatureFrom(chain[1]); err != nil {
			t.Errorf("IssuerExpired %v: leaf not issued by the intermediate sent: %v", is, err)
		}
	}
	// IssuerExpired does nothing for the harness CA.
	mx.Configure(mtaststest.MXConfig{IssuerExpired: true})
	if chain := peerChain(t, s, "mx1.example.test"); len(chain) != 2 || chain[1].NotAfter.Before(now) {
		t.Error("IssuerExpired with IssuerCA changed the chain")
	}

	for _, v := range []interface{ String() string }{
		mtaststest.IssuerCA, mtaststest.IssuerIntermediate, mtaststest.IssuerPrivate, mtaststest.Issuer(9),
		mtaststest.AnchorIssuer, mtaststest.AnchorRoot, mtaststest.Anchor(9), mtaststest.CertNoSAN,
	} {
		if v.String() == "" {
			t.Errorf("%#v: empty String", v)
		}
	}
}
