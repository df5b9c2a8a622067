package mtaststest_test

import (
	"context"
	"errors"
	"fmt"

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
