package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/strictmx/strictmx/internal/postfixtest"
	"github.com/strictmx/strictmx/tlsrpt/tlsrpttest"
)

// The report mail goes through a real Postfix relay (reporter.RelayMailer
// to Postfix on loopback, Postfix to the recording server as its
// relayhost) and arrives intact: the DKIM signature made before Postfix
// still verifies, and the message passes ValidateMessage.
func TestReporterThroughPostfix(t *testing.T) {
	w := newWorld(t)
	pf := postfixtest.Start(t, postfixtest.Config{Hostname: "relay.sender.example", RelayHost: w.relay.Addr})
	w.opts.relay = pf.Addr // plain text to a relay on loopback (-relay-tls none)
	_, done, cancel := w.start(t, strings.NewReader(input))
	defer func() {
		cancel()
		if err := wait(t, done); err != nil {
			t.Error(err)
		}
	}()
	if uri := wait(t, w.sent); uri != "mailto:reports@example.net" {
		t.Fatalf("sent to %s", uri)
	}

	// Postfix has accepted the message; poll for it at the far side.
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var msgs []tlsrpttest.Mail
	for msgs = w.relay.Messages(); len(msgs) == 0; msgs = w.relay.Messages() {
		select {
		case <-deadline.C:
			t.Fatalf("Postfix relayed nothing within 30s%s", pf.Log())
		case <-tick.C:
		}
	}
	if len(msgs) != 1 || msgs[0].To != "reports@example.net" {
		t.Fatalf("relayed %+v", msgs)
	}
	data := msgs[0].Data
	if !bytes.Contains(data, []byte("by relay.sender.example (Postfix)")) {
		t.Fatalf("the message did not pass through Postfix:\n%s", data)
	}
	if err := tlsrpttest.ValidateMessage(data, w.lookup); err != nil {
		t.Fatalf("after Postfix: %v\n%s", err, data)
	}
	for _, want := range []string{"Successful sessions: 2", "Failed sessions: 1", "Report Domain: example.net"} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("message lacks %q", want)
		}
	}
}
