package dane_test

import (
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/strictmx/strictmx/internal/testpki"
	"github.com/strictmx/strictmx/mtasts/dane"
	"github.com/strictmx/strictmx/mtasts/resolver"
)

// An RRset counts the usable records after digest agility, and lists every
// record for the TLS-RPT policy-string.
func ExampleNewRRset() {
	set := dane.NewRRset([]resolver.TLSA{
		{Usage: 3, Selector: 1, MatchingType: 1, Data: make([]byte, 32)}, // set aside: a 3 1 2 is present
		{Usage: 3, Selector: 1, MatchingType: 2, Data: make([]byte, 64)},
		{Usage: 1, Selector: 1, MatchingType: 1, Data: []byte{0xab}}, // PKIX-EE: unusable
	})
	fmt.Println("usable:", set.Usable())
	for _, p := range set.PolicyStrings() {
		fmt.Printf("%.24s\n", p)
	}
	// Output:
	// usable: 1
	// 1 1 1 AB
	// 3 1 1 000000000000000000
	// 3 1 2 000000000000000000
}

// VerifyConnection runs in the client's tls.Config, so that resumed
// sessions are checked too; a failure carries its TLS-RPT result type.
func ExampleRRset_VerifyConnection() {
	ca, _ := testpki.New()
	cert, _ := ca.Leaf(testpki.LeafOptions{DNSNames: []string{"mx.example.test"}})
	digest := sha256.Sum256(cert.Leaf.RawSubjectPublicKeyInfo)

	for _, data := range [][]byte{digest[:], make([]byte, 32)} {
		set := dane.NewRRset([]resolver.TLSA{{Usage: dane.UsageDANEEE, Selector: dane.SelectorSPKI, MatchingType: dane.MatchingSHA256, Data: data}})
		client := &tls.Config{
			ServerName:         "mx.example.test", // the TLSA base domain
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: true, // DANE decides, in VerifyConnection
			VerifyConnection: func(cs tls.ConnectionState) error {
				return set.VerifyConnection(cs, []string{"mx.example.test"}, time.Now())
			},
		}
		cc, sc := net.Pipe()
		go func() {
			_ = tls.Server(sc, &tls.Config{Certificates: []tls.Certificate{cert}}).Handshake()
			sc.Close()
		}()
		err := tls.Client(cc, client).Handshake()
		cc.Close()
		var de *dane.Error
		if errors.As(err, &de) {
			fmt.Println("failed:", de.ResultType, de.Reason)
		} else {
			fmt.Println("verified:", err == nil)
		}
	}
	// Output:
	// verified: true
	// failed: certificate-not-trusted dane-no-match
}
