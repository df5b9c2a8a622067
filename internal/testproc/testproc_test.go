package testproc

import (
	"fmt"
	"net"
	"testing"
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
