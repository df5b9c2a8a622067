package resolver

import (
	"cmp"
	"context"
	"errors"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/strictmx/strictmx/internal/domain"
)

// DefaultTimeout bounds one DNS exchange (one query to one server over
// one transport) of a Stub whose Timeout is zero.
const DefaultTimeout = 5 * time.Second

// Limits on what a Stub accepts. They keep a hostile server or
// resolver from making a lookup cost unbounded memory or time.
const (
	// dnsUDPSize is the EDNS0 buffer size advertised, the value the DNS
	// Flag Day 2020 settled on to avoid IP fragmentation.
	dnsUDPSize = 1232
	// dnsMaxAnswerRRs is the most answer-section records one response may
	// hold.
	dnsMaxAnswerRRs = 1000
	// dnsMaxTXTBytes is the most TXT data, decoded, that one lookup returns.
	dnsMaxTXTBytes = 64 << 10
	// dnsMaxCNAMEs is the longest CNAME chain followed, across responses.
	dnsMaxCNAMEs = 8
	// dnsMaxStrayReplies is the most UDP replies with a wrong ID ignored
	// while waiting for the right one.
	dnsMaxStrayReplies = 16
	// dnsDefaultServer is used when /etc/resolv.conf names no server.
	dnsDefaultServer = "127.0.0.1:53"
)

// DNS answer errors. A Stub returns them inside a *net.DNSError
// (errors.Is finds them) whose IsNotFound is false: the answer cannot be
// used, so the outcome is temporary, as for SERVFAIL. A caller should
// treat the name as unresolvable for now and try again later.
var (
	// ErrAnswerTooLarge means a response held more records or more
	// TXT data than a Stub accepts.
	ErrAnswerTooLarge = errors.New("resolver: dns answer too large")
	// ErrCNAMELoop means a CNAME chain came back to a name it had
	// already passed.
	ErrCNAMELoop = errors.New("resolver: cname loop")
	// ErrCNAMEChainTooLong means a CNAME chain was longer than a
	// Stub follows.
	ErrCNAMEChainTooLong = errors.New("resolver: cname chain too long")
)

// Absence, as Stub reports it: inside a *net.DNSError with
// IsNotFound set, so that a caller can tell a name that does not exist from
// one without records of the type asked for (errors.Is finds them). Other
// resolvers, such as *net.Resolver, set only IsNotFound.
var (
	// ErrNXDOMAIN means the name does not exist.
	ErrNXDOMAIN = errors.New("resolver: no such domain")
	// ErrNODATA means the name exists but has no records of the type.
	// For MX that makes the domain its own implicit MX (RFC 5321,
	// Section 5.1).
	ErrNODATA = errors.New("resolver: no records of this type")
)

// errDNSNoUsableMX means an MX answer had records but none with a usable
// host name.
var errDNSNoUsableMX = errors.New("resolver: no usable mx host in dns answer")

// Err texts of the *net.DNSError values a Stub returns, in the
// words the net package uses where it has them.
const (
	errTextNXDOMAIN  = "no such host"
	errTextNODATA    = "no such record"
	errTextSERVFAIL  = "server misbehaving"
	errTextREFUSED   = "refused"
	errTextTimeout   = "i/o timeout"
	errTextCanceled  = "operation was canceled"
	errTextMalformed = "malformed dns answer"
	errTextBadName   = "invalid domain name"
)

// Stub is the default Resolver and MXResolver: a stub resolver on
// github.com/miekg/dns that sends recursive queries to the configured
// servers.
//
// Every query carries EDNS0 with a 1232-byte buffer and the RD bit; an answer
// truncated over UDP is asked again over TCP from the same server. When a
// server fails (timeout, SERVFAIL, REFUSED, any other error code, a
// malformed or unusable answer), the next server is tried, in order. CNAME
// chains are followed, within an answer and across queries, up to 8 links;
// a loop or a longer chain is an error. One response may hold at most 1000
// answer records and a lookup returns at most 64 KiB of TXT data; beyond
// that the lookup fails with ErrAnswerTooLarge.
//
// Errors are *net.DNSError values, as from *net.Resolver: IsNotFound means
// NXDOMAIN or NODATA, a final "absent"; anything else is temporary, with
// IsTimeout set for timeouts and IsTemporary for timeouts and SERVFAIL.
// errors.Is sees context.Canceled and context.DeadlineExceeded, and the
// answer errors above, through the *net.DNSError.
//
// The zero value is ready to use. A Stub is safe for concurrent use;
// do not change its fields after first use.
type Stub struct {
	// Servers are the addresses ("host:port") of the recursive resolvers
	// to ask, in order. A missing port means 53. Empty means the
	// nameservers of /etc/resolv.conf, read once on first use, or
	// 127.0.0.1:53 if it names none.
	Servers []string

	// Timeout bounds one exchange with one server over one transport.
	// Zero means DefaultTimeout. The caller's context can shorten it.
	Timeout time.Duration

	once    sync.Once
	servers []string
}

// LookupTXT returns the TXT records of name, one string per record, each
// the concatenation of the record's character-strings with no separator
// (RFC 8461, Section 3.1). A trailing dot on name is optional.
func (r *Stub) LookupTXT(ctx context.Context, name string) ([]string, error) {
	txts, _, err := r.LookupTXTWithTTL(ctx, name)
	return txts, err
}

// LookupTXTWithTTL is LookupTXT that also says how long the outcome may be
// cached: for records, the least TTL of the answer records (CNAMEs
// followed included); for NXDOMAIN and NODATA (an error with IsNotFound),
// the negative-caching time of RFC 2308, Section 5, taken from the SOA
// record the server sent, or 0 if it sent none; for other errors, 0.
func (r *Stub) LookupTXTWithTTL(ctx context.Context, name string) ([]string, time.Duration, error) {
	rrs, ttl, err := r.lookup(ctx, name, dns.TypeTXT)
	d := time.Duration(ttl) * time.Second
	if err != nil {
		return nil, d, err
	}
	txts, err := dnsTXTStrings(rrs, dnsMaxTXTBytes)
	if err != nil {
		return nil, 0, &net.DNSError{Err: err.Error(), UnwrapErr: err, Name: name}
	}
	return txts, d, nil
}

// LookupMX returns the MX records of name sorted by preference, lowest
// first; records of equal preference keep the order of the answer. Hosts
// are fully qualified with a trailing dot, as from *net.Resolver. A null MX
// (RFC 7505: "this domain accepts no mail") is returned as it is, a record
// with host "." and preference 0, for the caller to act on. Records whose
// host is not a usable domain name are left out; if none is left the
// lookup fails. A trailing dot on name is optional.
func (r *Stub) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	rrs, _, err := r.lookup(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	mxs, err := dnsMXRecords(rrs)
	if err != nil {
		return nil, &net.DNSError{Err: err.Error(), UnwrapErr: err, Name: name}
	}
	return mxs, nil
}

func (r *Stub) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return DefaultTimeout
}

// serverList returns the servers to ask, computed once.
func (r *Stub) serverList() []string {
	r.once.Do(func() {
		if len(r.Servers) > 0 {
			r.servers = make([]string, 0, len(r.Servers))
			for _, s := range r.Servers {
				r.servers = append(r.servers, dnsWithPort(s))
			}
			return
		}
		r.servers = dnsResolvConf("/etc/resolv.conf")
	})
	return r.servers
}

// dnsWithPort adds port 53 to a server address that has none.
func dnsWithPort(s string) string {
	if _, _, err := net.SplitHostPort(s); err == nil {
		return s
	}
	return net.JoinHostPort(strings.Trim(s, "[]"), "53")
}

// dnsResolvConf returns the nameservers of a resolv.conf file, or the
// default server if there are none or the file cannot be read.
func dnsResolvConf(path string) []string {
	conf, err := dns.ClientConfigFromFile(path)
	if err != nil || len(conf.Servers) == 0 {
		return []string{dnsDefaultServer}
	}
	port := conf.Port
	if port == "" {
		port = "53"
	}
	servers := make([]string, 0, len(conf.Servers))
	for _, s := range conf.Servers {
		servers = append(servers, net.JoinHostPort(s, port))
	}
	return servers
}

// dnsQueryName checks name and returns it lower case and fully qualified.
// Letters, digits, hyphens and underscores are allowed in labels
// (`_mta-sts`), nothing else.
func dnsQueryName(name string) (string, bool) {
	n := strings.TrimSuffix(name, ".")
	if n == "" || len(n) > domain.MaxLength {
		return "", false
	}
	label := 0
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c == '.':
			if label == 0 {
				return "", false
			}
			label = 0
			continue
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return "", false
		}
		label++
		if label > domain.MaxLabelLength {
			return "", false
		}
	}
	if label == 0 {
		return "", false
	}
	return strings.ToLower(n) + ".", true
}

// lookup resolves (name, qtype), following CNAMEs, and returns the records
// of qtype at the end of the chain, with the time the answer may be cached:
// the least TTL of the answer records of every response used, or for
// NXDOMAIN and NODATA the negative-caching time of RFC 2308, Section 5.
func (r *Stub) lookup(ctx context.Context, name string, qtype uint16) ([]dns.RR, uint32, error) {
	qname, ok := dnsQueryName(name)
	if !ok {
		return nil, 0, &net.DNSError{Err: errTextBadName, UnwrapErr: domain.ErrInvalid, Name: name, IsNotFound: true}
	}
	chain := []string{qname}
	ttl := uint32(math.MaxUint32)
	// Each round either returns or adds at least one name to chain,
	// which readDNSAnswer keeps to dnsMaxCNAMEs+1 names.
	for {
		rrs, next, longer, t, err := r.ask(ctx, qname, qtype, chain)
		ttl = min(ttl, t)
		if err != nil {
			err.Name = name
			if !err.IsNotFound {
				ttl = 0
			}
			return nil, ttl, err
		}
		if next == "" {
			return rrs, ttl, nil
		}
		qname, chain = next, longer
	}
}

// ask queries the servers in order for (qname, qtype) until one gives a
// usable answer, NXDOMAIN or NODATA. It returns what readDNSAnswer returned
// for that answer and the answer's TTL (see lookup), or the last server's
// error.
func (r *Stub) ask(ctx context.Context, qname string, qtype uint16, chain []string) ([]dns.RR, string, []string, uint32, *net.DNSError) {
	q := new(dns.Msg)
	q.SetQuestion(qname, qtype)
	q.RecursionDesired = true
	q.SetEdns0(dnsUDPSize, false)

	var last *net.DNSError
	for _, server := range r.serverList() {
		if err := ctx.Err(); err != nil {
			return nil, "", nil, 0, dnsCtxError(err, server)
		}
		resp, err := r.exchange(ctx, server, q)
		if err != nil {
			last = dnsExchangeError(ctx, err, server)
			continue
		}
		rrs, next, longer, derr := readDNSAnswer(resp, qname, qtype, chain)
		if derr == nil {
			return rrs, next, longer, dnsAnswerTTL(resp), nil
		}
		derr.Server = server
		if derr.IsNotFound {
			return nil, "", nil, min(dnsAnswerTTL(resp), dnsNegativeTTL(resp)), derr
		}
		last = derr
	}
	if last == nil {
		last = &net.DNSError{Err: "no dns servers configured"}
	}
	return nil, "", nil, 0, last
}

// dnsAnswerTTL returns the least TTL in the answer section of m, or the
// largest uint32 if it is empty.
func dnsAnswerTTL(m *dns.Msg) uint32 {
	ttl := uint32(math.MaxUint32)
	for _, rr := range m.Answer {
		ttl = min(ttl, rr.Header().Ttl)
	}
	return ttl
}

// dnsNegativeTTL returns how long a negative answer may be cached
// (RFC 2308, Section 5): the lesser of the SOA record's TTL and its
// MINIMUM field, or 0 when the authority section holds no SOA.
func dnsNegativeTTL(m *dns.Msg) uint32 {
	for _, rr := range m.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return min(soa.Hdr.Ttl, soa.Minttl)
		}
	}
	return 0
}

// exchange sends q to server over UDP, and again over TCP if the answer
// was truncated.
func (r *Stub) exchange(ctx context.Context, server string, q *dns.Msg) (*dns.Msg, error) {
	resp, err := r.exchangeNet(ctx, "udp", server, q)
	if err == nil && resp.Truncated {
		resp, err = r.exchangeNet(ctx, "tcp", server, q)
	}
	return resp, err
}

// exchangeNet does one exchange with server over network, bounded by the
// resolver's Timeout and by ctx: cancelling ctx interrupts the exchange at
// once, not only at the deadline.
func (r *Stub) exchangeNet(ctx context.Context, network, server string, q *dns.Msg) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, server)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	deadline, _ := ctx.Deadline()
	if err := nc.SetDeadline(deadline); err != nil {
		return nil, err
	}
	// A deadline in the past makes pending I/O return at once.
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	co := &dns.Conn{Conn: nc, UDPSize: dnsUDPSize}
	if err := co.WriteMsg(q); err != nil {
		return nil, err
	}
	for range dnsMaxStrayReplies {
		resp, err := co.ReadMsg()
		if err != nil {
			return nil, err
		}
		if resp.Id == q.Id {
			return resp, nil
		}
		if network != "udp" {
			break
		}
		// Over UDP, a reply with another ID may be a late answer to an
		// earlier query; keep waiting for ours.
	}
	return nil, dns.ErrId
}

// dnsCtxError is the error for a lookup stopped by its context.
func dnsCtxError(err error, server string) *net.DNSError {
	e := &net.DNSError{Err: errTextCanceled, UnwrapErr: err, Server: server}
	if errors.Is(err, context.DeadlineExceeded) {
		e.Err, e.IsTimeout, e.IsTemporary = errTextTimeout, true, true
	}
	return e
}

// dnsExchangeError classifies a failed exchange.
func dnsExchangeError(ctx context.Context, err error, server string) *net.DNSError {
	if cerr := ctx.Err(); cerr != nil {
		return dnsCtxError(cerr, server)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		// The connection deadline comes from ctx's deadline when that is
		// sooner, and can fire a moment before ctx reports it.
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			return dnsCtxError(context.DeadlineExceeded, server)
		}
		return &net.DNSError{Err: errTextTimeout, UnwrapErr: err, Server: server, IsTimeout: true, IsTemporary: true}
	}
	var de *dns.Error
	if errors.As(err, &de) {
		// miekg/dns reports a message it cannot unpack as *dns.Error.
		return &net.DNSError{Err: errTextMalformed, UnwrapErr: err, Server: server}
	}
	return &net.DNSError{Err: err.Error(), UnwrapErr: err, Server: server}
}

// readDNSAnswer interprets m, the response to a query for (qname, qtype).
// chain holds the names the lookup has passed so far, qname last, and is
// used to catch loops and overlong chains.
//
// It returns the records of qtype at the end of the CNAME chain that starts
// at qname; or, when the chain leaves the answer, the name to ask next and
// the longer chain; or an error for everything else (NXDOMAIN and NODATA
// with IsNotFound set). It does no I/O and bounds its work by the limits
// above.
func readDNSAnswer(m *dns.Msg, qname string, qtype uint16, chain []string) (rrs []dns.RR, next string, longer []string, err *net.DNSError) {
	if !m.Response {
		return nil, "", nil, &net.DNSError{Err: errTextMalformed + ": not a response"}
	}
	if len(m.Question) > 1 || len(m.Question) == 1 &&
		(m.Question[0].Qtype != qtype || !strings.EqualFold(m.Question[0].Name, qname)) {
		return nil, "", nil, &net.DNSError{Err: errTextMalformed + ": answer to another question"}
	}
	if m.Truncated {
		// Only after TCP: the full answer is not to be had.
		return nil, "", nil, &net.DNSError{Err: errTextMalformed + ": truncated", IsTemporary: true}
	}
	switch m.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return nil, "", nil, &net.DNSError{Err: errTextNXDOMAIN, UnwrapErr: ErrNXDOMAIN, IsNotFound: true}
	case dns.RcodeServerFailure:
		return nil, "", nil, &net.DNSError{Err: errTextSERVFAIL, IsTemporary: true}
	case dns.RcodeRefused:
		return nil, "", nil, &net.DNSError{Err: errTextREFUSED}
	default:
		return nil, "", nil, &net.DNSError{Err: "dns error code " + dns.RcodeToString[m.Rcode]}
	}
	if len(m.Answer) > dnsMaxAnswerRRs {
		return nil, "", nil, &net.DNSError{Err: ErrAnswerTooLarge.Error(), UnwrapErr: ErrAnswerTooLarge}
	}

	name := qname
	// Each round returns or adds a name to chain; chain is bounded.
	for {
		for _, rr := range m.Answer {
			h := rr.Header()
			if h.Rrtype == qtype && h.Class == dns.ClassINET && strings.EqualFold(h.Name, name) {
				rrs = append(rrs, rr)
			}
		}
		if len(rrs) > 0 {
			return rrs, "", nil, nil
		}
		target := ""
		for _, rr := range m.Answer {
			if c, ok := rr.(*dns.CNAME); ok && c.Hdr.Class == dns.ClassINET && strings.EqualFold(c.Hdr.Name, name) {
				target = strings.ToLower(c.Target)
				break
			}
		}
		if target == "" {
			if name == qname {
				return nil, "", nil, &net.DNSError{Err: errTextNODATA, UnwrapErr: ErrNODATA, IsNotFound: true}
			}
			// The chain goes on outside this answer: ask for its end.
			return nil, name, chain, nil
		}
		if slices.Contains(chain, target) {
			return nil, "", nil, &net.DNSError{Err: ErrCNAMELoop.Error(), UnwrapErr: ErrCNAMELoop}
		}
		if len(chain) > dnsMaxCNAMEs {
			return nil, "", nil, &net.DNSError{Err: ErrCNAMEChainTooLong.Error(), UnwrapErr: ErrCNAMEChainTooLong}
		}
		chain = append(chain[:len(chain):len(chain)], target)
		name = target
	}
}

// dnsTXTStrings turns TXT records into one string per record, the record's
// character-strings concatenated, decoded from miekg/dns's presentation
// escapes back to the bytes on the wire. It fails with
// ErrAnswerTooLarge when the total passes limit bytes.
func dnsTXTStrings(rrs []dns.RR, limit int) ([]string, error) {
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
			if !dnsUnescape(&b, s, limit-total-b.Len()) {
				return nil, ErrAnswerTooLarge
			}
		}
		total += b.Len()
		out = append(out, b.String())
	}
	return out, nil
}

// dnsUnescape writes s to b with the escapes miekg/dns adds to TXT
// strings undone (\DDD is the byte DDD, \X is X). It writes nothing and
// reports false if that would take more than room bytes. What it wrote
// before finding that out stays in b; the caller discards b then.
func dnsUnescape(b *strings.Builder, s string, room int) bool {
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
			if dnsIsDDD(s[i:]) {
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

// dnsIsDDD reports whether s begins with three decimal digits.
func dnsIsDDD(s string) bool {
	return len(s) >= 3 && '0' <= s[0] && s[0] <= '9' && '0' <= s[1] && s[1] <= '9' && '0' <= s[2] && s[2] <= '9'
}

// dnsMXRecords turns MX records into net.MX values sorted by preference. A
// host that is not a usable name (miekg/dns shows odd bytes as escapes) is
// left out; a null MX is kept.
func dnsMXRecords(rrs []dns.RR) ([]*net.MX, error) {
	out := make([]*net.MX, 0, len(rrs))
	for _, rr := range rrs {
		m, ok := rr.(*dns.MX)
		if !ok {
			continue
		}
		host := m.Mx
		if host != "." {
			if _, ok := dnsQueryName(host); !ok {
				continue
			}
			host = dns.Fqdn(host)
		}
		out = append(out, &net.MX{Host: host, Pref: m.Preference})
	}
	if len(out) == 0 && len(rrs) > 0 {
		return nil, errDNSNoUsableMX
	}
	slices.SortStableFunc(out, func(a, b *net.MX) int { return cmp.Compare(a.Pref, b.Pref) })
	return out, nil
}
