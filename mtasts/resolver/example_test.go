package resolver_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/strictmx/strictmx/mtasts/mtaststest"
	"github.com/strictmx/strictmx/mtasts/resolver"
)

func ExampleStub() {
	s := mtaststest.NewServer(nil) // a DNS server on loopback
	defer s.Close()
	s.TXT("_mta-sts.example.test", "v=STSv1; id=20240101").
		NegativeTTL(time.Minute)

	r := &resolver.Stub{Servers: []string{s.DNSAddr()}}
	ctx := context.Background()

	txts, ttl, err := r.LookupTXTWithTTL(ctx, "_mta-sts.example.test")
	fmt.Println(txts, ttl, err)

	_, ttl, err = r.LookupTXTWithTTL(ctx, "_mta-sts.nowhere.test")
	var de *net.DNSError
	fmt.Println(errors.As(err, &de) && de.IsNotFound, errors.Is(err, resolver.ErrNXDOMAIN), ttl)
	// Output:
	// [v=STSv1; id=20240101] 5m0s <nil>
	// true true 1m0s
}

func ExampleStub_LookupNetIP() {
	s := mtaststest.NewServer(nil)
	defer s.Close()
	s.A("mx1.example.test", "192.0.2.1").
		A("mx1.example.test", "2001:db8::1").
		CNAME("mail.example.test", "mx1.example.test")

	r := &resolver.Stub{Servers: []string{s.DNSAddr()}}
	for _, network := range []string{"ip", "ip4", "ip6"} {
		addrs, err := r.LookupNetIP(context.Background(), network, "mail.example.test")
		fmt.Println(network, addrs, err)
	}
	// Output:
	// ip [192.0.2.1 2001:db8::1] <nil>
	// ip4 [192.0.2.1] <nil>
	// ip6 [2001:db8::1] <nil>
}
