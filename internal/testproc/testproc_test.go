package testproc

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestOutputAndFreePort(t *testing.T) {
	var o Output
	fmt.Fprint(&o, "a")
	fmt.Fprint(&o, "b")
	if o.String() != "ab" {
		t.Fatalf("Output = %q", o.String())
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("the free port %d cannot be listened on: %v", port, err)
	}
	l.Close()
}

func TestProcess(t *testing.T) {
	p, err := Start(exec.Command("sh", "-c", "echo started; exec sleep 30"))
	if err != nil {
		t.Skip("no sh to run:", err)
	}
	waitOutput(t, p, "started")
	if !p.Terminate(10 * time.Second) {
		t.Fatal("sleep did not end on SIGTERM")
	}
	if p.Err() == nil || !strings.Contains(p.Out.String(), "started") {
		t.Fatalf("Err %v, output %q; want a signal exit and the output", p.Err(), p.Out.String())
	}
	// A process that ignores SIGTERM is not reported ended; Kill ends it.
	p, err = Start(exec.Command("sh", "-c", `trap "" TERM; echo ready; while :; do sleep 1; done`))
	if err != nil {
		t.Fatal(err)
	}
	waitOutput(t, p, "ready")
	if p.Terminate(200 * time.Millisecond) {
		t.Fatal("Terminate reported a process that ignores SIGTERM as ended")
	}
	p.Kill()
	select {
	case <-p.Exited():
	default:
		t.Fatal("Kill returned before the process exited")
	}
}

// waitOutput waits, at most ten seconds, for p to have written s.
func waitOutput(t *testing.T, p *Process, s string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.Out.String(), s); {
		if time.Now().After(deadline) {
			t.Fatalf("the process did not write %q", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
