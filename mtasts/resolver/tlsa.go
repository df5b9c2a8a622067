package resolver

import (
	"encoding/hex"

	"github.com/miekg/dns"
)

// TLSA is one TLSA resource record as a DNS answer gave it (RFC 6698,
// Section 2.1): the certificate usage, selector and matching type fields,
// and the certificate association data, uninterpreted. Package
// mtasts/dane decides which records are usable.
type TLSA struct {
	Usage, Selector, MatchingType uint8
	Data                          []byte
}

// tlsaRecords returns the TLSA records among rrs, in order, their data
// decoded from the hexadecimal miekg/dns keeps it in. A record whose data
// does not decode (only a hand-built one can have such data) is left out;
// if records were given but none is left, it fails with errNoUsableTLSA.
// Records with empty data are kept, with nil Data, for package
// mtasts/dane to judge.
func tlsaRecords(rrs []dns.RR) ([]TLSA, error) {
	out := make([]TLSA, 0, len(rrs))
	for _, rr := range rrs {
		t, ok := rr.(*dns.TLSA)
		if !ok {
			continue
		}
		var data []byte
		if t.Certificate != "" {
			var err error
			if data, err = hex.DecodeString(t.Certificate); err != nil {
				continue
			}
		}
		out = append(out, TLSA{Usage: t.Usage, Selector: t.Selector, MatchingType: t.MatchingType, Data: data})
	}
	if len(out) == 0 && len(rrs) > 0 {
		return nil, errNoUsableTLSA
	}
	return out, nil
}
