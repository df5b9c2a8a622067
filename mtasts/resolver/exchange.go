package resolver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// This file does the I/O: which servers to ask, and one query to them over
// UDP, then TCP if the answer was truncated, bounded by the Stub's Timeout
// and the caller's context.

// DefaultTimeout bounds one DNS exchange (one query to one server over one
// transport) of a Stub whose Timeout is zero.
const DefaultTimeout = 5 * time.Second

const (
	// udpSize is the EDNS0 buffer size advertised (RFC 6891, Section
	// 6.2.5), the value the DNS Flag Day 2020 settled on to avoid IP
	// fragmentation.
	udpSize = 1232
	// maxUDPReplies is the most UDP replies read while waiting for the
	// one whose ID is the query's (RFC 1035, Section 4.1.1): up to one
	// less than this many stray replies are ignored.
	maxUDPReplies = 16
	// defaultServer is used when /etc/resolv.conf names no server.
	defaultServer = "127.0.0.1:53"
	// resolvConfPath is where the servers of a Stub without Servers come
	// from.
	resolvConfPath = "/etc/resolv.conf"
)

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
				r.servers = append(r.servers, withPort(s))
			}
		} else {
			r.servers, r.confTrustAD = resolvConf(resolvConfPath)
		}
		r.trusted = r.TrustAD || r.confTrustAD || allLoopback(r.servers)
	})
	return r.servers
}

// allLoopback reports whether every server is an IP address on loopback
// (127.0.0.0/8 or ::1). A host name is not: resolving it would need DNS.
func allLoopback(servers []string) bool {
	for _, s := range servers {
		host, _, err := net.SplitHostPort(s)
		if err != nil {
			return false
		}
		a, err := netip.ParseAddr(host)
		if err != nil || a.Zone() != "" || !a.Unmap().IsLoopback() {
			return false
		}
	}
	return len(servers) > 0
}

// withPort adds port 53 to a server address that has none.
func withPort(s string) string {
	if _, _, err := net.SplitHostPort(s); err == nil {
		return s
	}
	return net.JoinHostPort(strings.Trim(s, "[]"), "53")
}

// maxResolvConf is the most bytes of a resolv.conf file read.
const maxResolvConf = 64 << 10

// resolvConf returns the nameservers of a resolv.conf file, or the default
// server if there are none or the file cannot be read, and whether the file
// has `options trust-ad`: the administrator's word that the servers
// validate DNSSEC and the path to them is trusted, as glibc reads it.
func resolvConf(path string) (servers []string, trustAD bool) {
	data, err := readLimited(path, maxResolvConf)
	if err != nil {
		return []string{defaultServer}, false
	}
	trustAD = hasTrustAD(data)
	conf, err := dns.ClientConfigFromReader(bytes.NewReader(data))
	if err != nil || len(conf.Servers) == 0 {
		return []string{defaultServer}, trustAD
	}
	port := conf.Port
	if port == "" {
		port = "53"
	}
	servers = make([]string, 0, len(conf.Servers))
	for _, s := range conf.Servers {
		servers = append(servers, net.JoinHostPort(s, port))
	}
	return servers, trustAD
}

// readLimited reads at most limit bytes of the file at path.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

// hasTrustAD reports whether resolv.conf data has an options line with
// trust-ad among its options. Comments start with '#' or ';'.
func hasTrustAD(data []byte) bool {
	for line := range strings.Lines(string(data)) {
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) > 1 && f[0] == "options" && slices.Contains(f[1:], "trust-ad") {
			return true
		}
	}
	return false
}

// newQuery returns a recursive query for (qname, qtype) with EDNS0, and
// with the DO bit for a DNSSEC-aware lookup (dnssec true).
//
// The AD bit is set, as RFC 6840, Section 5.7 defines it for queries: the
// sender understands the AD bit and wants it in the response. The DO bit
// (RFC 3225, Section 3) says the sender can take DNSSEC records; a
// validating resolver sets AD for DO queries whatever it makes of the AD
// bit of the query. The CD bit is never set: with it a validating resolver
// passes bogus data on instead of answering SERVFAIL (RFC 4035, Section
// 3.2.2). readAnswer passes the response's AD bit on.
func newQuery(qname string, qtype uint16, dnssec bool) *dns.Msg {
	q := new(dns.Msg)
	q.SetQuestion(qname, qtype)
	q.RecursionDesired = true
	q.AuthenticatedData = true
	q.CheckingDisabled = false
	q.SetEdns0(udpSize, dnssec)
	return q
}

// ask queries the servers in order for (qname, qtype), with the DO bit if
// dnssec is set, until one gives a
// usable answer, NXDOMAIN or NODATA, and returns what readAnswer made of
// that answer, with the error's Server set. When every server fails, it
// returns the last server's error. A server that fails (timeout, SERVFAIL,
// REFUSED, another error code, a malformed or unusable answer) is asked
// once; a cancelled or expired ctx ends the round at once.
func (r *Stub) ask(ctx context.Context, qname string, qtype uint16, chain []string, dnssec bool) (reading, *net.DNSError) {
	q := newQuery(qname, qtype, dnssec)
	var last *net.DNSError
	for _, server := range r.serverList() {
		if err := ctx.Err(); err != nil {
			return reading{}, ctxError(err, server)
		}
		resp, err := r.exchange(ctx, server, q)
		if err != nil {
			last = exchangeError(ctx, err, server)
			continue
		}
		rd, derr := readAnswer(resp, qname, qtype, chain)
		if derr == nil {
			return rd, nil
		}
		derr.Server = server
		if derr.IsNotFound {
			return rd, derr
		}
		last = derr
	}
	if last == nil {
		last = &net.DNSError{Err: errTextNoServers}
	}
	return reading{}, last
}

// exchange sends q to server over UDP, and again over TCP if the answer
// was truncated (RFC 1035, Section 4.2.1: a longer message is truncated
// and the TC bit set).
func (r *Stub) exchange(ctx context.Context, server string, q *dns.Msg) (*dns.Msg, error) {
	resp, err := r.exchangeNet(ctx, "udp", server, q)
	if err == nil && resp.Truncated {
		resp, err = r.exchangeNet(ctx, "tcp", server, q)
	}
	return resp, err
}

// exchangeNet does one exchange with server over network, on a connection
// of its own (over UDP, a fresh source port), bounded by the resolver's
// Timeout and by ctx: cancelling ctx interrupts the exchange at once, not
// only at the deadline.
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

	co := &dns.Conn{Conn: nc, UDPSize: udpSize}
	if err := co.WriteMsg(q); err != nil {
		return nil, err
	}
	for range maxUDPReplies {
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
		// earlier query, or a forgery; keep waiting for ours.
	}
	return nil, dns.ErrId
}

// ctxError is the error for a lookup stopped by its context.
func ctxError(err error, server string) *net.DNSError {
	e := &net.DNSError{Err: errTextCanceled, UnwrapErr: err, Server: server}
	if errors.Is(err, context.DeadlineExceeded) {
		e.Err, e.IsTimeout, e.IsTemporary = errTextTimeout, true, true
	}
	return e
}

// exchangeError classifies a failed exchange.
func exchangeError(ctx context.Context, err error, server string) *net.DNSError {
	if cerr := ctx.Err(); cerr != nil {
		return ctxError(cerr, server)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		// The connection deadline comes from ctx's deadline when that is
		// sooner, and can fire a moment before ctx reports it.
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			return ctxError(context.DeadlineExceeded, server)
		}
		return &net.DNSError{Err: errTextTimeout, UnwrapErr: err, Server: server, IsTimeout: true, IsTemporary: true}
	}
	var de *dns.Error
	if errors.As(err, &de) {
		// miekg/dns reports a message it cannot unpack, and a reply
		// with the wrong ID, as *dns.Error.
		return &net.DNSError{Err: errTextMalformed, UnwrapErr: err, Server: server}
	}
	return &net.DNSError{Err: err.Error(), UnwrapErr: err, Server: server}
}
