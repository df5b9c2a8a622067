package mtasts

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"

	"github.com/strictmx/strictmx/internal/dialguard"
)

// The address rule itself has its table in internal/dialguard; here, that
// DialGuard applies it and its errors keep their class and text.
func TestDialGuard(t *testing.T) {
	for addr, ok := range map[string]bool{
		"8.8.8.8:443":                true,
		"[2001:4860:4860::8888]:443": true,
		"127.0.0.1:443":              false,
		"10.1.2.3:443":               false,
		"169.254.169.254:443":        false, // cloud metadata
		"[::ffff:127.0.0.1]:443":     false,
		"not an address":             false,
	} {
		err := DialGuard("tcp", addr, nil)
		if (err == nil) != ok {
			t.Errorf("DialGuard(%q) = %v; want allowed=%v", addr, err, ok)
		}
		if err == nil {
			continue
		}
		if !errors.Is(err, ErrDialGuard) || !errors.Is(err, dialguard.ErrRefused) {
			t.Errorf("DialGuard(%q): %v does not wrap ErrDialGuard and dialguard.ErrRefused", addr, err)
		}
		if want := "mtasts: policy host address not public: " + addr; err.Error() != want {
			t.Errorf("DialGuard(%q) text %q, want %q", addr, err, want)
		}
	}
}

// listen returns a loopback address and a channel that gets a value for
// each connection accepted there.
func listen(t *testing.T) (string, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan struct{}, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	return ln.Addr().String(), accepted
}

func transportDial(c *Client) func(context.Context, string, string) (net.Conn, error) {
	return c.newHTTPClient().Transport.(*http.Transport).DialContext
}

// The built-in dialer refuses loopback before connecting; a caller's
// DialContext is checked once connected; AllowPrivate lets both through.
func TestHTTPClientDialGuard(t *testing.T) {
	addr, accepted := listen(t)
	var d net.Dialer
	for _, tt := range []struct {
		name      string
		c         *Client
		connects  bool // a TCP connection is made at all
		delivered bool // the transport gets the connection
	}{
		{"built-in dialer", &Client{}, false, false},
		{"caller's dialer", &Client{DialContext: d.DialContext}, true, false},
		{"built-in dialer, AllowPrivate", &Client{AllowPrivate: true}, true, true},
		{"caller's dialer, AllowPrivate", &Client{DialContext: d.DialContext, AllowPrivate: true}, true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := transportDial(tt.c)(t.Context(), "tcp", addr)
			if tt.delivered {
				if err != nil {
					t.Fatalf("dial %s: %v", addr, err)
				}
				conn.Close()
			} else if conn != nil || !errors.Is(err, ErrDialGuard) || !errors.Is(err, dialguard.ErrRefused) {
				t.Fatalf("dial %s = %v, %v; want the dial guard's refusal", addr, conn, err)
			}
			if tt.connects {
				<-accepted
			}
			select {
			case <-accepted:
				t.Fatal("unexpected connection")
			default:
			}
		})
	}
}
