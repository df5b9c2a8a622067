package tlsrpttest_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/strictmx/strictmx/tlsrpt"
	"github.com/strictmx/strictmx/tlsrpt/reporter"
	"github.com/strictmx/strictmx/tlsrpt/tlsrpttest"
)

// records serves `_smtp._tls` TXT records.
type records map[string][]string

func (r records) LookupTXT(ctx context.Context, name string) ([]string, error) {
	if v, ok := r[name]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// A Scheduler sends a day's report to a recording Mailer, and every
// message it sent passes ValidateMessage, DKIM signature included.
func ExampleMailer() {
	ctx := context.Background()
	day := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)

	// One day of sessions to example.net, in a Store.
	store := &tlsrpt.MemoryStore{}
	var c tlsrpt.Collector
	p := tlsrpt.Policy{Type: tlsrpt.PolicySTS, Domain: "example.net",
		String: []string{"version: STSv1", "mode: enforce", "mx: mx.example.net", "max_age: 86400"},
		MXHost: []string{"mx.example.net"}}
	c.Record(tlsrpt.Result{Policy: p, Time: day.Add(10 * time.Hour)})
	c.Record(tlsrpt.Result{Policy: p, Time: day.Add(11 * time.Hour), MXHost: "mx.example.net",
		ResultType: tlsrpt.ResultCertificateExpired})
	if err := store.Add(ctx, tlsrpt.NewBatchID(), c.Drain()); err != nil {
		fmt.Println(err)
		return
	}

	mailer := &tlsrpttest.Mailer{}
	dkim, lookup := tlsrpttest.DKIMKey("sender.example", "tlsrpt")
	s := &reporter.Scheduler{
		Store: store, OrganizationName: "Sender Org", ContactInfo: "tlsrpt@sender.example",
		DKIM: dkim, Mailer: mailer,
		Resolver: records{"_smtp._tls.example.net": {"v=TLSRPTv1; rua=mailto:reports@example.net"}},
		MaxDelay: -1,                                                  // send as soon as the day is over
		Now:      func() time.Time { return day.Add(25 * time.Hour) }, // the next day
	}
	// One pass schedules the finished day, the next sends it.
	for range 2 {
		if err := s.RunOnce(ctx); err != nil {
			fmt.Println(err)
			return
		}
	}

	for _, m := range mailer.Messages() {
		if err := tlsrpttest.ValidateMessage(m.Data, lookup); err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println("valid report to", m.To)
	}
	// Output:
	// valid report to reports@example.net
}
