package mtaststest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/smtp"

	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/mtaststest"
)

func ExampleServer() {
	// In a test, pass t: NewServer(t) closes the server at cleanup.
	s := mtaststest.NewServer(nil)
	defer s.Close()

	d := s.Domain("example.test").
		Record("20240101").
		Policy(mtasts.ModeEnforce, 86400, "mx1.example.test", "*.backup.example.test").
		MX(10, "mx1.example.test")

	c := s.Client()
	res, err := c.Lookup(context.Background(), "example.test")
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(res.Source, res.ID, res.Mode(), res.Policy.MX)
	fmt.Println("mx1 allowed:", res.Policy.Match("mx1.example.test"))

	// The policy host breaks; the cached policy is still used.
	d.Certificate(mtaststest.CertExpired)
	res, _ = c.Lookup(context.Background(), "example.test")
	fmt.Println(res.Source, res.Mode())
	fmt.Println("fetches:", d.Fetches(), "TXT queries:", d.RecordQueries())

	// Output:
	// fetch 20240101 enforce [mx1.example.test *.backup.example.test]
	// mx1 allowed: true
	// cache enforce
	// fetches: 1 TXT queries: 1
}

func ExampleDomain_DNSFault() {
	s := mtaststest.NewServer(nil)
	defer s.Close()
	s.Domain("example.test").Record("1").DNSFault(mtaststest.DNSServFail)

	// No policy, no error: a temporary DNS failure is a result.
	res, err := s.Client().Lookup(context.Background(), "example.test")
	fmt.Println(res.Policy == nil, err)
	fmt.Println(errors.Is(res.Err, mtasts.ErrDNSTemporary))
	// Output:
	// true <nil>
	// true
}

func ExampleServer_MXHost() {
	s := mtaststest.NewServer(nil)
	defer s.Close()
	mx := s.MXHost("example.test", 10, "mx1.example.test", mtaststest.MXConfig{})

	// Deliver with net/smtp, STARTTLS verified against the harness CA.
	conn, err := s.DialContext(context.Background(), "tcp", "mx1.example.test:25")
	if err != nil {
		fmt.Println(err)
		return
	}
	c, _ := smtp.NewClient(conn, "mx1.example.test")
	defer c.Close()
	c.Hello("sender.test")
	err = c.StartTLS(&tls.Config{ServerName: "mx1.example.test", RootCAs: s.RootCAs(), MinVersion: tls.VersionTLS12})
	fmt.Println("starttls:", err)
	c.Mail("a@sender.test")
	c.Rcpt("b@example.test")
	w, _ := c.Data()
	fmt.Fprint(w, "Subject: hi\r\n\r\nhello\r\n")
	w.Close()
	c.Quit()

	for _, m := range mx.Messages() {
		fmt.Println(m.From, m.To, m.TLS, m.ServerName)
	}

	// Now present an expired certificate.
	mx.Configure(mtaststest.MXConfig{Certificate: mtaststest.CertExpired})
	conn, _ = s.DialContext(context.Background(), "tcp", "mx1.example.test:25")
	c2, _ := smtp.NewClient(conn, "mx1.example.test")
	defer c2.Close()
	c2.Hello("sender.test")
	err = c2.StartTLS(&tls.Config{ServerName: "mx1.example.test", RootCAs: s.RootCAs(), MinVersion: tls.VersionTLS12})
	var invalid x509.CertificateInvalidError
	fmt.Println("expired:", errors.As(err, &invalid) && invalid.Reason == x509.Expired)
	fmt.Println("handshakes seen:", mx.ServerNames())

	// Output:
	// starttls: <nil>
	// a@sender.test [b@example.test] true mx1.example.test
	// expired: true
	// handshakes seen: [mx1.example.test mx1.example.test]
}
