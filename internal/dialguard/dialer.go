package dialguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// IPResolver resolves a host name to addresses, as net.Resolver's
// LookupNetIP does; *net.Resolver and *resolver.Stub satisfy it.
type IPResolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Dialer makes TCP connections through the guard. It resolves the host
// with Resolver, drops every address the rule refuses before any
// connection is made, and dials the allowed addresses in order until one
// answers; each dial is checked again by Control, on the address actually
// dialled. When every address is refused, the error wraps Class and
// ErrRefused and names them.
type Dialer struct {
	// Class is the caller's error class, wrapped by every refusal.
	Class error
	// Resolver resolves host names; nil means net.DefaultResolver.
	Resolver IPResolver
	// AllowPrivate turns the rule off: names are still resolved with
	// Resolver, and every address is dialled.
	AllowPrivate bool
	// Net dials one address; its Control, if any, runs before the
	// guard's. The zero value is a plain net.Dialer.
	Net net.Dialer
}

// DialContext connects to addr ("host:port") over network ("tcp", "tcp4"
// or "tcp6").
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ipNet := "ip"
	switch network {
	case "tcp4":
		ipNet = "ip4"
	case "tcp6":
		ipNet = "ip6"
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		var r IPResolver = net.DefaultResolver
		if d.Resolver != nil {
			r = d.Resolver
		}
		if addrs, err = r.LookupNetIP(ctx, ipNet, host); err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
	}
	nd := d.Net
	if !d.AllowPrivate {
		inner := nd.Control
		nd.Control = func(network, address string, c syscall.RawConn) error {
			if inner != nil {
				if err := inner(network, address, c); err != nil {
					return err
				}
			}
			return Check(d.Class, address)
		}
	}
	var errs []error
	for _, a := range addrs {
		target := net.JoinHostPort(a.WithZone("").String(), port)
		if !d.AllowPrivate && !Allowed(a) {
			errs = append(errs, &refusal{class: d.Class, addr: target})
			continue
		}
		conn, err := nd.DialContext(ctx, network, target)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("no address for %s", host)}
	}
	return nil, errors.Join(errs...)
}
