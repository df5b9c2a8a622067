package mtasts_test

import (
	"errors"
	"fmt"

	"github.com/strictmx/strictmx/mtasts"
)

func ExampleParsePolicy() {
	body := []byte("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com.\r\nmx: *.example.net\r\n\r\nmax_age: 604800\r\n")
	p, err := mtasts.ParsePolicy(body)
	if err != nil {
		fmt.Println("invalid:", err)
		return
	}
	fmt.Println(p.Mode, p.MX, p.MaxAge)
	for _, w := range p.Warnings {
		fmt.Println("warning:", w)
	}
	// Output:
	// enforce [mail.example.com *.example.net] 168h0m0s
	// warning: line 3: mx "mail.example.com." has a trailing dot; removed
	// warning: line 5: blank line
}

func ExamplePolicy_Match() {
	p, _ := mtasts.ParsePolicy([]byte("version: STSv1\nmode: enforce\nmx: *.example.net\nmax_age: 86400\n"))
	for _, host := range []string{"mx1.example.net.", "MX2.EXAMPLE.NET", "example.net", "a.b.example.net"} {
		fmt.Println(host, p.Match(host))
	}
	// Output:
	// mx1.example.net. true
	// MX2.EXAMPLE.NET true
	// example.net false
	// a.b.example.net false
}

func ExampleSelectRecord() {
	// The TXT RRs of _mta-sts.example.com, one string per RR.
	txts := []string{"v=spf1 -all", "v=STSv1; id=20160831085700Z;"}
	r, err := mtasts.SelectRecord(txts)
	fmt.Println(r.ID, err)

	_, err = mtasts.SelectRecord([]string{"v=STSv1; id=a", "v=STSv1; id=b"})
	fmt.Println(errors.Is(err, mtasts.ErrMultipleRecords))
	// Output:
	// 20160831085700Z <nil>
	// true
}
