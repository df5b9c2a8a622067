package tlsrpt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
)

// Durable stores keep an aggregate as named counters, so that adding is an
// increment (HINCRBY in Redis) and needs no read. A counter name is
//
//	"s" policyJSON                 successful sessions under the policy
//	"f" policyJSON "\n" detailJSON failed sessions with that detail
//
// where policyJSON is ["type","domain",[lines],[mx]] and detailJSON is
// ["result-type","sending-ip","receiving-ip","mx","helo","info","reason"].
// JSON strings never hold a raw newline, so the separator is unambiguous.

type counter struct {
	name string
	n    int64
}

func policyName(p *Policy) string {
	b, _ := json.Marshal([]any{p.Type, p.Domain, nonNil(p.String), nonNil(p.MXHost)})
	return string(b)
}

func detailName(d *FailureDetail) string {
	b, _ := json.Marshal([]string{string(d.ResultType), ipString(d.SendingMTAIP), ipString(d.ReceivingIP),
		d.ReceivingMXHostname, d.ReceivingMXHelo, d.AdditionalInformation, d.FailureReasonCode})
	return string(b)
}

// counters returns a's counts as named counters.
func (a *Aggregate) counters() []counter {
	var out []counter
	for i := range a.Policies {
		p := &a.Policies[i]
		pn := policyName(&p.Policy)
		if p.Summary.TotalSuccessfulSessionCount != 0 {
			out = append(out, counter{"s" + pn, p.Summary.TotalSuccessfulSessionCount})
		}
		for j := range p.FailureDetails {
			d := &p.FailureDetails[j]
			out = append(out, counter{"f" + pn + "\n" + detailName(d), d.FailedSessionCount})
		}
	}
	return out
}

// aggregateFromCounters rebuilds an aggregate; it fails with
// ErrCorruptStore on a name it cannot decode.
func aggregateFromCounters(k Key, cs []counter) (*Aggregate, error) {
	a := &Aggregate{Key: k}
	for _, c := range cs {
		if c.n == 0 {
			continue
		}
		if c.name == "" {
			return nil, fmt.Errorf("%w: empty counter name", ErrCorruptStore)
		}
		kind, rest := c.name[0], c.name[1:]
		pn, dn, _ := strings.Cut(rest, "\n")
		var pr PolicyResult
		var raw []json.RawMessage
		if err := json.Unmarshal([]byte(pn), &raw); err != nil || len(raw) != 4 {
			return nil, fmt.Errorf("%w: counter %q", ErrCorruptStore, truncate(c.name))
		}
		var typ string
		err1 := json.Unmarshal(raw[0], &typ)
		err2 := json.Unmarshal(raw[1], &pr.Policy.Domain)
		err3 := json.Unmarshal(raw[2], &pr.Policy.String)
		err4 := json.Unmarshal(raw[3], &pr.Policy.MXHost)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			return nil, fmt.Errorf("%w: counter %q", ErrCorruptStore, truncate(c.name))
		}
		pr.Policy.Type = PolicyType(typ)
		if len(pr.Policy.String) == 0 {
			pr.Policy.String = nil
		}
		if len(pr.Policy.MXHost) == 0 {
			pr.Policy.MXHost = nil
		}
		switch kind {
		case 's':
			pr.Summary.TotalSuccessfulSessionCount = c.n
		case 'f':
			var f []string
			dec := json.NewDecoder(bytes.NewReader([]byte(dn)))
			if err := dec.Decode(&f); err != nil || len(f) != 7 {
				return nil, fmt.Errorf("%w: counter %q", ErrCorruptStore, truncate(c.name))
			}
			d := FailureDetail{ResultType: ResultType(f[0]), ReceivingMXHostname: f[3],
				ReceivingMXHelo: f[4], AdditionalInformation: f[5], FailureReasonCode: f[6], FailedSessionCount: c.n}
			d.SendingMTAIP, _ = netip.ParseAddr(f[1])
			d.ReceivingIP, _ = netip.ParseAddr(f[2])
			pr.Summary.TotalFailureSessionCount = c.n
			pr.FailureDetails = []FailureDetail{d}
		default:
			return nil, fmt.Errorf("%w: counter %q", ErrCorruptStore, truncate(c.name))
		}
		a.add(&pr)
	}
	if len(a.Policies) == 0 {
		return nil, nil
	}
	a.canonicalize()
	return a, nil
}

// keyName is a Key's name in durable stores: "YYYY-MM-DD/domain".
func keyName(k Key) string { return k.Day.String() + "/" + k.Domain }

func parseKeyName(s string) (Key, error) {
	d, dom, ok := strings.Cut(s, "/")
	if !ok {
		return Key{}, fmt.Errorf("%w: key %q", ErrCorruptStore, truncate(s))
	}
	day, err := ParseDay(d)
	if err != nil {
		return Key{}, fmt.Errorf("%w: key %q", ErrCorruptStore, truncate(s))
	}
	return Key{Domain: dom, Day: day}, nil
}
