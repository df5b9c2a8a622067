package tlsrpt_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/strictmx/strictmx/tlsrpt"
)

// A sender records one Result per SMTP session and builds the day's
// report from the aggregate.
func ExampleCollector() {
	var c tlsrpt.Collector
	sts := tlsrpt.Policy{
		Type:   tlsrpt.PolicySTS,
		Domain: "example.net",
		String: []string{"version: STSv1", "mode: enforce", "mx: mx.example.net", "max_age: 604800"},
		MXHost: []string{"mx.example.net"},
	}
	at := time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC)
	c.Record(tlsrpt.Result{Policy: sts, MXHost: "mx.example.net", Time: at})
	c.Record(tlsrpt.Result{
		Policy: sts, MXHost: "mx.example.net", Time: at,
		ReceivingIP: netip.MustParseAddr("2001:db8:0:0::25"),
		ResultType:  tlsrpt.ResultCertificateExpired,
	})
	for _, a := range c.Drain() {
		r, err := tlsrpt.BuildReport(a, "Example Sender", "tlsrpt@sender.example",
			tlsrpt.NewReportID(a.Key, "sender.example", 0x5eed))
		if err != nil {
			fmt.Println(err)
			return
		}
		js, _ := r.Marshal()
		fmt.Printf("%s", js)
	}
	// Output:
	// {
	//   "organization-name": "Example Sender",
	//   "date-range": {
	//     "start-datetime": "2026-11-24T00:00:00Z",
	//     "end-datetime": "2026-11-24T23:59:59Z"
	//   },
	//   "contact-info": "tlsrpt@sender.example",
	//   "report-id": "20261124.example.net.5eed@sender.example",
	//   "policies": [
	//     {
	//       "policy": {
	//         "policy-type": "sts",
	//         "policy-string": [
	//           "version: STSv1",
	//           "mode: enforce",
	//           "mx: mx.example.net",
	//           "max_age: 604800"
	//         ],
	//         "policy-domain": "example.net",
	//         "mx-host": [
	//           "mx.example.net"
	//         ]
	//       },
	//       "summary": {
	//         "total-successful-session-count": 1,
	//         "total-failure-session-count": 1
	//       },
	//       "failure-details": [
	//         {
	//           "result-type": "certificate-expired",
	//           "receiving-mx-hostname": "mx.example.net",
	//           "receiving-ip": "2001:db8::25",
	//           "failed-session-count": 1
	//         }
	//       ]
	//     }
	//   ]
	// }
}
