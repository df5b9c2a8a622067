// Package tlsrpttest helps test programs that send TLS-RPT reports with
// package tlsrpt, in the manner of net/http/httptest: a Mailer that
// records messages, an https endpoint that records POSTs, validators that
// check a report's JSON or a whole report message against every rule
// strictmx reports follow ([RFC 8460] as strict receivers read it, with the
// decisions package tlsrpt lists where the RFC is loose),
// and RunStore, the conformance suite for tlsrpt.Store implementations.
//
// Users can point the validators at reports made by any software.
//
// It does not simulate DNS or SMTP peers beyond what these need.
//
//	mailer := &tlsrpttest.Mailer{}
//	dkim, lookup := tlsrpttest.DKIMKey("sender.example", "tlsrpt")
//	// ... run a reporter.Scheduler with Mailer: mailer, DKIM: dkim ...
//	for _, m := range mailer.Messages() {
//		if err := tlsrpttest.ValidateMessage(m.Data, lookup); err != nil {
//			t.Error(err)
//		}
//	}
//
// ExampleMailer is the whole of it, Scheduler included.
//
// # Security
//
// Everything listens on loopback only and trusts only its own test CA.
//
// # Testing
//
// Its own tests run the validators against reports built by package
// tlsrpt and against defective reports seen in the wild.
//
// This package is pre-v1: its API may change.
//
// [RFC 8460]: https://www.rfc-editor.org/rfc/rfc8460
package tlsrpttest
