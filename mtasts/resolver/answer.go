package resolver

import (
	"cmp"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/strictmx/strictmx/internal/domain"
)

// This file reads answers: what one response says about a query, and what
// its records hold. Nothing here does I/O; every function works on a
// *dns.Msg or its records, bounds its work by the limits below, and can be
// tested with hand-built messages.

// Limits on what a Stub accepts from its servers. They keep a hostile
// server or resolver from making a lookup cost unbounded memory or time.
const (
	// maxAnswerRRs is the most answer-section records one response may
	// hold.
	maxAnswerRRs = 1000
	// maxTXTBytes is the most TXT data, decoded, that one lookup returns.
	maxTXTBytes = 64 << 10
	// maxCNAMEs is the longest CNAME chain followed, across responses.
	maxCNAMEs = 8
	// maxEDEText is the most bytes of an Extended DNS Error's EXTRA-TEXT
	// kept.
	maxEDEText = 255
)

// reading is what one response says about a query for (qname, qtype).
type reading struct {
	// rrs are the records of qtype at the end of the CNAME chain that
	// starts at qname, when the chain ends in the response.
	rrs []dns.RR
	// next is the name to ask next when the chain goes on outside the
	// response, and chain the names passed so far, next last.
	next  string
	chain []string
	// target is the name, lower case and fully qualified, where the
	// chain ended within the response: the owner of rrs, or the name
	// denied by NXDOMAIN or NODATA. It is empty when next is set.
	target string
	// ttl is how long the outcome may be cached, in seconds: the least
	// TTL of the answer records, or for NXDOMAIN and NODATA the
	// negative-caching time (negativeTTL) if that is less.
	ttl uint32
	// authenticated is the response's AD bit (RFC 4035, Section 3.2.3).
	authenticated bool
}

// result is what a lookup learned from all the responses it used, its
// CNAME chain followed to the end.
type result struct {
	// rrs are the records of the type asked for, on success.
	rrs []dns.RR
	// target is the end of the CNAME chain (see reading), lower case
	// and fully qualified, on success and for NXDOMAIN and NODATA.
	target string
	// ttl is the least ttl of the readings, in seconds; 0 after a
	// failure other than NXDOMAIN or NODATA.
	ttl uint32
	// authenticated is set when every response used had the AD bit set,
	// for a later DNSSEC-aware lookup (TLSA for DANE, RFC 7672); it means
	// something only on a trusted path to a validating resolver (RFC 4035,
	// Section 4.9.3).
	authenticated bool
}

// newResult returns the result of a lookup before its first response.
func newResult() result {
	return result{ttl: math.MaxUint32, authenticated: true}
}

// fold adds to res what one more response said: rd, or err when readAnswer
// (or the exchange) failed. A failure other than NXDOMAIN or NODATA leaves
// no TTL and no authentication; otherwise the least TTL is kept and the AD
// bit must have been set on every response.
func (res *result) fold(rd reading, err *net.DNSError) {
	if err != nil && !err.IsNotFound {
		*res = result{}
		return
	}
	res.ttl = min(res.ttl, rd.ttl)
	res.authenticated = res.authenticated && rd.authenticated
	if rd.target != "" {
		res.target = rd.target
	}
	if err == nil && rd.next == "" {
		res.rrs = rd.rrs
	}
}

// readAnswer interprets m, the response to a query for (qname, qtype).
// chain holds the names the lookup has passed so far, qname last, and is
// used to catch loops and overlong chains.
//
// It returns the records of qtype at the end of the CNAME chain that
// starts at qname; or, when the chain leaves the answer, the name to ask
// next and the longer chain; or an error for everything else (NXDOMAIN and
// NODATA with IsNotFound set, and then the reading's ttl and authenticated
// are still set). The error's Name and Server are left for the caller.
func readAnswer(m *dns.Msg, qname string, qtype uint16, chain []string) (reading, *net.DNSError) {
	// QR marks a response (RFC 1035, Section 4.1.1). The exchange has
	// matched the ID to the query's; a reply is accepted only for the
	// question asked too, as a forger must guess both.
	//
	// Spec note: a response with no question section is read, not
	// refused.
	if !m.Response {
		return reading{}, &net.DNSError{Err: errTextMalformed + ": not a response"}
	}
	if len(m.Question) > 1 || len(m.Question) == 1 &&
		(m.Question[0].Qtype != qtype || !strings.EqualFold(m.Question[0].Name, qname)) {
		return reading{}, &net.DNSError{Err: errTextMalformed + ": answer to another question"}
	}
	if m.Truncated {
		// Only after TCP: the full answer is not to be had.
		return reading{}, &net.DNSError{Err: errTextMalformed + ": truncated", IsTemporary: true}
	}
	notFound := reading{target: qname, ttl: min(answerTTL(m), negativeTTL(m)), authenticated: m.AuthenticatedData}
	// RCODE values: RFC 1035, Section 4.1.1.
	switch m.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		if m.AuthenticatedData && hasType(m, qtype) {
			// An authenticated denial that holds the records it denies:
			// the rcode and the AD bit cannot both be believed.
			return reading{}, &net.DNSError{Err: ErrInconsistent.Error(), UnwrapErr: ErrInconsistent}
		}
		// The rcode is that of the last name of a CNAME chain in the
		// answer (RFC 6604, Section 3).
		notFound.target = chainEnd(m, qname)
		return notFound, &net.DNSError{Err: errTextNXDOMAIN, UnwrapErr: ErrNXDOMAIN, IsNotFound: true}
	case dns.RcodeServerFailure:
		if ede := extendedError(m); ede != nil {
			return reading{}, &net.DNSError{Err: errTextSERVFAIL + ": " + ede.Error(), UnwrapErr: ede, IsTemporary: true}
		}
		return reading{}, &net.DNSError{Err: errTextSERVFAIL, IsTemporary: true}
	case dns.RcodeRefused:
		return reading{}, &net.DNSError{Err: errTextREFUSED}
	default:
		return reading{}, &net.DNSError{Err: errTextRcode + dns.RcodeToString[m.Rcode]}
	}
	if len(m.Answer) > maxAnswerRRs {
		return reading{}, &net.DNSError{Err: ErrAnswerTooLarge.Error(), UnwrapErr: ErrAnswerTooLarge}
	}

	name := qname
	// Each round returns or adds a name to chain, which is kept to
	// maxCNAMEs+1 names.
	for {
		var rrs []dns.RR
		for _, rr := range m.Answer {
			h := rr.Header()
			if h.Rrtype == qtype && h.Class == dns.ClassINET && strings.EqualFold(h.Name, name) {
				rrs = append(rrs, rr)
			}
		}
		if len(rrs) > 0 {
			return reading{rrs: rrs, target: name, ttl: answerTTL(m), authenticated: m.AuthenticatedData}, nil
		}
		target := cnameTarget(m, name)
		if target == "" {
			if name == qname {
				return notFound, &net.DNSError{Err: errTextNODATA, UnwrapErr: ErrNODATA, IsNotFound: true}
			}
			// The chain goes on outside this answer: ask for its end.
			return reading{next: name, chain: chain, ttl: answerTTL(m), authenticated: m.AuthenticatedData}, nil
		}
		// RFC 1034, Section 3.6.2: "CNAME chains should be followed and
		// CNAME loops signalled as an error."
		if slices.Contains(chain, target) {
			return reading{}, &net.DNSError{Err: ErrCNAMELoop.Error(), UnwrapErr: ErrCNAMELoop}
		}
		if len(chain) > maxCNAMEs {
			return reading{}, &net.DNSError{Err: ErrCNAMEChainTooLong.Error(), UnwrapErr: ErrCNAMEChainTooLong}
		}
		chain = append(chain[:len(chain):len(chain)], target)
		name = target
	}
}

// cnameTarget returns the target, lower case, of the first CNAME record in
// m's answer section owned by name, or "" if there is none.
func cnameTarget(m *dns.Msg, name string) string {
	for _, rr := range m.Answer {
		if c, ok := rr.(*dns.CNAME); ok && c.Hdr.Class == dns.ClassINET && strings.EqualFold(c.Hdr.Name, name) {
			return strings.ToLower(c.Target)
		}
	}
	return ""
}

// chainEnd returns the last name, lower case, of the CNAME chain that
// starts at qname in m's answer section, following at most maxCNAMEs links
// and stopping before a name already passed.
func chainEnd(m *dns.Msg, qname string) string {
	name := qname
	for range maxCNAMEs {
		target := cnameTarget(m, name)
		if target == "" || target == qname || target == name {
			break
		}
		name = target
	}
	return name
}

// hasType reports whether m's answer section holds a record of qtype.
func hasType(m *dns.Msg, qtype uint16) bool {
	for _, rr := range m.Answer {
		if rr.Header().Rrtype == qtype {
			return true
		}
	}
	return false
}

// extendedError returns the first RFC 8914 Extended DNS Error option of
// m's OPT record, or nil if it has none.
func extendedError(m *dns.Msg) *ExtendedError {
	opt := m.IsEdns0()
	if opt == nil {
		return nil
	}
	for _, o := range opt.Option {
		if e, ok := o.(*dns.EDNS0_EDE); ok {
			text := e.ExtraText
			if len(text) > maxEDEText {
				text = text[:maxEDEText]
			}
			return &ExtendedError{Code: e.InfoCode, Text: text}
		}
	}
	return nil
}

// answerTTL returns the least TTL in the answer section of m, or the
// largest uint32 if it is empty.
func answerTTL(m *dns.Msg) uint32 {
	ttl := uint32(math.MaxUint32)
	for _, rr := range m.Answer {
		ttl = min(ttl, rr.Header().Ttl)
	}
	return ttl
}

// negativeTTL returns how long a negative answer may be cached (RFC 2308,
// Section 5): the lesser of the SOA record's TTL and its MINIMUM field, or
// 0 when the authority section holds no SOA, since "Negative responses
// without SOA records SHOULD NOT be cached" (RFC 2308, Section 5).
func negativeTTL(m *dns.Msg) uint32 {
	for _, rr := range m.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return min(soa.Hdr.Ttl, soa.Minttl)
		}
	}
	return 0
}

// queryName checks name and returns it lower case and fully qualified.
// Letters, digits, hyphens and underscores are allowed in labels
// (`_mta-sts`), nothing else; labels and the name are kept to the sizes of
// RFC 1035, Section 2.3.4. It checks the names asked for and the MX hosts
// found.
func queryName(name string) (string, bool) {
	n := strings.TrimSuffix(name, ".")
	if !domain.ValidDNSName(n) {
		return "", false
	}
	return strings.ToLower(n) + ".", true
}

// txtStrings turns TXT records (RFC 1035, Section 3.3.14) into one string
// per record, the record's character-strings concatenated, decoded from
// miekg/dns's presentation escapes back to the bytes on the wire. It fails
// with ErrAnswerTooLarge when the total passes limit bytes.
//
// Spec note: RFC 1035 defines TXT data as one or more character-strings
// and says nothing of joining them; joining with no separator is the
// reading RFC 7208, Section 3.3 prescribes for SPF, and what MTA-STS and
// TLS-RPT records need when longer than 255 bytes.
func txtStrings(rrs []dns.RR, limit int) ([]string, error) {
	out := make([]string, 0, len(rrs))
	total := 0
	var b strings.Builder
	for _, rr := range rrs {
		t, ok := rr.(*dns.TXT)
		if !ok {
			continue
		}
		b.Reset()
		for _, s := range t.Txt {
			if !unescapeTXT(&b, s, limit-total-b.Len()) {
				return nil, ErrAnswerTooLarge
			}
		}
		total += b.Len()
		out = append(out, b.String())
	}
	return out, nil
}

// unescapeTXT writes s to b with the escapes miekg/dns adds to TXT strings
// undone (\DDD is the byte DDD, \X is X). It reports false if that would
// take more than room bytes. What it wrote before finding that out stays
// in b; the caller discards b then.
func unescapeTXT(b *strings.Builder, s string, room int) bool {
	if !strings.Contains(s, `\`) {
		if len(s) > room {
			return false
		}
		b.WriteString(s)
		return true
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			i++
			c = s[i]
			if isDDD(s[i:]) {
				c = (s[i]-'0')*100 + (s[i+1]-'0')*10 + (s[i+2] - '0')
				i += 2
			}
		}
		n++
		if n > room {
			return false
		}
		b.WriteByte(c)
	}
	return true
}

// isDDD reports whether s begins with three decimal digits.
func isDDD(s string) bool {
	return len(s) >= 3 && '0' <= s[0] && s[0] <= '9' && '0' <= s[1] && s[1] <= '9' && '0' <= s[2] && s[2] <= '9'
}

// mxRecords turns MX records (RFC 1035, Section 3.3.9) into net.MX values
// sorted by preference, answer order kept within one preference. A host
// that is not a usable name (miekg/dns shows odd bytes as escapes) is left
// out; a null MX (RFC 7505, Section 3: preference 0 and host ".") is kept.
// If records were given but none is left, it fails with errNoUsableMX.
func mxRecords(rrs []dns.RR) ([]*net.MX, error) {
	out := make([]*net.MX, 0, len(rrs))
	for _, rr := range rrs {
		m, ok := rr.(*dns.MX)
		if !ok {
			continue
		}
		host := m.Mx
		if host != "." {
			if _, ok := queryName(host); !ok {
				continue
			}
			host = dns.Fqdn(host)
		}
		out = append(out, &net.MX{Host: host, Pref: m.Preference})
	}
	if len(out) == 0 && len(rrs) > 0 {
		return nil, errNoUsableMX
	}
	slices.SortStableFunc(out, func(a, b *net.MX) int { return cmp.Compare(a.Pref, b.Pref) })
	return out, nil
}

// addrRecords returns the addresses of the A (RFC 1035, Section 3.4.1) and
// AAAA (RFC 3596, Section 2.2) records among rrs, in order: IPv4 addresses
// in their 4-byte form, never IPv4-mapped. A record whose address has the
// wrong length (an empty RDATA unpacks to none) is left out; if records
// were given but none is left, it fails with errNoUsableAddr.
func addrRecords(rrs []dns.RR) ([]netip.Addr, error) {
	out := make([]netip.Addr, 0, len(rrs))
	for _, rr := range rrs {
		switch rr := rr.(type) {
		case *dns.A:
			// miekg/dns unpacks 4 bytes; a hand-built record may hold
			// the 16-byte form of the same address.
			if a, ok := netip.AddrFromSlice(rr.A); ok && a.Unmap().Is4() {
				out = append(out, a.Unmap())
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(rr.AAAA); ok && a.Is6() {
				out = append(out, a)
			}
		}
	}
	if len(out) == 0 && len(rrs) > 0 {
		return nil, errNoUsableAddr
	}
	return out, nil
}
