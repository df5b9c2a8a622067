package mtaststest

import (
	"strings"

	"github.com/miekg/dns"
)

// The harness DNS server plays a validating recursive resolver on
// loopback. It signs and validates nothing: a test says
// which zones are signed (Server.Signed, Server.Unsigned) and which names
// fail validation (Server.Bogus), and the server sets the header bits a
// real validating resolver would set for such data. Names in no zone so
// marked are unsigned, so a test that marks nothing sees what it saw
// before: no AD bit anywhere.

// anyType in a bogus key stands for every query type.
const anyType = dns.TypeNone

// noEDE is the EDE code of a bogus name that answers without an RFC 8914
// option.
const noEDE = -1

// Signed marks zone, and every name below it, as signed and validated:
// the server's answers for those names (records, NXDOMAIN and NODATA
// alike) have the AD bit when the query asked for it with the AD bit or
// with EDNS0's DO bit (RFC 6840, Section 5.7) and did not set the CD bit.
// A sub-zone marked with Unsigned is excepted, and the nearest mark wins:
// Signed("example.test").Unsigned("sub.example.test").Signed("a.sub.example.test")
// leaves only sub.example.test and the names below it, bar
// a.sub.example.test's, unsigned. Signed(".") signs every name.
//
// The AD bit covers the whole answer (RFC 4035, Section 3.2.3): a CNAME
// chain in which any name is outside a signed zone, such as an alias
// into an unsigned zone, is answered without it.
//
// Spec note: a validating resolver may set AD on a query with CD=1 for
// data it has validated before (RFC 4035, Section 3.2.3 leaves it open);
// the harness never does, so that a client that sets CD, and so would
// accept bogus data, cannot pass for one that does not.
func (s *Server) Signed(zone string) *Server {
	return s.markZone(zone, true)
}

// Unsigned marks zone, and every name below it not in a zone marked by
// Signed further down, as unsigned: answers without the AD bit, as for an
// insecure delegation (or an NSEC3 opt-out) from a signed parent. Without
// any mark every name is unsigned; Unsigned is for carving an unsigned
// sub-zone out of a signed one.
func (s *Server) Unsigned(zone string) *Server {
	return s.markZone(zone, false)
}

func (s *Server) markZone(zone string, signed bool) *Server {
	z := fqdn(zone) // "." for the root
	s.mu.Lock()
	defer s.mu.Unlock()
	s.zones[z] = signed
	return s
}

// IsSigned reports whether the server answers for name (trailing dot
// optional, any case) as for a name in a signed zone.
func (s *Server) IsSigned(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signed(fqdn(name))
}

// signed reports whether name (lower case, fully qualified) is in a
// signed zone: the nearest zone mark at or above it says. s.mu is held.
func (s *Server) signed(name string) bool {
	if len(s.zones) == 0 {
		return false
	}
	for n := name; ; {
		if signed, ok := s.zones[n]; ok {
			return signed
		}
		if n == "." {
			return false
		}
		i := strings.IndexByte(n, '.')
		if i == len(n)-1 {
			n = "."
		} else {
			n = n[i+1:]
		}
	}
}

// Bogus makes the server treat the data of name as failing DNSSEC
// validation, for the query types given or, with none, for every type: a
// query for (name, type) is answered SERVFAIL with no records, as a
// validating resolver reports bogus data, and so is a query whose CNAME
// chain passes through name. A query with the CD
// bit gets the data as if nothing were wrong, without AD, as from a
// resolver asked not to check (RFC 4035, Section 3.2.2); a client that
// sets CD thus accepts bogus data, which a test can catch.
//
// Bogus adds to the types already bogus for name and keeps any EDE code
// set by BogusEDE; DNSFault(name, DNSNormal) undoes both. DNSFault,
// DNSRcode and ADWithRcode take precedence over it.
func (s *Server) Bogus(name string, qtypes ...uint16) *Server {
	return s.bogusEDE(name, noEDE, qtypes)
}

// BogusEDE is Bogus with an RFC 8914 Extended DNS Error option of the
// given INFO-CODE in the SERVFAIL answers, for queries that have EDNS0
// (an answer to a query without it has no OPT record to carry one): 6,
// dns.ExtendedErrorCodeDNSBogus, is "DNSSEC Bogus"; 7 "Signature
// Expired"; 9 "DNSKEY Missing"; 10 "RRSIGs Missing" (github.com/miekg/dns
// names them all).
func (s *Server) BogusEDE(name string, code uint16, qtypes ...uint16) *Server {
	return s.bogusEDE(name, int(code), qtypes)
}

func (s *Server) bogusEDE(name string, ede int, qtypes []uint16) *Server {
	n := fqdn(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(qtypes) == 0 {
		qtypes = []uint16{anyType}
	}
	for _, t := range qtypes {
		s.bogus[rrKey{n, t}] = ede
	}
	// One EDE code per name: the last one set.
	for k := range s.bogus {
		if k.name == n {
			s.bogus[k] = ede
		}
	}
	return s
}

// clearBogus forgets the Bogus marks of name. s.mu is held.
func (s *Server) clearBogus(name string) {
	for k := range s.bogus {
		if k.name == name {
			delete(s.bogus, k)
		}
	}
}

// bogusAt reports whether the data of name for qtype is bogus, and the
// EDE code to send. s.mu is held.
func (s *Server) bogusAt(name string, qtype uint16) (bool, int) {
	if len(s.bogus) == 0 {
		return false, noEDE
	}
	if ede, ok := s.bogus[rrKey{name, qtype}]; ok {
		return true, ede
	}
	if ede, ok := s.bogus[rrKey{name, anyType}]; ok {
		return true, ede
	}
	return false, noEDE
}

// ADWithRcode makes the server answer every query for name, of any type,
// with rcode (0 to 15) and the AD bit set, whatever the query asked and
// whatever zone name is in, with nothing in the answer and authority
// sections: a hostile or broken resolver claiming to have validated a
// failure, such as REFUSED or FORMERR with AD=1, for testing that a client
// believes the rcode and not the bit. It replaces any DNSFault or
// DNSRcode; DNSFault(name, DNSNormal) undoes it.
func (s *Server) ADWithRcode(name string, rcode int) *Server {
	return s.setRcode("ADWithRcode", name, rcode, true)
}

// validate plays the validating resolver's part on an answer filled by
// answer: SERVFAIL for bogus data, the AD bit for data wholly from signed
// zones. chain is what answer returned. s.mu is held.
func (s *Server) validate(resp, req *dns.Msg, chain []string, qtype uint16) {
	if resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError {
		return // a loop answered SERVFAIL
	}
	opt := req.IsEdns0()
	if req.CheckingDisabled {
		return // unvalidated data, never AD
	}
	for _, n := range chain {
		bad, ede := s.bogusAt(n, qtype)
		if !bad && qtype != dns.TypeCNAME && len(s.records[rrKey{n, dns.TypeCNAME}]) > 0 {
			// An alias: its data in the answer is its CNAME.
			bad, ede = s.bogusAt(n, dns.TypeCNAME)
		}
		if bad {
			resp.Rcode = dns.RcodeServerFailure
			resp.Answer, resp.Ns = nil, nil
			if ede != noEDE && opt != nil {
				ro := resp.IsEdns0()
				ro.Option = append(ro.Option, &dns.EDNS0_EDE{InfoCode: uint16(ede)})
			}
			return
		}
	}
	if !req.AuthenticatedData && (opt == nil || !opt.Do()) {
		return
	}
	for _, n := range chain {
		if !s.signed(n) {
			return
		}
	}
	resp.AuthenticatedData = len(chain) > 0
}
