package mtaststest_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/smtp"
	"slices"
	"strings"
	"testing"

	"github.com/strictmx/strictmx/mtasts/mtaststest"
)

// deliver sends one message to host through the harness with net/smtp.
// tc nil means no STARTTLS. It returns the STARTTLS error, if any, and the
// TLS state.
func deliver(t *testing.T, s *mtaststest.Server, host string, tc *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	conn, err := s.DialContext(t.Context(), "tcp", host+":25")
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("sender.test"); err != nil {
		t.Fatal(err)
	}
	var st tls.ConnectionState
	if tc != nil {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return st, errors.New("no STARTTLS")
		}
		if err := c.StartTLS(tc); err != nil {
			return st, err
		}
		st, _ = c.TLSConnectionState()
	}
	if err := c.Mail("a@sender.test"); err != nil {
		t.Fatal(err)
	}
	for _, rcpt := range []string{"b@example.test", "c@example.test"} {
		if err := c.Rcpt(rcpt); err != nil {
			t.Fatal(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: hi\r\n\r\nhello\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	return st, nil
}

func TestMXHost(t *testing.T) {
	s := mtaststest.NewServer(t)
	mx := s.MXHost("example.test", 10, "MX1.example.test.", mtaststest.MXConfig{})
	s.Domain("example.test").MXHost(20, "mx2.example.test", mtaststest.MXConfig{NoSTARTTLS: true})
	tc := func(host string) *tls.Config {
		return &tls.Config{ServerName: host, RootCAs: s.RootCAs(), MinVersion: tls.VersionTLS12}
	}

	// Published in DNS.
	mxs, err := s.Resolver().LookupMX(t.Context(), "example.test")
	if err != nil || len(mxs) != 2 || mxs[0].Host != "mx1.example.test." || mxs[1].Host != "mx2.example.test." {
		t.Fatalf("MX = %v, %v", mxs, err)
	}
	if addrs, err := s.Resolver().LookupTXT(t.Context(), "mx1.example.test"); err == nil {
		t.Errorf("TXT of the MX host: %q", addrs)
	}
	if mx.Host() != "mx1.example.test" || s.SMTPAddr("mx1.example.test") != mx.Addr() || s.LookupMXHost("MX1.EXAMPLE.TEST") != mx {
		t.Errorf("Host %q, Addr %q, SMTPAddr %q", mx.Host(), mx.Addr(), s.SMTPAddr("mx1.example.test"))
	}

	// A valid certificate, and what the host recorded.
	st, err := deliver(t, s, "mx1.example.test", tc("mx1.example.test"))
	if err != nil || st.Version < tls.VersionTLS12 {
		t.Fatalf("valid: %v, version %x", err, st.Version)
	}
	msgs := mx.Messages()
	if len(msgs) != 1 || mx.MessageCount() != 1 || mx.Connections() != 1 {
		t.Fatalf("%d messages, %d connections", len(msgs), mx.Connections())
	}
	m := msgs[0]
	if m.Helo != "sender.test" || m.From != "a@sender.test" || !slices.Equal(m.To, []string{"b@example.test", "c@example.test"}) ||
		string(m.Data) != "Subject: hi\r\n\r\nhello\r\n" || !m.TLS || m.ServerName != "mx1.example.test" || m.TLSVersion != st.Version {
		t.Errorf("recorded %+v", m)
	}
	if got := mx.ServerNames(); !slices.Equal(got, []string{"mx1.example.test"}) {
		t.Errorf("ServerNames = %q", got)
	}

	// No STARTTLS: plain delivery still works and is recorded as such.
	mx2 := s.LookupMXHost("mx2.example.test")
	if _, err := deliver(t, s, "mx2.example.test", tc("mx2.example.test")); err == nil || err.Error() != "no STARTTLS" {
		t.Errorf("NoSTARTTLS: %v", err)
	}
	if _, err := deliver(t, s, "mx2.example.test", nil); err != nil {
		t.Errorf("plain: %v", err)
	}
	if msgs := mx2.Messages(); len(msgs) != 1 || msgs[0].TLS || msgs[0].ServerName != "" {
		t.Errorf("plain delivery recorded %+v", msgs)
	}
	mx.ResetRecords()
	if mx.Connections() != 0 || len(mx.Messages()) != 0 || len(mx.Handshakes()) != 0 {
		t.Error("ResetRecords left records")
	}
}

func TestMXHostCertificates(t *testing.T) {
	s := mtaststest.NewServer(t)
	mx := s.MXHost("example.test", 10, "mx1.example.test", mtaststest.MXConfig{})
	tc := &tls.Config{ServerName: "mx1.example.test", RootCAs: s.RootCAs(), MinVersion: tls.VersionTLS12}

	tests := []struct {
		name  string
		cfg   mtaststest.MXConfig
		check func(error) bool
	}{
		{"expired", mtaststest.MXConfig{Certificate: mtaststest.CertExpired}, func(err error) bool {
			var e x509.CertificateInvalidError
			return errors.As(err, &e) && e.Reason == x509.Expired
		}},
		{"wrong name", mtaststest.MXConfig{Certificate: mtaststest.CertWrongName}, func(err error) bool {
			var e x509.HostnameError
			return errors.As(err, &e)
		}},
		{"policy domain name", mtaststest.MXConfig{CertNames: []string{"example.test"}}, func(err error) bool {
			var e x509.HostnameError
			return errors.As(err, &e)
		}},
		{"self-signed", mtaststest.MXConfig{Certificate: mtaststest.CertSelfSigned}, func(err error) bool {
			var e x509.UnknownAuthorityError
			return errors.As(err, &e)
		}},
		{"TLS 1.1 only", mtaststest.MXConfig{TLS11Only: true}, func(err error) bool {
			return err != nil && strings.Contains(err.Error(), "protocol version")
		}},
		{"wildcard", mtaststest.MXConfig{CertNames: []string{"*.example.test"}}, func(err error) bool { return err == nil }},
		{"valid again", mtaststest.MXConfig{}, func(err error) bool { return err == nil }},
	}
	for _, tt := range tests {
		mx.Configure(tt.cfg)
		_, err := deliver(t, s, "mx1.example.test", tc)
		if !tt.check(err) {
			t.Errorf("%s: STARTTLS error %v", tt.name, err)
		}
	}
	// Every handshake was seen with the MX host as SNI, failed or not.
	if got := mx.ServerNames(); len(got) != len(tests) || slices.ContainsFunc(got, func(n string) bool { return n != "mx1.example.test" }) {
		t.Errorf("ServerNames = %q", got)
	}
	if n := mx.MessageCount(); n != 2 {
		t.Errorf("%d messages delivered, want 2 (wildcard, valid)", n)
	}

	// The TLS 1.1 host does speak TLS 1.1.
	mx.Configure(mtaststest.MXConfig{TLS11Only: true})
	old := &tls.Config{ServerName: "mx1.example.test", RootCAs: s.RootCAs(), MinVersion: tls.VersionTLS10}
	if st, err := deliver(t, s, "mx1.example.test", old); err != nil || st.Version != tls.VersionTLS11 {
		t.Errorf("TLS 1.1 client: %v, version %x", err, st.Version)
	}
}

func TestMXHostResumption(t *testing.T) {
	s := mtaststest.NewServer(t)
	s.MXHost("example.test", 10, "mx1.example.test", mtaststest.MXConfig{})
	tc := &tls.Config{
		ServerName: "mx1.example.test", RootCAs: s.RootCAs(), MinVersion: tls.VersionTLS12,
		ClientSessionCache: tls.NewLRUClientSessionCache(4),
	}
	first, err := deliver(t, s, "mx1.example.test", tc)
	if err != nil || first.DidResume {
		t.Fatalf("first: %v, resumed %v", err, first.DidResume)
	}
	second, err := deliver(t, s, "mx1.example.test", tc)
	if err != nil || !second.DidResume {
		t.Errorf("second: %v, resumed %v; want a resumed session", err, second.DidResume)
	}
}

func TestMXHostClose(t *testing.T) {
	s := mtaststest.NewServer(nil)
	mx := s.MXHost("", 0, "mx.example.test", mtaststest.MXConfig{})
	if _, err := s.Resolver().LookupMX(t.Context(), "example.test"); err == nil {
		t.Error("empty domain published an MX record")
	}
	addr := mx.Addr()
	s.Close()
	s.Close() // twice is fine
	if _, err := s.DialContext(t.Context(), "tcp", "mx.example.test:25"); err == nil {
		t.Errorf("MX host at %s still accepts after Close", addr)
	}
}
