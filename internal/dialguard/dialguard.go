package dialguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
)

// ErrRefused is wrapped by every refusal of the guard, along with the
// caller's class.
var ErrRefused = errors.New("dialguard: address not public")

// Allowed reports whether an outgoing connection may go to a: a globally
// reachable unicast address. It is an allow-list: an IPv4 address is
// allowed unless the IANA IPv4 Special-Purpose Address Registry marks its
// block not globally reachable (or it is multicast or reserved); an IPv6
// address must be in the global unicast space 2000::/3 and outside every
// block the IANA IPv6 Special-Purpose Address Registry marks not globally
// reachable (Teredo, 2001::/32, included). The IPv6 forms that carry an
// IPv4 address are judged by that address: IPv4-mapped (::ffff:0:0/96),
// the NAT64 well-known prefix (64:ff9b::/96) and 6to4 (2002::/16). A zone
// is ignored.
func Allowed(a netip.Addr) bool {
	a = a.WithZone("")
	if v4, ok := embeddedIPv4(a); ok {
		a = v4
	}
	if !a.IsValid() {
		return false
	}
	if e, ok := special(a); ok {
		return e.global
	}
	return a.Is4() || globalUnicast6.Contains(a)
}

// Check returns nil when address, an "ip:port" as net.Dialer.Control and
// net.Conn.RemoteAddr give it, may be connected to. Otherwise it returns an
// error that wraps class and ErrRefused, whose text is class's followed by
// address. An address that does not parse is refused. class nil means
// ErrRefused alone.
func Check(class error, address string) error {
	ap, err := netip.ParseAddrPort(address)
	if err == nil && Allowed(ap.Addr()) {
		return nil
	}
	return &refusal{class: class, addr: address}
}

// Control returns a net.Dialer.Control function that applies Check with
// class to each address the dialer is about to connect to. It runs after
// name resolution, on the address actually dialled.
func Control(class error) func(network, address string, c syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		return Check(class, address)
	}
}

// DialFunc is the shape of net.Dialer.DialContext.
type DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

// Dial wraps a dialer the guard cannot hook into (a caller's own): it
// cannot see the address before the connection is made, so it applies
// Check with class to the connection's peer and closes a refused
// connection before a byte is sent. A peer that is not an "ip:port" (a
// pipe, a proxy's own connection type) is refused.
func Dial(class error, dial DialFunc) DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		var peer string
		if ra := conn.RemoteAddr(); ra != nil {
			peer = ra.String()
		}
		if err := Check(class, peer); err != nil {
			conn.Close()
			return nil, err
		}
		return conn, nil
	}
}

// refusal is the error of a refused address.
type refusal struct {
	class error // the caller's sentinel, or nil
	addr  string
}

func (e *refusal) Error() string {
	c := e.class
	if c == nil {
		c = ErrRefused
	}
	return c.Error() + ": " + e.addr
}

func (e *refusal) Unwrap() []error {
	if e.class == nil {
		return []error{ErrRefused}
	}
	return []error{e.class, ErrRefused}
}
