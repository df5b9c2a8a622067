package main

import (
	"context"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/mtaststest"
)

// An MX host that matches the policy but refuses the connection is "not
// reached", not "not allowed by policy", is not counted, and leaves the
// message to the sender's own retry: temporary.
func TestUnreachableHostIsNotReached(t *testing.T) {
	s := mtaststest.NewServer(t)
	s.Domain("down.test").Record("1").
		Policy(mtasts.ModeEnforce, 86400, "mx1.down.test").
		MXHost(10, "mx1.down.test", mtaststest.MXConfig{})
	e := testEnv(s)
	e.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	}
	code, out, rs := sendTo(t, s, e, "b@down.test")
	if code != exitTempFail {
		t.Fatalf("exit %d; want %d:\n%s", code, exitTempFail, out)
	}
	if strings.Contains(out, "not allowed by policy") || !strings.Contains(out, "not reached") {
		t.Fatalf("output words the unreachable host wrongly:\n%s", out)
	}
	if len(rs) != 0 {
		t.Fatalf("results %+v; want none for a host not reached", rs)
	}
}

// Nothing MTA-STS does, and no deadline, makes a delivery fail
// permanently; a domain that cannot have a policy has none.
func TestNeverPermanent(t *testing.T) {
	t.Run("lookup meets the deadline", func(t *testing.T) {
		s := mtaststest.NewServer(t)
		s.Domain("slow.test").Record("1").Hang()
		code, out, _ := sendTo(t, s, nil, "b@slow.test", "-timeout", "200ms")
		if code != exitTempFail {
			t.Fatalf("exit %d; want %d:\n%s", code, exitTempFail, out)
		}
	})
	t.Run("replan after the deadline", func(t *testing.T) {
		s := mtaststest.NewServer(t)
		s.Domain("late.test").Record("1").
			Policy(mtasts.ModeEnforce, 86400, "mx1.late.test").
			MXHost(10, "mx1.late.test", mtaststest.MXConfig{Certificate: mtaststest.CertExpired})
		e := testEnv(s)
		if _, err := e.client.Lookup(context.Background(), "late.test"); err != nil {
			t.Fatal(err)
		}
		// The host fails TLS at once; the id re-check of Replan then
		// hangs until the deadline.
		s.Domain("late.test").DNSFault(mtaststest.DNSTimeout)
		code, out, _ := sendTo(t, s, e, "b@late.test", "-timeout", "300ms")
		if code != exitTempFail {
			t.Fatalf("exit %d; want %d:\n%s", code, exitTempFail, out)
		}
	})
	t.Run("domain that cannot have a policy", func(t *testing.T) {
		s := mtaststest.NewServer(t)
		s.MXHost("under_score.test", 10, "mx1.example.test", mtaststest.MXConfig{})
		code, out, _ := sendTo(t, s, nil, "b@under_score.test")
		if code != exitOK || !strings.Contains(out, "policy for under_score.test: none") {
			t.Fatalf("exit %d; want %d:\n%s", code, exitOK, out)
		}
	})
}
