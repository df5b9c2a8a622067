// Package reporter sends TLS-RPT ([RFC 8460]) reports: the sending half of
// package tlsrpt, kept apart so that a sender that only records sessions
// links no mail stack.
//
// A [Scheduler] takes each (policy domain, UTC day) from a tlsrpt.Store
// once the day is over and a random delay has passed, builds the report,
// looks the `_smtp._tls` record up again at send time, and delivers to
// each rua URI: by https POST ([PostReport], through [NoRedirectClient] by
// default) or by mail ([Message.Build], multipart/report with the
// application/tlsrpt+gzip attachment, DKIM-signed, submitted by a
// [Mailer]: [RelayMailer] through a smart host, or [DirectMailer] straight
// to the recipient's MX hosts). Failures are retried with backoff for
// DefaultRetryFor with the same bytes, and the Scheduler's progress lives
// in the Store, so a restart never sends a report twice.
//
//	go (&reporter.Scheduler{
//		Store: store, OrganizationName: "Example Mail", ContactInfo: "tlsrpt@sender.example",
//		DKIM:   &reporter.DKIM{Selector: "tlsrpt", Key: key},
//		Mailer: &reporter.RelayMailer{Addr: "smtp.sender.example:587", TLS: "starttls"},
//	}).Run(ctx)
//
// RelayMailer.Validate checks a relay configuration without connecting,
// and RelayMailer.Check makes one session with the relay without sending
// mail: run them at start-up, so that a wrong address, TLS setting or
// password is found then, not when the first report is due.
//
// # DKIM
//
// Report mail is signed with d= the submitter domain (the domain of
// Scheduler.ContactInfo) and DKIM.Selector. Publish the key at
// <selector>._domainkey.<submitter> in a record without an s= tag:
//
//	v=DKIM1; k=ed25519; p=<base64 public key>
//
// (k=rsa for an RSA key); s=* is equivalent. Spec note: RFC 8460
// registers the DKIM service type "tlsrpt" for report keys, but receivers
// disagree on it: mox's DKIM check refuses a key whose record says
// s=tlsrpt, and dkimpy refuses s=email:tlsrpt; only a record with no s=
// (or s=*) passes every receiver tried.
//
// The From header (Scheduler.From, default ContactInfo) should be in the
// submitter domain or a parent or subdomain of it, so that DMARC
// receivers find the signature aligned (relaxed alignment); the Scheduler
// does not check this (examples/tlsrpt-reporter warns at start-up).
//
// # What it does not do
//
// It does not receive or analyse reports, and does not count its own
// sessions: report traffic never appears in reports.
//
// # Security
//
// The rua URIs come from the reported domain's DNS. The default https
// client follows no redirects, bounds time and response size and connects
// only to public unicast addresses; at most MaxRUAs URIs of a record are
// used. DirectMailer uses opportunistic TLS without certificate checks, as
// RFC 8460, Section 3 allows, so its mail is readable by an active
// attacker (reports hold aggregate counts and the recipient's own MX
// names). Report mail carries "TLS-Required: No". DKIM keys are only used
// for signing.
//
// # Testing
//
// Package tlsrpt/tlsrpttest has a recording Mailer, a recording SMTP
// server, an https endpoint that records POSTs, and validators for report
// messages. Time is injected (Scheduler.Now), so the tests cover day
// rollover, delays and retries without sleeping.
//
// This package is pre-v1: its API may change.
//
// [RFC 8460]: https://www.rfc-editor.org/rfc/rfc8460
package reporter
