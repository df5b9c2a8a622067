package postfixtest_test

import (
	"bytes"
	"crypto/tls"
	"net/smtp"
	"testing"
	"time"

	"github.com/strictmx/strictmx/internal/postfixtest"
	"github.com/strictmx/strictmx/internal/testpki"
	"github.com/strictmx/strictmx/tlsrpt/tlsrpttest"
)

// A message submitted over STARTTLS, verified against the test CA, is
// relayed to the recording server.
func TestRelayOverSTARTTLS(t *testing.T) {
	ca, err := testpki.New()
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Leaf(testpki.LeafOptions{DNSNames: []string{"mx.example.test"}})
	if err != nil {
		t.Fatal(err)
	}
	rec := tlsrpttest.NewSMTPServer(t, tlsrpttest.SMTPOptions{})
	pf := postfixtest.Start(t, postfixtest.Config{
		Hostname: "mx.example.test", Domains: []string{"example.test"}, RelayHost: rec.Addr, Certificate: &leaf,
	})

	c, err := smtp.Dial(pf.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.StartTLS(&tls.Config{ServerName: "mx.example.test", RootCAs: ca.Pool()}); err != nil {
		t.Fatal(err)
	}
	msg := "From: a@client.test\r\nTo: b@example.test\r\nSubject: hi\r\n\r\nhello through postfix\r\n"
	if err := c.Mail("a@client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("b@example.test"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}

	m := waitMessages(t, rec, pf, 1)[0]
	if m.From != "a@client.test" || m.To != "b@example.test" || !bytes.Contains(m.Data, []byte("hello through postfix")) {
		t.Fatalf("relayed %+v", m)
	}
	if !bytes.Contains(m.Data, []byte("(using TLS")) {
		t.Errorf("Postfix's Received header does not say TLS:\n%s", m.Data)
	}
}

func TestNoSTARTTLS(t *testing.T) {
	rec := tlsrpttest.NewSMTPServer(t, tlsrpttest.SMTPOptions{})
	pf := postfixtest.Start(t, postfixtest.Config{RelayHost: rec.Addr})
	c, err := smtp.Dial(pf.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Fatal("STARTTLS offered without a certificate")
	}
}

// waitMessages polls rec until it has n messages, with a deadline.
func waitMessages(t *testing.T, rec *tlsrpttest.SMTPServer, pf *postfixtest.Server, n int) []tlsrpttest.Mail {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := rec.Messages(); len(m) >= n {
			return m
		}
		select {
		case <-deadline.C:
			t.Fatalf("%d messages relayed, want %d%s", len(rec.Messages()), n, pf.Log())
		case <-tick.C:
		}
	}
}
