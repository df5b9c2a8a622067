package dane_test

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"github.com/strictmx/strictmx/internal/testpki"
	"github.com/strictmx/strictmx/mtasts/dane"
	"github.com/strictmx/strictmx/mtasts/resolver"
)

// benchChain returns a private root and a leaf it issued for
// mx.example.test, the chain both benchmarks verify.
func benchChain(b *testing.B) (*testpki.CA, tls.Certificate) {
	ca, err := testpki.New()
	if err != nil {
		b.Fatal(err)
	}
	cert, err := ca.Leaf(testpki.LeafOptions{DNSNames: []string{"mx.example.test"}})
	if err != nil {
		b.Fatal(err)
	}
	return ca, cert
}

// BenchmarkHandshakeDANE measures a full TLS 1.3 handshake over loopback
// TCP (no resumption) with the client verifying the same chain, root ->
// leaf, three ways: PKIX, by crypto/tls against a private root with
// ServerName (the floor to read the others against); DANE-EE by a 3 1 1
// record of the leaf; DANE-TA by a 2 1 1 record of the root, the name
// checked by MatchName. Targets: DANE-EE at most PKIX, DANE-TA within 5%
// of it.
func BenchmarkHandshakeDANE(b *testing.B) {
	ca, cert := benchChain(b)
	server := &tls.Config{
		Certificates:           []tls.Certificate{cert},
		MinVersion:             tls.VersionTLS13,
		SessionTicketsDisabled: true,
	}
	spki := func(raw []byte) resolver.TLSA {
		d := sha256.Sum256(raw)
		return resolver.TLSA{Selector: dane.SelectorSPKI, MatchingType: dane.MatchingSHA256, Data: d[:]}
	}
	ee := spki(cert.Leaf.RawSubjectPublicKeyInfo)
	ee.Usage = dane.UsageDANEEE
	ta := spki(ca.Certificate().RawSubjectPublicKeyInfo)
	ta.Usage = dane.UsageDANETA
	eeSet, taSet := dane.NewRRset([]resolver.TLSA{ee}), dane.NewRRset([]resolver.TLSA{ta})
	ids := []string{"mx.example.test"}
	daneConfig := func(set *dane.RRset) *tls.Config {
		return &tls.Config{
			ServerName:         "mx.example.test",
			MinVersion:         tls.VersionTLS13,
			InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				return set.VerifyConnection(cs, ids, time.Now())
			},
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(served)
				return
			}
			s := tls.Server(c, server)
			err = s.Handshake()
			c.Close()
			served <- err
		}
	}()

	for _, bc := range []struct {
		name string
		cfg  *tls.Config
	}{
		{"PKIX", &tls.Config{RootCAs: ca.Pool(), ServerName: "mx.example.test", MinVersion: tls.VersionTLS13}},
		{"DANE-EE-311", daneConfig(eeSet)},
		{"DANE-TA-211", daneConfig(taSet)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				cl := tls.Client(c, bc.cfg)
				err = cl.Handshake()
				c.Close()
				if serr := <-served; err != nil || serr != nil {
					b.Fatalf("handshake: client %v, server %v", err, serr)
				}
			}
		})
	}
}

// BenchmarkVerifyStep measures the certificate check alone, on the chain
// of BenchmarkHandshakeDANE as the client received it: PKIX as crypto/tls
// does it (an intermediates pool from the certificates after the leaf,
// then x509.Certificate.Verify with the root pool and DNSName), and
// RRset.Verify under 3 1 1 and 2 1 1. It isolates what the handshake
// benchmark dilutes in the cost of the handshake itself.
func BenchmarkVerifyStep(b *testing.B) {
	ca, cert := benchChain(b)
	sent := []*x509.Certificate{cert.Leaf, ca.Certificate()}
	roots := ca.Pool()
	ee, ta := sha256.Sum256(cert.Leaf.RawSubjectPublicKeyInfo), sha256.Sum256(ca.Certificate().RawSubjectPublicKeyInfo)
	eeSet := dane.NewRRset([]resolver.TLSA{{Usage: 3, Selector: 1, MatchingType: 1, Data: ee[:]}})
	taSet := dane.NewRRset([]resolver.TLSA{{Usage: 2, Selector: 1, MatchingType: 1, Data: ta[:]}})
	ids := []string{"mx.example.test"}
	b.Run("PKIX", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			inter := x509.NewCertPool()
			for _, c := range sent[1:] {
				inter.AddCert(c)
			}
			if _, err := sent[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: "mx.example.test"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, bc := range []struct {
		name string
		set  *dane.RRset
	}{{"DANE-EE-311", eeSet}, {"DANE-TA-211", taSet}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.set.Verify(sent, ids, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
