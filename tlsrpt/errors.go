package tlsrpt

import (
	"errors"
)

// Record errors. Each means the policy domain does not take reports now;
// only ErrDNSTemporary is worth retrying.
var (
	// ErrNoRecord: no TXT record at _smtp._tls.<domain> begins with
	// v=TLSRPTv1 (or the name does not exist). Drop the domain's data.
	ErrNoRecord = errors.New("tlsrpt: no TLSRPTv1 record")
	// ErrMultipleRecords: more than one TLSRPTv1 record; RFC 8460,
	// Section 3 says to treat the domain as not implementing TLS-RPT.
	ErrMultipleRecords = errors.New("tlsrpt: more than one TLSRPTv1 record")
	// ErrRecordSyntax: the single TLSRPTv1 record is malformed.
	ErrRecordSyntax = errors.New("tlsrpt: malformed record")
	// ErrNoRUA: the record has no rua= field or none of its URIs is a
	// usable mailto: or https: URI.
	ErrNoRUA = errors.New("tlsrpt: record has no usable rua")
	// ErrDNSTemporary: the lookup failed for a reason other than the
	// record's absence (SERVFAIL, timeout); look again later.
	ErrDNSTemporary = errors.New("tlsrpt: temporary DNS failure")
)

// Report errors.
var (
	// ErrReportSyntax: ParseReport could not read the input as a report.
	ErrReportSyntax = errors.New("tlsrpt: malformed report")
	// ErrInvalidReport: a report breaks a rule that strictmx reports
	// follow (see Report.Validate); it must not be sent. The wrapped errors
	// name each broken rule.
	ErrInvalidReport = errors.New("tlsrpt: invalid report")
	// ErrReportTooLarge: a report exceeds MaxReportSize.
	ErrReportTooLarge = errors.New("tlsrpt: report too large")
)

// Collection errors.
var (
	// ErrInvalidResult: a Result cannot be counted (bad domain, unknown
	// policy or result type). The caller has a bug; the result is dropped.
	ErrInvalidResult = errors.New("tlsrpt: invalid session result")
)

// Store errors.
var (
	// ErrStoreClosed: the store was closed.
	ErrStoreClosed = errors.New("tlsrpt: store closed")
	// ErrCorruptStore: stored data could not be decoded. The affected
	// (domain, day) cannot be reported.
	ErrCorruptStore = errors.New("tlsrpt: corrupt store data")
	// ErrUnstorable: Store.Add left an aggregate out of a batch because
	// the store cannot keep it (it fails CheckStorable, a count would
	// overflow, its stored counters are damaged); the error names it.
	// The rest of the batch was stored: do not retry. The aggregate's
	// sessions are lost; the caller has a bug or the store needs repair.
	ErrUnstorable = errors.New("tlsrpt: aggregate cannot be stored")
	// ErrNoBatchID: Store.Add was given the zero BatchID. The caller has
	// a bug: make one id per batch with NewBatchID.
	ErrNoBatchID = errors.New("tlsrpt: zero batch id")
)

// Configuration errors.
var (
	// ErrConfig: a Flusher (or a Store of a subpackage) is missing a
	// required field, such as its Collector, Store or Redis client. Fix
	// the program; nothing was done.
	ErrConfig = errors.New("tlsrpt: incomplete configuration")
)
