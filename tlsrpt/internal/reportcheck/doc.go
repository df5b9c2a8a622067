// Package reportcheck validates TLS-RPT report JSON and report messages
// against the rules strictmx reports follow ([RFC 8460] as strict receivers
// read it, with the decisions package tlsrpt lists where the RFC is loose),
// independently of package tlsrpt's own types, so that tests cross-check
// the encoder rather than re-run it. Package tlsrpttest exports it.
//
// It does not decode reports into types; use tlsrpt.ParseReport.
//
//	sum, err := reportcheck.JSON(data)
//
// # Security
//
// Input is bounded (10 MB of message or JSON, nesting depth 16) and never
// makes it panic (fuzzed through tlsrpttest).
//
// # Testing
//
// Tested through package tlsrpt's encoder tests and tlsrpttest's
// validator tests.
//
// This package is internal and pre-v1.
//
// [RFC 8460]: https://www.rfc-editor.org/rfc/rfc8460
package reportcheck
