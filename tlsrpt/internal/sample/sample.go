// Package sample is the session load the TLS-RPT store and flusher tests
// share: results spread over 50 domains on one day, a third of them
// failures, so that every flush touches many keys.
package sample

import (
	"fmt"
	"time"

	"github.com/strictmx/strictmx/tlsrpt"
)

// Day is the day of every sample session.
var Day = tlsrpt.DayOf(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC))

// Domains is how many domains the sessions are spread over.
const Domains = 50

// Domain returns the name of sample domain i, "dNN.example".
func Domain(i int) string { return fmt.Sprintf("d%02d.example", i%Domains) }

// Result returns sample session i: for domain i%50 at minute i of Day, a
// starttls-not-supported failure when i%3 == 0, else a success.
func Result(i int) tlsrpt.Result {
	d := Domain(i)
	r := tlsrpt.Result{
		Policy: tlsrpt.Policy{Type: tlsrpt.PolicySTS, Domain: d, String: []string{"version: STSv1", "mx: mx." + d}, MXHost: []string{"mx." + d}},
		Time:   Day.Start().Add(time.Duration(i) * time.Minute),
	}
	if i%3 == 0 {
		r.ResultType = tlsrpt.ResultSTARTTLSNotSupported
		r.MXHost = "mx." + d
	}
	return r
}
