package tlsrpt

import (
	"time"

	"github.com/strictmx/strictmx/mtasts"
)

// ReasonCachedPolicy is the failure reason code strictmx gives a session
// that went by a cached MTA-STS policy because refreshing it failed: the
// session is counted as the refresh's failure (sts-policy-fetch-error,
// sts-policy-invalid or sts-webpki-invalid), with this code noting the
// fallback.
const ReasonCachedPolicy = "cached-policy-used"

// STSPolicy returns the report policy of an MTA-STS lookup: type sts with
// the policy's lines and mx patterns, or no-policy-found when no policy
// applied.
func STSPolicy(r *mtasts.Result) Policy {
	if r.Policy == nil {
		return Policy{Type: PolicyNoPolicyFound, Domain: r.Domain}
	}
	return Policy{Type: PolicySTS, Domain: r.Domain, String: r.Policy.Lines(), MXHost: r.Policy.MX}
}

// STSResult turns one delivery attempt under MTA-STS into a session result:
// the lookup r, the decision d for the host, and when the session started.
// Callers add SendingIP, ReceivingIP and EHLO where they know them.
//
// ok is false when the session belongs in no report: opportunistic
// delivery with no policy failure, DANE hosts (reported as tlsa by the
// caller), and report traffic.
//
// Spec note: when a cached policy was used because refreshing it failed,
// the session counts as that failure (RFC 8460, Section 4.3.2.3 lists the
// policy failures as session failures) unless the session failed by
// itself; ReasonCachedPolicy notes the fallback.
func STSResult(r *mtasts.Result, d mtasts.Decision, start time.Time) (res Result, ok bool) {
	res = Result{Policy: STSPolicy(r), MXHost: d.Host, Time: start}
	switch {
	case d.Reported:
		res.ResultType, res.ReasonCode = ResultType(d.ResultType), d.Reason
		if res.ResultType == "" && r.Failure != "" {
			res.ResultType, res.ReasonCode = ResultType(r.Failure), ReasonCachedPolicy
		}
	case r.Policy == nil && r.Failure != "":
		// A policy that could not be fetched or parsed fails every session
		// to the domain (RFC 8460, Section 4.3.2.3).
		res.ResultType = ResultType(r.Failure)
	default:
		return Result{}, false
	}
	return res, true
}

// RecordSTS records the session of one delivery attempt under MTA-STS, as
// STSResult builds it, and does nothing for sessions that belong in no
// report. It is the one line a sender adds after each Done or Skipped.
func (c *Collector) RecordSTS(r *mtasts.Result, d mtasts.Decision, start time.Time) error {
	res, ok := STSResult(r, d, start)
	if !ok {
		return nil
	}
	return c.Record(res)
}
