// Package tlsrpt implements the sending side of SMTP TLS Reporting,
// [RFC 8460]: it finds where a domain wants reports (the `_smtp._tls`
// record), counts the outcome of each SMTP session per policy, builds the
// daily JSON reports and delivers them by https and mail.
//
// The rules strictmx follows where the RFC is loose are in the project's
// TLS-RPT contract; reports built here pass the strict receivers that reject
// common defects (null or empty values, non-canonical IPs, invented result
// types, a missing failure-details array).
//
// Package tlsrpt does not receive or analyse other senders' reports beyond
// decoding them (ParseReport), and does not decide TLS policy: package
// mtasts (or a DANE implementation) produces the per-session outcomes that
// are recorded here.
//
// # Security
//
// Record and report parsers bound their input and never panic on bad
// input.
//
// # Testing
//
// Package tlsrpt/tlsrpttest has a recording Mailer, an https endpoint that
// records POSTs and validators for report JSON and report messages.
//
// This package is pre-v1: its API may change.
//
// [RFC 8460]: https://www.rfc-editor.org/rfc/rfc8460
package tlsrpt
