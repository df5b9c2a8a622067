// Package counters is the encoding that the durable TLS-RPT stores
// (tlsrpt/boltstore, tlsrpt/redisstore) share: an aggregate kept as named
// counters, so that adding is an increment (HINCRBY in Redis) and needs no
// read.
package counters

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"github.com/strictmx/strictmx/tlsrpt"
)

// A counter name is
//
//	"s" policyJSON                 successful sessions under the policy
//	"f" policyJSON "\n" detailJSON failed sessions with that detail
//
// where policyJSON is ["type","domain",[lines],[mx]] and detailJSON is
// ["result-type","sending-ip","receiving-ip","mx","helo","info","reason"].
// JSON strings never hold a raw newline, so the separator is unambiguous.

// Counter is one named count.
type Counter struct {
	Name string
	N    int64
}

func policyName(p *tlsrpt.Policy) string {
	b, _ := json.Marshal([]any{p.Type, p.Domain, nonNil(p.String), nonNil(p.MXHost)})
	return string(b)
}

func detailName(d *tlsrpt.FailureDetail) string {
	b, _ := json.Marshal([]string{string(d.ResultType), ipString(d.SendingMTAIP), ipString(d.ReceivingIP),
		d.ReceivingMXHostname, d.ReceivingMXHelo, d.AdditionalInformation, d.FailureReasonCode})
	return string(b)
}

// Encode returns a's counts as named counters, each name once: details
// that differ only in what their names drop (an IP zone, an IPv4-mapped
// form) are summed, so that a store may add each counter with a single
// read and write.
func Encode(a *tlsrpt.Aggregate) []Counter {
	var out []Counter
	at := map[string]int{} // name -> index in out
	add := func(name string, n int64) {
		if i, ok := at[name]; ok {
			out[i].N += n
			return
		}
		at[name] = len(out)
		out = append(out, Counter{name, n})
	}
	for i := range a.Policies {
		p := &a.Policies[i]
		pn := policyName(&p.Policy)
		if p.Summary.TotalSuccessfulSessionCount != 0 {
			add("s"+pn, p.Summary.TotalSuccessfulSessionCount)
		}
		for j := range p.FailureDetails {
			d := &p.FailureDetails[j]
			add("f"+pn+"\n"+detailName(d), d.FailedSessionCount)
		}
	}
	return out
}

// Decode rebuilds the aggregate of k, in canonical form, from its
// counters; it fails with tlsrpt.ErrCorruptStore on a name it cannot
// decode, and returns nil when no counter is non-zero.
func Decode(k tlsrpt.Key, cs []Counter) (*tlsrpt.Aggregate, error) {
	parts := make([]*tlsrpt.Aggregate, 0, len(cs))
	for _, c := range cs {
		if c.N == 0 {
			continue
		}
		if c.Name == "" {
			return nil, fmt.Errorf("%w: empty counter name", tlsrpt.ErrCorruptStore)
		}
		kind, rest := c.Name[0], c.Name[1:]
		pn, dn, _ := strings.Cut(rest, "\n")
		var pr tlsrpt.PolicyResult
		var raw []json.RawMessage
		if err := json.Unmarshal([]byte(pn), &raw); err != nil || len(raw) != 4 {
			return nil, fmt.Errorf("%w: counter %q", tlsrpt.ErrCorruptStore, truncate(c.Name))
		}
		var typ string
		err1 := json.Unmarshal(raw[0], &typ)
		err2 := json.Unmarshal(raw[1], &pr.Policy.Domain)
		err3 := json.Unmarshal(raw[2], &pr.Policy.String)
		err4 := json.Unmarshal(raw[3], &pr.Policy.MXHost)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			return nil, fmt.Errorf("%w: counter %q", tlsrpt.ErrCorruptStore, truncate(c.Name))
		}
		pr.Policy.Type = tlsrpt.PolicyType(typ)
		if len(pr.Policy.String) == 0 {
			pr.Policy.String = nil
		}
		if len(pr.Policy.MXHost) == 0 {
			pr.Policy.MXHost = nil
		}
		switch kind {
		case 's':
			pr.Summary.TotalSuccessfulSessionCount = c.N
		case 'f':
			var f []string
			dec := json.NewDecoder(bytes.NewReader([]byte(dn)))
			if err := dec.Decode(&f); err != nil || len(f) != 7 {
				return nil, fmt.Errorf("%w: counter %q", tlsrpt.ErrCorruptStore, truncate(c.Name))
			}
			d := tlsrpt.FailureDetail{ResultType: tlsrpt.ResultType(f[0]), ReceivingMXHostname: f[3],
				ReceivingMXHelo: f[4], AdditionalInformation: f[5], FailureReasonCode: f[6], FailedSessionCount: c.N}
			d.SendingMTAIP, _ = netip.ParseAddr(f[1])
			d.ReceivingIP, _ = netip.ParseAddr(f[2])
			pr.Summary.TotalFailureSessionCount = c.N
			pr.FailureDetails = []tlsrpt.FailureDetail{d}
		default:
			return nil, fmt.Errorf("%w: counter %q", tlsrpt.ErrCorruptStore, truncate(c.Name))
		}
		parts = append(parts, &tlsrpt.Aggregate{Key: k, Policies: []tlsrpt.PolicyResult{pr}})
	}
	return tlsrpt.Merge(parts...)
}

// KeyName is a Key's name in durable stores: "YYYY-MM-DD/domain".
func KeyName(k tlsrpt.Key) string { return k.Day.String() + "/" + k.Domain }

// ParseKeyName reads a KeyName back; it fails with tlsrpt.ErrCorruptStore.
func ParseKeyName(s string) (tlsrpt.Key, error) {
	d, dom, ok := strings.Cut(s, "/")
	if !ok {
		return tlsrpt.Key{}, fmt.Errorf("%w: key %q", tlsrpt.ErrCorruptStore, truncate(s))
	}
	day, err := tlsrpt.ParseDay(d)
	if err != nil {
		return tlsrpt.Key{}, fmt.Errorf("%w: key %q", tlsrpt.ErrCorruptStore, truncate(s))
	}
	return tlsrpt.Key{Domain: dom, Day: day}, nil
}

// nonNil makes a nil list encode as [] rather than null, so that a
// policy's counter name does not depend on how its lists were made.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ipString is an address's form in counter names: "" for none, else the
// canonical form that reports use (IPv4-mapped as IPv4, no zone), so that
// equal sessions share one counter.
func ipString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.Unmap().WithZone("").String()
}

// truncate shortens stored data quoted in an error.
func truncate(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
