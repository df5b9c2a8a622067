package reporter_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/strictmx/strictmx/tlsrpt/reporter"
	"github.com/strictmx/strictmx/tlsrpt/tlsrpttest"
)

// RelayMailer.Validate refuses a configuration that cannot work, without
// connecting.
func TestRelayMailerValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    reporter.RelayMailer
		ok   bool
	}{
		{"starttls", reporter.RelayMailer{Addr: "smtp.sender.example:587", TLS: "starttls"}, true},
		{"implicit tls", reporter.RelayMailer{Addr: "smtp.sender.example:465", TLS: "tls", Username: "u"}, true},
		{"plain to loopback with AUTH", reporter.RelayMailer{Addr: "127.0.0.1:25", Username: "u"}, true},
		{"IPv6", reporter.RelayMailer{Addr: "[2001:db8::25]:587", TLS: "starttls"}, true},
		// Typos of -relay and -relay-tls.
		{"no port", reporter.RelayMailer{Addr: "smtp.sender.example", TLS: "starttls"}, false},
		{"empty", reporter.RelayMailer{TLS: "starttls"}, false},
		{"no host", reporter.RelayMailer{Addr: ":587", TLS: "starttls"}, false},
		{"submission port", reporter.RelayMailer{Addr: "smtp.sender.example:587", TLS: "starttls"}, true},
		{"port 0", reporter.RelayMailer{Addr: "smtp.sender.example:0", TLS: "starttls"}, false},
		{"port too big", reporter.RelayMailer{Addr: "smtp.sender.example:65536", TLS: "starttls"}, false},
		{"port name", reporter.RelayMailer{Addr: "smtp.sender.example:smtp", TLS: "starttls"}, false},
		{"unknown TLS", reporter.RelayMailer{Addr: "smtp.sender.example:587", TLS: "start-tls"}, false},
		{"none is the flag's word, not the field's", reporter.RelayMailer{Addr: "127.0.0.1:25", TLS: "none"}, false},
		{"plain AUTH to a remote relay", reporter.RelayMailer{Addr: "smtp.sender.example:25", Username: "u"}, false},
	} {
		err := tc.m.Validate()
		if tc.ok != (err == nil) {
			t.Errorf("%s: Validate() = %v", tc.name, err)
		}
		if err != nil && !errors.Is(err, reporter.ErrConfig) {
			t.Errorf("%s: %v does not wrap ErrConfig", tc.name, err)
		}
	}
}

// refusingDialer fails the test if the mailer connects.
type refusingDialer struct{ t *testing.T }

func (d refusingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.t.Errorf("dialed %s", addr)
	return nil, errors.New("refused (test)")
}

// RelayMailer.Check makes a whole session except the mail: it finds a
// wrong TLS setting, an untrusted certificate and a wrong password, and
// sends nothing.
func TestRelayMailerCheck(t *testing.T) {
	ctx := context.Background()
	tlsSrv := tlsrpttest.NewSMTPServer(t, tlsrpttest.SMTPOptions{STARTTLS: true, Username: "u", Password: "p"})
	plain := tlsrpttest.NewSMTPServer(t, tlsrpttest.SMTPOptions{})
	// A port where nothing listens.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	for _, tc := range []struct {
		name string
		m    *reporter.RelayMailer
		ok   bool
	}{
		{"starttls and auth", &reporter.RelayMailer{Addr: tlsSrv.Addr, TLS: "starttls", TLSConfig: tlsSrv.TLSConfig(), Username: "u", Password: "p"}, true},
		{"plain on loopback", &reporter.RelayMailer{Addr: plain.Addr}, true},
		{"wrong password", &reporter.RelayMailer{Addr: tlsSrv.Addr, TLS: "starttls", TLSConfig: tlsSrv.TLSConfig(), Username: "u", Password: "x"}, false},
		{"untrusted certificate", &reporter.RelayMailer{Addr: tlsSrv.Addr, TLS: "starttls"}, false},
		{"starttls not offered", &reporter.RelayMailer{Addr: plain.Addr, TLS: "starttls"}, false},
		{"implicit tls to a plain relay", &reporter.RelayMailer{Addr: plain.Addr, TLS: "tls"}, false},
		{"nothing listening", &reporter.RelayMailer{Addr: closed}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			err := tc.m.Check(ctx)
			if tc.ok != (err == nil) {
				t.Errorf("Check() = %v", err)
			}
		})
	}
	if n := len(tlsSrv.Messages()) + len(plain.Messages()); n != 0 {
		t.Errorf("Check sent %d messages", n)
	}

	// A configuration error is found before any connection.
	m := &reporter.RelayMailer{Addr: "smtp.sender.example", TLS: "starttls", Dialer: refusingDialer{t}}
	if err := m.Check(ctx); !errors.Is(err, reporter.ErrConfig) {
		t.Errorf("Check with a bad address = %v, want ErrConfig", err)
	}
}
