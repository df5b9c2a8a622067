package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/mtaststest"
)

// scripted is an SMTP server on loopback that answers from a script: the
// greeting, then a reply per command verb; "" closes the connection, as
// does a nil script after the greeting.
func scripted(t *testing.T, greeting string, replies map[string]string) (addr string, conns func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu sync.Mutex
		n  int
		wg sync.WaitGroup
	)
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			n++
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				io.WriteString(c, greeting)
				if replies == nil {
					return
				}
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					verb, _, _ := strings.Cut(strings.TrimSpace(line), " ")
					reply, ok := replies[strings.ToUpper(verb)]
					if !ok {
						reply = "502 5.5.2 not in the script\r\n"
					}
					if reply == "" {
						return
					}
					io.WriteString(c, reply)
				}
			})
		}
	})
	return ln.Addr().String(), func() int { mu.Lock(); defer mu.Unlock(); return n }
}

// Each step of the dialogue before TLS fails its own way: the greeting or
// EHLO (not reached, not counted), a refused STARTTLS command
// (starttls-not-supported, counted), STARTTLS missing from EHLO.
func TestSteps(t *testing.T) {
	ehloTLS := "250-mx1.example.test\r\n250 STARTTLS\r\n"
	for _, tt := range []struct {
		name     string
		greeting string
		replies  map[string]string
		want     string
	}{
		{"greeting refused", "554 5.3.2 go away\r\n", nil, "not reached: " + mtasts.ErrNotReached.Error()},
		{"greeting cut", "220-mx1.example.test\r\n", nil, "not reached: " + mtasts.ErrNotReached.Error()},
		{"EHLO and HELO refused", "220 mx1.example.test\r\n",
			map[string]string{"EHLO": "502 5.5.1 no\r\n", "HELO": "554 5.7.1 no\r\n"}, "not reached: " + mtasts.ErrNotReached.Error()},
		{"connection lost after EHLO", "220 mx1.example.test\r\n", map[string]string{"EHLO": ""}, "not reached: " + mtasts.ErrNotReached.Error()},
		{"STARTTLS refused", "220 mx1.example.test\r\n",
			map[string]string{"EHLO": ehloTLS, "STARTTLS": "454 4.7.0 TLS not available\r\n"},
			"STARTTLS refused by the server [starttls-not-supported]: " + mtasts.ErrSTARTTLSRefused.Error()},
		{"STARTTLS not offered", "220 mx1.example.test\r\n",
			map[string]string{"EHLO": "250-mx1.example.test\r\n250 8BITMIME\r\n"},
			"STARTTLS not offered [starttls-not-supported]: " + mtasts.ErrSTARTTLSNotSupported.Error()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := mtaststest.NewServer(t)
			s.Domain("example.test").Record("1").
				Policy(mtasts.ModeEnforce, 86400, "mx1.example.test").
				MX(10, "mx1.example.test")
			addr, conns := scripted(t, tt.greeting, tt.replies)
			w := &world{client: s.Client(), mx: s.Resolver(), tls: &tls.Config{RootCAs: s.RootCAs()},
				dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, network, addr)
				}}
			var out bytes.Buffer
			code := run(context.Background(), []string{"-from", "a@sender.test", "-to", "b@example.test"},
				strings.NewReader(message), &out, io.Discard, w)
			if code != 75 || !strings.Contains(out.String(), "mx1.example.test: "+tt.want) {
				t.Fatalf("exit %d; want 75 and %q:\n%s", code, tt.want, out.String())
			}
			if n := conns(); n != 1 {
				t.Errorf("%d connections, want 1", n)
			}
		})
	}
}
