package mtaststest

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// DNSFault makes the DNS server misbehave for one name.
type DNSFault int

const (
	// DNSNormal answers from the records (the default).
	DNSNormal DNSFault = iota
	// DNSServFail answers SERVFAIL.
	DNSServFail
	// DNSRefused answers REFUSED.
	DNSRefused
	// DNSTimeout never answers, over UDP or TCP.
	DNSTimeout
	// DNSTruncate answers over UDP with the TC bit and no records, so
	// that the client must ask again over TCP, where it gets the records.
	DNSTruncate
)

// rrKey names an RRset.
type rrKey struct {
	name  string // lower case, fully qualified
	rtype uint16
}

// set replaces the RRset (name, rtype) with rrs, or deletes it if rrs is
// empty.
func (s *Server) set(name string, rtype uint16, rrs []dns.RR) {
	k := rrKey{fqdn(name), rtype}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(rrs) == 0 {
		delete(s.records, k)
		return
	}
	s.records[k] = rrs
}

// add appends rr to its RRset.
func (s *Server) add(rr dns.RR) {
	h := rr.Header()
	h.Name = fqdn(h.Name)
	k := rrKey{h.Name, h.Rrtype}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[k] = append(slices.Clip(s.records[k]), rr)
}

func hdr(name string, rtype uint16) dns.RR_Header {
	return dns.RR_Header{Name: fqdn(name), Rrtype: rtype, Class: dns.ClassINET, Ttl: 300}
}

// TXT replaces the TXT records of name with one record per value. A value
// longer than 255 bytes is split into several character-strings, which a
// resolver joins again. With no values, the TXT records of name are
// removed.
func (s *Server) TXT(name string, values ...string) *Server {
	rrs := make([]dns.RR, 0, len(values))
	for _, v := range values {
		rrs = append(rrs, &dns.TXT{Hdr: hdr(name, dns.TypeTXT), Txt: txtStrings(v)})
	}
	s.set(name, dns.TypeTXT, rrs)
	return s
}

// TXTStrings adds to name one TXT record made of exactly the given
// character-strings (each at most 255 bytes), for tests of how a client
// joins them.
func (s *Server) TXTStrings(name string, strs ...string) *Server {
	esc := make([]string, 0, len(strs))
	for _, v := range strs {
		if len(v) > 255 {
			s.fail("TXT string of %d bytes for %s: at most 255", len(v), name)
			return s
		}
		esc = append(esc, escapeTXT(v))
	}
	s.add(&dns.TXT{Hdr: hdr(name, dns.TypeTXT), Txt: esc})
	return s
}

// txtStrings splits v into character-strings of at most 255 bytes, in the
// escaped form miekg/dns packs.
func txtStrings(v string) []string {
	var out []string
	for len(v) > 255 {
		out = append(out, escapeTXT(v[:255]))
		v = v[255:]
	}
	return append(out, escapeTXT(v))
}

// escapeTXT protects the one byte miekg/dns interprets when it packs a TXT
// string, the backslash.
func escapeTXT(v string) string { return strings.ReplaceAll(v, `\`, `\\`) }

// MX adds an MX record to domain. Host "." makes a null MX (RFC 7505).
func (s *Server) MX(domain string, pref uint16, host string) *Server {
	s.add(&dns.MX{Hdr: hdr(domain, dns.TypeMX), Preference: pref, Mx: dns.Fqdn(host)})
	return s
}

// A adds an address record to name: A for an IPv4 address, AAAA for IPv6.
func (s *Server) A(name, ip string) *Server {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		s.fail("A %s: %v", name, err)
		return s
	}
	if a.Is4() {
		s.add(&dns.A{Hdr: hdr(name, dns.TypeA), A: a.AsSlice()})
	} else {
		s.add(&dns.AAAA{Hdr: hdr(name, dns.TypeAAAA), AAAA: a.AsSlice()})
	}
	return s
}

// CNAME makes name an alias of target, replacing any CNAME it had. The
// server follows CNAME chains in its answers, as a recursive resolver does.
func (s *Server) CNAME(name, target string) *Server {
	s.set(name, dns.TypeCNAME, []dns.RR{&dns.CNAME{Hdr: hdr(name, dns.TypeCNAME), Target: fqdn(target)}})
	return s
}

// RR adds records written in zone-file syntax, for anything the other
// methods do not cover:
//
//	s.RR(`_mta-sts.example.test. 60 IN TXT "v=STSv1; " "id=1"`)
func (s *Server) RR(records ...string) *Server {
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil || rr == nil {
			s.fail("RR %q: %v", r, err)
			continue
		}
		s.add(rr)
	}
	return s
}

// Delete removes every record of name, of any type.
func (s *Server) Delete(name string) *Server {
	n := fqdn(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.records {
		if k.name == n {
			delete(s.records, k)
		}
	}
	return s
}

// DNSFault makes the DNS server misbehave for queries of name, of any
// type, in place of any DNSRcode or ADWithRcode; DNSNormal undoes them all,
// and Bogus too.
func (s *Server) DNSFault(name string, f DNSFault) *Server {
	n := fqdn(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.rcodes, n)
	delete(s.adRcodes, n)
	if f == DNSNormal {
		delete(s.faults, n)
		s.clearBogus(n)
	} else {
		s.faults[n] = f
	}
	return s
}

// DNSRcode makes the DNS server answer every query for name, of any type,
// with the response code rcode (0 to 15, RFC 1035, Section 4.1.1, and the
// IANA DNS RCODEs registry; github.com/miekg/dns names them, such as
// dns.RcodeNotImplemented) and nothing in the answer and authority
// sections, in place of any DNSFault or ADWithRcode. It is for codes
// DNSFault has no switch for; DNSFault(name, DNSNormal) undoes it. Its
// answers never have the AD bit, whatever zone name is in.
func (s *Server) DNSRcode(name string, rcode int) *Server {
	return s.setRcode("DNSRcode", name, rcode, false)
}

// setRcode is DNSRcode (ad false) and ADWithRcode (ad true), which op
// names in its failure: each replaces the other and any DNSFault.
func (s *Server) setRcode(op, name string, rcode int, ad bool) *Server {
	if rcode < 0 || rcode > 15 {
		s.fail("%s %s: rcode %d is not a 4-bit header code", op, name, rcode)
		return s
	}
	n := fqdn(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.faults, n)
	if ad {
		delete(s.rcodes, n)
		s.adRcodes[n] = rcode
	} else {
		delete(s.adRcodes, n)
		s.rcodes[n] = rcode
	}
	return s
}

// CNAMEMode chooses how the DNS server answers a query for an alias.
type CNAMEMode int

const (
	// CNAMEChain puts the whole chain in one answer, as a recursive
	// resolver does: every CNAME from the name asked to the records at
	// its end (the default). A chain that loops is answered SERVFAIL, as
	// by a resolver that detects the loop.
	CNAMEChain CNAMEMode = iota
	// CNAMEChainLoops is CNAMEChain, except that a loop is answered as it
	// is: NOERROR with the chain up to and including the CNAME that comes
	// back to a name already in it, as from a resolver that does not
	// check, for testing a client's own loop detection.
	CNAMEChainLoops
	// CNAMEOneLink answers with the CNAME of the name asked and nothing
	// else, as an authoritative server whose target is out of its zone
	// does: the client must ask again for the target, one query per link.
	CNAMEOneLink
)

// CNAMEMode sets how the DNS server answers queries for aliases, for
// every name.
func (s *Server) CNAMEMode(m CNAMEMode) *Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cnames = m
	return s
}

// StrayReplies makes the DNS server send, before each answer over UDP, n
// replies to the same question with another ID, NXDOMAIN and no records:
// what late answers to earlier queries, or an off-path forger's guesses,
// look like. A client must ignore them and wait for the reply with its own
// ID (RFC 1035, Section 4.1.1); one that does not sees NXDOMAIN. 0, the
// default, sends none; TCP answers never have any.
func (s *Server) StrayReplies(n int) *Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.strays = min(max(n, 0), 1<<16-1)
	return s
}

// OnQuery makes the DNS server call f with the name (lower case, with a
// trailing dot) and type ("TXT", "MX", ...) of every query it receives,
// before it looks at its records or faults, so that f may change them for
// that very query. f runs on the server's goroutine without the server's
// lock, so it may call any setup method; a DNSTimeout query is reported
// too, which lets a test act while the query is in flight. nil removes f.
func (s *Server) OnQuery(f func(name, rrtype string)) *Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onQuery = f
	return s
}

// DefaultSOAMinimum is the TTL and MINIMUM of the SOA record in the
// harness's negative answers, unless Server.NegativeTTL or
// Server.NegativeSOA changes them.
const DefaultSOAMinimum = 300 * time.Second

// NegativeTTL sets the TTL and MINIMUM of the SOA record that the DNS server
// puts in the authority section of NXDOMAIN and NODATA answers: how long a
// resolver may cache "no such record" (RFC 2308, Section 5). The default is
// DefaultSOAMinimum; a negative d sends no SOA at all. Whole seconds only.
func (s *Server) NegativeTTL(d time.Duration) *Server {
	return s.NegativeSOA(d, d)
}

// NegativeSOA is NegativeTTL with the SOA record's TTL and its MINIMUM
// field set apart: a resolver should cache a negative answer for the
// lesser of the two (RFC 2308, Section 5). If either is negative, no SOA
// is sent. Whole seconds only.
func (s *Server) NegativeSOA(ttl, minimum time.Duration) *Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.negTTL, s.negMin = ttl, minimum
	return s
}

// maxChase bounds the CNAME links the server follows in one answer.
const maxChase = 16

// serveDNS answers one query like a validating recursive resolver in front
// of the harness records: the CNAME chain in full, NXDOMAIN for names that
// do not exist (neither records nor records below them), NODATA otherwise,
// with the AD bit for answers wholly from signed zones (see Server.Signed).
func (s *Server) serveDNS(w dns.ResponseWriter, req *dns.Msg) {
	udp := w.LocalAddr().Network() == "udp"
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.RecursionAvailable = true
	resp.Compress = true
	reqOpt := req.IsEdns0()
	if reqOpt != nil {
		// RFC 3225, Section 3: the DO bit of the query is copied into the
		// response.
		resp.SetEdns0(dns.DefaultMsgSize, reqOpt.Do())
	}
	if len(req.Question) != 1 {
		resp.Rcode = dns.RcodeFormatError
		w.WriteMsg(resp)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)

	s.mu.Lock()
	s.queries[rrKey{name, q.Qtype}]++
	s.totalQueries++
	if !udp {
		s.tcpQueries++
	}
	onQuery := s.onQuery
	s.mu.Unlock()
	if onQuery != nil {
		onQuery(name, dns.Type(q.Qtype).String())
	}

	s.mu.Lock()
	fault := s.faults[name]
	rcode, forced := s.rcodes[name]
	adRcode, adForced := s.adRcodes[name]
	strays := s.strays
	switch {
	case forced:
		resp.Rcode = rcode
	case adForced:
		resp.Rcode = adRcode
		resp.AuthenticatedData = true
	case fault == DNSServFail:
		resp.Rcode = dns.RcodeServerFailure
	case fault == DNSRefused:
		resp.Rcode = dns.RcodeRefused
	case fault == DNSTimeout:
		s.mu.Unlock()
		return
	default:
		chain := s.answer(resp, name, q.Qtype)
		s.validate(resp, req, chain, q.Qtype)
	}
	s.mu.Unlock()

	if udp {
		if fault == DNSTruncate {
			resp.Answer = nil
			resp.Truncated = true
		} else {
			size := dns.MinMsgSize
			if reqOpt != nil {
				size = int(reqOpt.UDPSize())
			}
			resp.Truncate(size)
		}
		for i := range strays {
			stray := new(dns.Msg)
			stray.SetRcode(req, dns.RcodeNameError)
			stray.Id = req.Id + 1 + uint16(i) // never req.Id: i < 65535
			w.WriteMsg(stray)
		}
	}
	w.WriteMsg(resp)
}

// answer fills resp for (name, qtype) and returns the names whose data the
// answer holds: the owner of each CNAME in it, then the name where the
// chain ended (with records, or denied), unless the chain was cut short.
// s.mu is held.
func (s *Server) answer(resp *dns.Msg, name string, qtype uint16) []string {
	seen := map[string]bool{}
	var chain []string
	for range maxChase {
		seen[name] = true
		chain = append(chain, name)
		if rrs := s.records[rrKey{name, qtype}]; len(rrs) > 0 {
			resp.Answer = append(resp.Answer, rrs...)
			return chain
		}
		cn := s.records[rrKey{name, dns.TypeCNAME}]
		if qtype == dns.TypeCNAME || len(cn) == 0 {
			break
		}
		resp.Answer = append(resp.Answer, cn[0])
		if s.cnames == CNAMEOneLink {
			return chain
		}
		// Targets written with RR keep their case; records are keyed
		// lower case.
		name = strings.ToLower(cn[0].(*dns.CNAME).Target)
		if seen[name] {
			if s.cnames == CNAMEChainLoops {
				return chain
			}
			// A loop: a resolver gives up.
			resp.Rcode = dns.RcodeServerFailure
			resp.Answer = nil
			return chain
		}
	}
	if !s.exists(name) {
		resp.Rcode = dns.RcodeNameError
	}
	if s.negTTL >= 0 && s.negMin >= 0 {
		labels := dns.SplitDomainName(name)
		apex := dns.Fqdn(strings.Join(labels[max(0, len(labels)-2):], "."))
		resp.Ns = append(resp.Ns, &dns.SOA{
			Hdr: dns.RR_Header{Name: apex, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: uint32(s.negTTL / time.Second)},
			Ns:  "ns." + apex, Mbox: "hostmaster." + apex,
			Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: uint32(s.negMin / time.Second),
		})
	}
	return chain
}

// exists reports whether name has records or names below it (an empty
// non-terminal, like example.test under _mta-sts.example.test). s.mu is
// held.
func (s *Server) exists(name string) bool {
	for k := range s.records {
		if k.name == name || strings.HasSuffix(k.name, "."+name) {
			return true
		}
	}
	return false
}
