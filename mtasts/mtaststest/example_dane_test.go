package mtaststest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net/smtp"

	"github.com/miekg/dns"

	"github.com/strictmx/strictmx/mtasts/mtaststest"
)

func ExampleMXHost_PublishTLSA() {
	s := mtaststest.NewServer(nil)
	defer s.Close()
	s.Signed("example.test") // answers for example.test and below get AD
	mx := s.MXHost("example.test", 10, "mx1.example.test",
		mtaststest.MXConfig{Issuer: mtaststest.IssuerPrivate}) // a chain no PKIX pool trusts
	mx.PublishTLSA(25, mtaststest.DANEEESPKISHA256) // 3 1 1 from the host's own key

	// Ask as a validating stub resolver does: RD, AD, EDNS0 with DO.
	q := new(dns.Msg).SetQuestion(dns.Fqdn(mx.TLSAName(25)), dns.TypeTLSA)
	q.AuthenticatedData = true
	q.SetEdns0(1232, true)
	resp, err := dns.ExchangeContext(context.Background(), q, s.DNSAddr())
	if err != nil {
		fmt.Println(err)
		return
	}
	rr := resp.Answer[0].(*dns.TLSA)
	fmt.Println("AD:", resp.AuthenticatedData, "record:", rr.Usage, rr.Selector, rr.MatchingType)
	want, _ := hex.DecodeString(rr.Certificate)

	// A DANE-EE check by hand: the leaf's key digest against the record.
	conn, _ := s.DialContext(context.Background(), "tcp", "mx1.example.test:25")
	c, _ := smtp.NewClient(conn, "mx1.example.test")
	defer c.Close()
	c.Hello("sender.test")
	err = c.StartTLS(&tls.Config{
		ServerName:         "mx1.example.test",
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // DANE replaces PKIX: checked below
		VerifyConnection: func(cs tls.ConnectionState) error {
			got := sha256.Sum256(cs.PeerCertificates[0].RawSubjectPublicKeyInfo)
			if !bytes.Equal(got[:], want) {
				return errors.New("no TLSA record matches")
			}
			return nil
		},
	})
	fmt.Println("3 1 1 matches:", err == nil)

	// Break it: a wrong digest, then a TLSA lookup that fails validation.
	mx.PublishTLSA(25, mtaststest.TLSASpec{Usage: 3, Selector: 1, MatchingType: 1, Mismatch: true})
	s.Bogus(mx.TLSAName(25))
	resp, _ = dns.ExchangeContext(context.Background(), q, s.DNSAddr())
	fmt.Println("bogus:", dns.RcodeToString[resp.Rcode], "TLSA queries:", s.Queries(mx.TLSAName(25), "TLSA"))

	// Output:
	// AD: true record: 3 1 1
	// 3 1 1 matches: true
	// bogus: SERVFAIL TLSA queries: 2
}
