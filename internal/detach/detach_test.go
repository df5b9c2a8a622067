package detach

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestCallFinishes(t *testing.T) {
	released := false
	v, err, ok := Call(t.Context(), func() { released = true }, func() (int, error) { return 7, nil })
	if v != 7 || err != nil || !ok || !released {
		t.Fatalf("Call = %v, %v, %v (released %v)", v, err, ok, released)
	}
	errF := errors.New("f failed")
	if _, err, ok := Call(t.Context(), nil, func() (int, error) { return 0, errF }); err != errF || !ok {
		t.Fatalf("f's error: %v, %v", err, ok)
	}
}

// A caller whose context ends gets ctx's error at once; the call finishes
// in the background and releases only then.
func TestCallDetaches(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	unblock := make(chan struct{})
	released := make(chan struct{})
	_, err, ok := Call(ctx, func() { close(released) }, func() (int, error) { <-unblock; return 1, nil })
	if ok || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Call = %v, %v; want the deadline, not finished", err, ok)
	}
	select {
	case <-released:
		t.Fatal("released before f returned")
	default:
	}
	close(unblock)
	select {
	case <-released:
	case <-time.After(10 * time.Second):
		t.Fatal("never released after f returned")
	}
}
