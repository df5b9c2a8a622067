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

		// Allowed by the current rule although not globally reachable
		// (IANA special-purpose registries): the rule looks only at
		// netip's IsGlobalUnicast and IsPrivate and unwraps only the
		// IPv4-mapped form. Pinned so that a change of the rule shows
		// here.
		{"100.64.0.1", true},          // shared address space (CGNAT)
		{"192.0.2.1", true},           // documentation (TEST-NET-1)
		{"198.18.0.1", true},          // benchmarking
		{"240.0.0.1", true},           // reserved
		{"0.1.2.3", true},             // "this network", not 0.0.0.0
		{"2001:db8::1", true},         // documentation
		{"64:ff9b::7f00:1", true},     // NAT64 of 127.0.0.1
		{"2002:7f00:1::1", true},      // 6to4 of 127.0.0.1
		{"2001:0:4136:e378::1", true}, // Teredo
		{"::127.0.0.1", true},         // IPv4-compatible, deprecated
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
