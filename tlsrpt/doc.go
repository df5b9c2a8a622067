// Package tlsrpt implements the sending side of SMTP TLS Reporting,
// [RFC 8460]: it finds where a domain wants reports (the `_smtp._tls`
// record), counts the outcome of every SMTP session per policy, builds the
// daily JSON reports and delivers them by https and by mail.
//
// Where the RFC is loose, strictmx takes one documented decision (see
// "Decisions where the RFC is loose" below), so that reports pass the
// strict receivers: no null or empty values, canonical IP
// addresses, only the 11 registered result types, failure-details always
// present, a msg-id shaped report-id, one report per policy domain and UTC
// day.
//
// The pipeline, each step usable alone:
//
//   - ParseRecord, SelectRecord and Lookup read the `_smtp._tls` record
//     (RFC 8460, Section 3).
//   - Collector.Record counts one Result per session, per (policy domain,
//     UTC day of the session start, policy), by plain sums; Merge adds up
//     partial Aggregates from anywhere.
//   - A Flusher moves counts from a Collector into a Store in batches.
//     MemoryStore is here; the durable stores are subpackages, so that
//     importing tlsrpt links no storage engine: tlsrpt/boltstore (bbolt,
//     one machine) and tlsrpt/redisstore (a fleet).
//   - BuildReport and Report.Marshal give the deterministic JSON of RFC
//     8460, Section 4; Gzip and FileName prepare it for sending (RFC 8460,
//     Sections 5.1 and 5.2); ParseReport decodes (and corrects) others'
//     reports.
//   - Sending is package tlsrpt/reporter: https POSTs, DKIM-signed
//     multipart/report mail through a relay or direct to the MX hosts
//     (RFC 8460, Section 5), and a Scheduler that sends each day after it
//     ends, retries for 24 hours with the same bytes, and keeps its
//     progress in the Store.
//
// This package owns the TLS-RPT vocabulary: the result types, the failure
// reason codes strictmx sets, and the policy types. Package mtasts
// produces its outcomes in these terms, and records each delivery attempt
// in one line, straight from its decision ([mtasts.Result.Session] builds
// the Result, for callers that add the IP addresses and the EHLO name):
//
//	lookupResult.Record(&collector, hostPlan.Done(err), attemptStart)
//
// Others call Record once per connection attempt, with the policy they
// enforced (keep a PolicyHandle per policy for the allocation-free path):
//
//	var c tlsrpt.Collector
//	c.Record(tlsrpt.Result{
//		Policy:     tlsrpt.Policy{Type: tlsrpt.PolicySTS, Domain: "example.net", String: lines, MXHost: patterns},
//		MXHost:     "mx1.example.net",
//		ResultType: tlsrpt.ResultCertificateExpired, // "" for success
//	})
//
// and runs, in the background:
//
//	store, _ := boltstore.Open("/var/lib/tlsrpt.db") // tlsrpt/boltstore
//	go (&tlsrpt.Flusher{Collector: &c, Store: store}).Run(ctx)
//	go (&reporter.Scheduler{
//		Store: store, OrganizationName: "Example Mail", ContactInfo: "tlsrpt@sender.example",
//		DKIM:   &reporter.DKIM{Selector: "tlsrpt", Key: key},
//		Mailer: &reporter.RelayMailer{Addr: "smtp.sender.example:587", TLS: "starttls"},
//	}).Run(ctx)
//
// Package tlsrpt does not decide TLS policy (package mtasts, or a DANE
// implementation, produces the outcomes recorded here), does not receive
// or analyse reports beyond decoding them, and does not send reports for
// other periods than a UTC day.
//
// # Security
//
// Every parser bounds its input (MaxReportSize, the record's length) and
// returns typed errors rather than panicking; all are fuzzed. Sessions
// that carried a report (Result.ReportTraffic) are never counted, so
// reports cannot cause reports. What sending does with the rua URIs that
// come from the reported domain's DNS is documented in tlsrpt/reporter.
//
// # Testing
//
// Package tlsrpt/tlsrpttest has a recording Mailer, a recording SMTP
// server, an https endpoint that records POSTs, the conformance suite
// RunStore, and validators that check report JSON and report messages
// against every rule strictmx reports follow. Golden files under testdata are
// rewritten with "go test ./tlsrpt -args -update". The tlsrpt/redisstore
// tests need a redis-server and run only with STRICTMX_TEST_REDIS=1.
//
// This package is pre-v1: its API may change.
//
// # Decisions where the RFC is loose
//
// Spec note: each of these is a documented choice; the tests pin them.
//
//   - The `_smtp._tls` record: white space is allowed around ";" and ",",
//     extensions may come before or after rua, several rua= fields all
//     count, and field names are case-sensitive ("RUA=" is an unknown
//     extension, ignored). URIs are percent-decoded; only mailto: and
//     https: are used, others are ignored without failing the record, and a
//     mailto: URI must hold one bare addr-spec, which is used exactly as
//     decoded (a quoted local part stays quoted).
//   - A session is one connection attempt to one MX host and counts once,
//     as a success or as one failure with one result type; a retry to
//     another MX host is another session. A policy-level failure (fetch
//     error, invalid policy, MX host outside the policy) fails the session
//     too. Sessions under no policy are reported with policy type
//     no-policy-found (mtasts records them by default, as a success or a
//     failure as their TLS went; mtasts.PlanOptions.SkipNoPolicyFound
//     turns that off), and only to domains that publish `_smtp._tls`: the
//     reporter drops the day's data of the others after one lookup.
//     Sessions that carried a report are never counted.
//   - Every policy an MTA-STS parser accepts can be reported: a policy
//     line that is not valid UTF-8 goes into policy-string with each
//     invalid byte sequence replaced by U+FFFD, rather than making its
//     sessions unrecordable.
//   - Counts are kept per (policy domain, UTC day of the session start,
//     policy) as plain sums, so partial aggregates merge in any order; a
//     policy that changes during a day gives two policy entries in that
//     day's report.
//   - Reports hold no null or "" values (an unknown optional value is
//     omitted, and a value that cannot be reported is dropped rather than
//     the session), mx-host and failure-details are always arrays, IP
//     addresses are canonical (RFC 5952 for IPv6), domains are lower-case
//     A-labels without a trailing dot, only the 11 registered result types
//     appear, and certificate-not-trusted and validation-failure always
//     carry a failure-reason-code. The date range is one UTC day, 00:00:00
//     to 23:59:59.
//   - The report-id is msg-id shaped, "<token>@<submitter domain>", the
//     submitter being the contact-info domain; the Subject carries it in
//     angle brackets, and a retry sends the same id and the same bytes.
//   - Reports are always gzipped, and the file name always has a unique
//     part.
//   - At send time the record is looked up again: no record drops that
//     day's data for the domain, a temporary DNS failure is retried. Each
//     day is sent after a random delay (up to four hours by default), to
//     every rua; it is delivered once one accepts it. Failures are retried
//     with exponential backoff for 24 hours. An https rua succeeds on any
//     2xx status, and redirects are not followed.
//   - Report mail is DKIM-signed by the submitter domain, with the
//     TLS-Report-Domain and TLS-Report-Submitter headers signed and no l=
//     tag, and carries "Auto-Submitted: auto-generated" and
//     "TLS-Required: No".
//   - All-success reports (the heartbeat) are sent unless the reporter's
//     Scheduler.SkipAllSuccess is set.
//
// [RFC 8460]: https://www.rfc-editor.org/rfc/rfc8460
package tlsrpt
