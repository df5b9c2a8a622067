package dialguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
)

func TestAllowed(t *testing.T) {
	for _, tt := range []struct {
		addr string
		ok   bool
	}{
		// Public unicast.
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"2001:4860:4860::8888", true},
		{"::ffff:8.8.8.8", true}, // mapped: judged as 8.8.8.8

		// Loopback, unspecified, broadcast.
		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"::1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"255.255.255.255", false},

		// Private (RFC 1918, RFC 4193).
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.168.1.1", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},

		// Link-local, cloud metadata included.
		{"169.254.169.254", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},

		// Multicast.
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"ff02::1", false},
		{"ff0e::1", false},

		// IPv4-mapped forms of refused addresses.
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"::ffff:169.254.169.254", false},

		// The holes of the first rule, which looked only at netip's
		// IsGlobalUnicast and IsPrivate and unwrapped only the mapped form.
		{"100.64.0.1", false},                           // shared address space (CGNAT, Tailscale)
		{"100.127.255.254", false},                      // its last address
		{"192.0.2.1", false},                            // documentation (TEST-NET-1)
		{"198.18.0.1", false},                           // benchmarking
		{"240.0.0.1", false},                            // reserved
		{"0.1.2.3", false},                              // "this network", not 0.0.0.0
		{"192.0.0.8", false},                            // IETF protocol assignments
		{"2001:db8::1", false},                          // documentation
		{"64:ff9b::7f00:1", false},                      // NAT64 of 127.0.0.1
		{"64:ff9b::a01:203", false},                     // NAT64 of 10.1.2.3
		{"64:ff9b::a9fe:a9fe", false},                   // NAT64 of 169.254.169.254
		{"64:ff9b:1::a01:203", false},                   // local-use NAT64
		{"2002:7f00:1::1", false},                       // 6to4 of 127.0.0.1
		{"2002:a01:203::1", false},                      // 6to4 of 10.1.2.3
		{"2001:0:4136:e378::1", false},                  // Teredo
		{"2001:0:4136:e378:8000:63bf:f5ff:fffe", false}, // Teredo of 10.0.0.1
		{"::127.0.0.1", false},                          // IPv4-compatible, deprecated
		{"::a01:203", false},                            // IPv4-compatible 10.1.2.3
		{"fec0::1", false},                              // site-local, deprecated
		{"4000::1", false},                              // outside 2000::/3
		{"100::1", false},                               // discard-only

		// Transition forms of public addresses, and registry blocks that
		// are globally reachable.
		{"64:ff9b::808:808", true}, // NAT64 of 8.8.8.8
		{"2002:808:808::1", true},  // 6to4 of 8.8.8.8
		{"192.0.0.9", true},        // PCP anycast
		{"192.31.196.1", true},     // AS112-v4
		{"2001:4:112::1", true},    // AS112-v6
		{"2620:4f:8000::1", true},  // AS112 direct delegation
		{"100.63.255.255", true},   // just below shared address space
		{"100.128.0.0", true},      // just above it
	} {
		a := netip.MustParseAddr(tt.addr)
		if got := Allowed(a); got != tt.ok {
			t.Errorf("Allowed(%s) = %v, want %v", tt.addr, got, tt.ok)
		}
	}
	if Allowed(netip.Addr{}) {
		t.Error("the zero Addr is allowed")
	}
}

// TestRegistries checks every entry of the two registry tables, at its
// first and last address, directly and (for IPv4) in the IPv6 forms that
// carry an IPv4 address: Allowed says what the registry's "Globally
// Reachable" column says.
func TestRegistries(t *testing.T) {
	last := func(p netip.Prefix) netip.Addr {
		b := p.Addr().AsSlice()
		for i := p.Bits(); i < len(b)*8; i++ {
			b[i/8] |= 0x80 >> (i % 8)
		}
		a, _ := netip.AddrFromSlice(b)
		return a
	}
	for _, tables := range [][]block{ipv4Special, ipv6Special} {
		for _, e := range tables {
			for _, a := range []netip.Addr{e.prefix.Addr(), last(e.prefix)} {
				want := e.global
				if got, _ := special(a); got.prefix != e.prefix {
					// A more specific entry comes first for this address.
					want = got.global
				}
				if got := Allowed(a); got != want {
					t.Errorf("%s (%s): Allowed = %v, want %v", a, e.name, got, want)
				}
				if !a.Is4() {
					continue
				}
				v4 := a.As4()
				forms := map[string]netip.Addr{
					"mapped": netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff, 12: v4[0], 13: v4[1], 14: v4[2], 15: v4[3]}),
					"NAT64":  netip.AddrFrom16([16]byte{0: 0x00, 1: 0x64, 2: 0xff, 3: 0x9b, 12: v4[0], 13: v4[1], 14: v4[2], 15: v4[3]}),
					"6to4":   netip.AddrFrom16([16]byte{0: 0x20, 1: 0x02, 2: v4[0], 3: v4[1], 4: v4[2], 5: v4[3], 15: 1}),
				}
				for name, f := range forms {
					if got := Allowed(f); got != want {
						t.Errorf("%s form %s of %s (%s): Allowed = %v, want %v", name, f, a, e.name, got, want)
					}
				}
			}
		}
	}
}

var errClass = errors.New("caller: address not public")

func TestCheck(t *testing.T) {
	for _, tt := range []struct {
		address string
		ok      bool
	}{
		{"8.8.8.8:443", true},
		{"[2001:4860:4860::8888]:25", true},
		{"127.0.0.1:443", false},
		{"[::1]:25", false},
		{"[::ffff:127.0.0.1]:443", false},
		{"[fe80::1%eth0]:25", false},
		// Not an ip:port: refused.
		{"", false},
		{"8.8.8.8", false},
		{"dns.google:443", false},
		{"not an address", false},
	} {
		err := Check(errClass, tt.address)
		if (err == nil) != tt.ok {
			t.Errorf("Check(%q) = %v, want allowed=%v", tt.address, err, tt.ok)
			continue
		}
		if err == nil {
			continue
		}
		if !errors.Is(err, errClass) || !errors.Is(err, ErrRefused) {
			t.Errorf("Check(%q) = %v: does not wrap the class and ErrRefused", tt.address, err)
		}
		if want := errClass.Error() + ": " + tt.address; err.Error() != want {
			t.Errorf("Check(%q) text %q, want %q", tt.address, err, want)
		}
		if err := Control(errClass)("tcp", tt.address, nil); !errors.Is(err, errClass) {
			t.Errorf("Control(%q) = %v, want the Check error", tt.address, err)
		}
	}
	// No class: ErrRefused alone.
	err := Check(nil, "127.0.0.1:25")
	if !errors.Is(err, ErrRefused) || err.Error() != "dialguard: address not public: 127.0.0.1:25" {
		t.Errorf("Check(nil, loopback) = %v", err)
	}
}

// A net.Dialer with Control refuses loopback before connecting: the
// listener never sees a connection.
func TestControlDialer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()
	d := &net.Dialer{Control: Control(errClass)}
	_, err = d.DialContext(t.Context(), "tcp", ln.Addr().String())
	if !errors.Is(err, errClass) || !errors.Is(err, ErrRefused) {
		t.Fatalf("dial loopback: %v, want the guard's refusal", err)
	}
	select {
	case <-accepted:
		t.Fatal("the listener accepted a connection")
	default:
	}
}

// Dial checks the peer of a caller's dialer and closes a refused
// connection.
func TestDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	closed := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			closed <- err
			return
		}
		defer c.Close()
		_, err = c.Read(make([]byte, 1)) // EOF once the guard closes
		closed <- err
	}()
	var d net.Dialer
	conn, err := Dial(errClass, d.DialContext)(t.Context(), "tcp", ln.Addr().String())
	if conn != nil || !errors.Is(err, errClass) || !errors.Is(err, ErrRefused) {
		t.Fatalf("Dial loopback = %v, %v; want the guard's refusal", conn, err)
	}
	if err := <-closed; err == nil {
		t.Error("the refused connection sent data")
	}

	// A peer that is not an ip:port is refused; dial errors pass through.
	pipe := func(context.Context, string, string) (net.Conn, error) {
		c, _ := net.Pipe()
		return c, nil
	}
	if _, err := Dial(errClass, pipe)(t.Context(), "tcp", "x:1"); !errors.Is(err, ErrRefused) {
		t.Errorf("Dial over a pipe: %v, want refused", err)
	}
	errDial := errors.New("dial failed")
	fail := func(context.Context, string, string) (net.Conn, error) { return nil, errDial }
	if _, err := Dial(errClass, fail)(t.Context(), "tcp", "x:1"); err != errDial {
		t.Errorf("Dial error = %v, want %v", err, errDial)
	}
}
