package dialguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
)

// mapResolver answers every name with the same addresses.
type mapResolver []netip.Addr

func (r mapResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	return r, nil
}

// holes are addresses a hostile DNS answer could give for a policy host,
// an https rua host or an MX host.
var holes = []string{
	"127.0.0.1", "::1", "10.1.2.3", "192.168.1.1", "169.254.169.254", "fe80::1",
	"100.64.0.1", "0.1.2.3", "192.0.0.8", "192.0.2.1", "198.18.0.1", "240.0.0.1",
	"64:ff9b::7f00:1", "64:ff9b::a01:203", "64:ff9b::a9fe:a9fe", "64:ff9b:1::a01:203",
	"2002:7f00:1::1", "2002:a01:203::1", "2001:0:4136:e378::1", "::127.0.0.1",
	"::ffff:127.0.0.1", "fec0::1", "fc00::1", "2001:db8::1",
}

// The Dialer refuses every hole before a connection is made: the dialer
// underneath is never asked to connect.
func TestDialerRefusesBeforeConnecting(t *testing.T) {
	for _, h := range holes {
		var attempts atomic.Int32
		d := &Dialer{Class: errClass, Resolver: mapResolver{netip.MustParseAddr(h)}}
		d.Net.Control = func(string, string, syscall.RawConn) error {
			attempts.Add(1)
			return errors.New("test: a connection was attempted")
		}
		_, err := d.DialContext(t.Context(), "tcp", "hole.test:443")
		if !errors.Is(err, errClass) || !errors.Is(err, ErrRefused) {
			t.Errorf("%s: err = %v; want the guard's refusal", h, err)
		}
		if n := attempts.Load(); n != 0 {
			t.Errorf("%s: %d connection attempts", h, n)
		}
		// An address literal is judged the same way.
		if _, err := d.DialContext(t.Context(), "tcp", net.JoinHostPort(h, "443")); !errors.Is(err, ErrRefused) {
			t.Errorf("literal %s: err = %v; want refused", h, err)
		}
	}
}

// With AllowPrivate the names still go through Resolver and the
// connection is made.
func TestDialerAllowPrivate(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	d := &Dialer{Class: errClass, AllowPrivate: true, Resolver: mapResolver{netip.MustParseAddr("127.0.0.1")}}
	conn, err := d.DialContext(t.Context(), "tcp", "mx.test:"+port)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()

	// Without AllowPrivate the same dial is refused.
	d.AllowPrivate = false
	if _, err := d.DialContext(t.Context(), "tcp", "mx.test:"+port); !errors.Is(err, ErrRefused) {
		t.Fatalf("err = %v; want refused", err)
	}
}

// A resolver error and an empty answer are dial errors, not refusals.
func TestDialerResolveErrors(t *testing.T) {
	errNX := errors.New("no such host")
	d := &Dialer{Class: errClass, Resolver: failResolver{errNX}}
	if _, err := d.DialContext(t.Context(), "tcp", "x.test:25"); !errors.Is(err, errNX) || errors.Is(err, ErrRefused) {
		t.Errorf("resolver error: %v", err)
	}
	d.Resolver = mapResolver{}
	if _, err := d.DialContext(t.Context(), "tcp", "x.test:25"); err == nil || errors.Is(err, ErrRefused) {
		t.Errorf("empty answer: %v", err)
	}
	if _, err := d.DialContext(t.Context(), "tcp", "no port"); err == nil {
		t.Error("address without a port accepted")
	}
}

type failResolver struct{ err error }

func (r failResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return nil, r.err
}
