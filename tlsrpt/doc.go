// Package tlsrpt implements the sending side of SMTP TLS Reporting,
// [RFC 8460]: it finds where a domain wants reports (the `_smtp._tls`
// record), counts the outcome of every SMTP session per policy, builds the
// daily JSON reports and delivers them by https and by mail.
//
// Where the RFC is loose, the project's TLS-RPT contract decides, so that
// reports pass the strict receivers: no null or empty values, canonical IP
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
//   - A Flusher moves counts from a Collector into a Store in batches;
//     MemoryStore, BoltStore (bbolt, one machine) and RedisStore (a fleet)
//     are provided.
//   - BuildReport and Report.Marshal give the deterministic JSON of RFC
//     8460, Section 4; ParseReport decodes (and corrects) others' reports.
//   - PostReport, Message.Build (multipart/report, DKIM-signed),
//     RelayMailer and DirectMailer deliver (RFC 8460, Section 5).
//   - A Scheduler sends each day after it ends, retries for 24 hours with
//     the same bytes, and keeps its progress in the Store.
//
// A sender using package mtasts records each attempt in one line, straight
// from the decision (STSResult builds the Result, for callers that add the
// IP addresses and the EHLO name):
//
//	c.RecordSTS(lookupResult, hostPlan.Done(err), attemptStart)
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
//	store, _ := boltstore.Open("/var/lib/tlsrpt.db")
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
// Every parser bounds its input (MaxReportSize, at most MaxRUAs rua URIs
// used) and returns typed errors rather than panicking; all are fuzzed.
// The rua URIs come from the reported domain's DNS: the default
// https client follows no redirects, bounds time and response size and
// connects only to public unicast addresses. DirectMailer uses
// opportunistic TLS without certificate checks, as RFC 8460, Section 5.3
// asks, so its mail is readable by an active attacker (reports hold
// aggregate counts and the recipient's own MX names). Report mail carries
// "TLS-Required: No" and is never counted in reports: a Mailer must not
// record its sessions, or must mark them Result.ReportTraffic. DKIM keys
// are only used for signing.
//
// # Testing
//
// Package tlsrpt/tlsrpttest has a recording Mailer, a recording SMTP
// server, an https endpoint that records POSTs, the conformance suite
// RunStore, and validators that check report JSON and report messages
// against every rule of the contract. Golden files under testdata are
// rewritten with "go test ./tlsrpt -args -update". RedisStore tests need a
// redis-server and run only with STRICTMX_TEST_REDIS=1.
//
// This package is pre-v1: its API may change.
//
// [RFC 8460]: https://www.rfc-editor.org/rfc/rfc8460
package tlsrpt
