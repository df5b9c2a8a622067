package mtasts_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"

	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/mtaststest"
	"github.com/strictmx/strictmx/mtasts/resolver"
)

// fakeMX answers every LookupMX with the same records and error, and
// remembers the name asked.
type fakeMX struct {
	mx    []*net.MX
	err   error
	asked string
}

func (f *fakeMX) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	f.asked = name
	return f.mx, f.err
}

func mxs(hostPrefs ...any) []*net.MX {
	var out []*net.MX
	for i := 0; i < len(hostPrefs); i += 2 {
		out = append(out, &net.MX{Host: hostPrefs[i].(string), Pref: uint16(hostPrefs[i+1].(int))})
	}
	return out
}

func mxString(m []*net.MX) string {
	s := ""
	for i, mx := range m {
		if i > 0 {
			s += " "
		}
		if mx == nil {
			s += "nil"
			continue
		}
		s += fmt.Sprintf("%s/%d", mx.Host, mx.Pref)
	}
	return s
}

var (
	errNXDOMAIN   = &net.DNSError{Err: "no such host", Name: "example.com", IsNotFound: true, UnwrapErr: resolver.ErrNXDOMAIN}
	errNODATA     = &net.DNSError{Err: "no such record", Name: "example.com", IsNotFound: true, UnwrapErr: resolver.ErrNODATA}
	errNotFound   = &net.DNSError{Err: "no such host", Name: "example.com", IsNotFound: true} // *net.Resolver: either
	errServFail   = &net.DNSError{Err: "server misbehaving", Name: "example.com", IsTemporary: true}
	errMalformed  = &net.DNSError{Err: "DNS response contained records which contain invalid names", Name: "example.com"}
	errCanceled   = &net.DNSError{Err: "operation was canceled", Name: "example.com", UnwrapErr: context.Canceled}
	errNotDNSType = errors.New("resolver exploded")
)

func TestResolveMX(t *testing.T) {
	for _, tt := range []struct {
		name     string
		mx       []*net.MX
		err      error
		want     string // hosts as mxString, when no error
		implicit bool
		wantErr  []error // each must match with errors.Is
	}{
		// RFC 5321, Section 5.1: by preference, lowest first.
		{"one", mxs("mx.example.com.", 10), nil, "mx.example.com/10", false, nil},
		{"sorted", mxs("b.example.com.", 20, "a.example.com.", 10, "c.example.com.", 30), nil,
			"a.example.com/10 b.example.com/20 c.example.com/30", false, nil},
		{"ties keep the resolver's order", mxs("y.example.com.", 10, "x.example.com.", 10, "z.example.com.", 5), nil,
			"z.example.com/5 y.example.com/10 x.example.com/10", false, nil},
		{"no trailing dot already", mxs("mx.example.com", 0), nil, "mx.example.com/0", false, nil},
		{"nil record skipped", []*net.MX{nil, {Host: "mx.example.com.", Pref: 1}}, nil, "mx.example.com/1", false, nil},

		// RFC 5321, Section 5.1: no MX records, the implicit MX.
		{"NODATA", nil, errNODATA, "example.com/0", true, nil},
		{"empty answer", nil, nil, "example.com/0", true, nil},
		{"only nil records", []*net.MX{nil}, nil, "example.com/0", true, nil},
		// Spec note: a resolver that cannot tell NXDOMAIN from NODATA.
		{"not found, unknown which", nil, errNotFound, "example.com/0", true, nil},

		// RFC 7505: null MX, alone or (against Section 3) among others.
		{"null MX", mxs(".", 0), nil, "", false, []error{mtasts.ErrNullMX}},
		{"null MX with other records", mxs("mx.example.com.", 10, ".", 0), nil, "", false, []error{mtasts.ErrNullMX}},
		{"null MX, other preference", mxs(".", 10), nil, "", false, []error{mtasts.ErrNullMX}},
		{"empty host", mxs("", 0), nil, "", false, []error{mtasts.ErrNullMX}},

		// NXDOMAIN, told apart by resolver.Stub.
		{"NXDOMAIN", nil, errNXDOMAIN, "", false, []error{mtasts.ErrNoSuchDomain, resolver.ErrNXDOMAIN}},

		// Everything else is temporary.
		{"SERVFAIL", nil, errServFail, "", false, []error{mtasts.ErrDNSTemporary, errServFail}},
		{"canceled", nil, errCanceled, "", false, []error{mtasts.ErrDNSTemporary, context.Canceled}},
		{"not a DNSError", nil, errNotDNSType, "", false, []error{mtasts.ErrDNSTemporary, errNotDNSType}},
		{"answer too large", nil, &net.DNSError{Err: "too large", UnwrapErr: resolver.ErrAnswerTooLarge}, "", false,
			[]error{mtasts.ErrDNSTemporary, resolver.ErrAnswerTooLarge}},

		// Records with an error: *net.Resolver after leaving out
		// malformed records. The records are used.
		{"records and an error", mxs("mx.example.com.", 10), errMalformed, "mx.example.com/10", false, nil},
		{"null MX and an error", mxs(".", 0), errMalformed, "", false, []error{mtasts.ErrNullMX}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := mxString(tt.mx)
			r := &fakeMX{mx: tt.mx, err: tt.err}
			got, implicit, err := mtasts.ResolveMX(t.Context(), r, "Example.COM.")
			if r.asked != "example.com" {
				t.Errorf("asked for %q, want the normalised domain", r.asked)
			}
			if mxString(tt.mx) != before {
				t.Errorf("the resolver's records were changed: %s, was %s", mxString(tt.mx), before)
			}
			if tt.wantErr != nil {
				if err == nil || got != nil || implicit {
					t.Fatalf("ResolveMX = %s, %v, %v; want an error", mxString(got), implicit, err)
				}
				for _, w := range tt.wantErr {
					if !errors.Is(err, w) {
						t.Errorf("error %q does not wrap %q", err, w)
					}
				}
				for _, other := range []error{mtasts.ErrNullMX, mtasts.ErrNoSuchDomain, mtasts.ErrDNSTemporary} {
					if !slices.Contains(tt.wantErr, other) && errors.Is(err, other) {
						t.Errorf("error %q also wraps %q", err, other)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ResolveMX: %v", err)
			}
			if s := mxString(got); s != tt.want || implicit != tt.implicit {
				t.Errorf("ResolveMX = %s, implicit %v; want %s, implicit %v", s, implicit, tt.want, tt.implicit)
			}
		})
	}
}

func TestResolveMXInvalidDomain(t *testing.T) {
	for _, name := range []string{"", "bad name", "192.0.2.1", "a..b"} {
		r := &fakeMX{}
		_, _, err := mtasts.ResolveMX(t.Context(), r, name)
		if !errors.Is(err, mtasts.ErrInvalidDomain) {
			t.Errorf("ResolveMX(%q) = %v, want ErrInvalidDomain", name, err)
		}
		if r.asked != "" {
			t.Errorf("ResolveMX(%q) asked the resolver", name)
		}
	}
}

// The same outcomes through the real stub resolver and the harness DNS:
// NXDOMAIN and NODATA are told apart.
func TestResolveMXHarness(t *testing.T) {
	s := mtaststest.NewServer(t)
	s.MX("multi.test", 20, "mx2.multi.test").
		MX("multi.test", 10, "mx1.multi.test").
		MX("multi.test", 20, "mx3.multi.test")
	s.A("implicit.test", "127.0.0.1")  // exists, no MX: NODATA
	s.A("mx.parent.test", "127.0.0.1") // parent.test: an empty non-terminal
	s.MX("null.test", 0, ".")          // RFC 7505
	s.A("servfail.test", "127.0.0.1").DNSFault("servfail.test", mtaststest.DNSServFail)
	r := s.Resolver()

	for _, tt := range []struct {
		domain   string
		want     string
		implicit bool
		wantErr  error
	}{
		{"multi.test", "mx1.multi.test/10 mx2.multi.test/20 mx3.multi.test/20", false, nil},
		{"implicit.test", "implicit.test/0", true, nil},
		{"parent.test", "parent.test/0", true, nil},
		{"null.test", "", false, mtasts.ErrNullMX},
		{"nope.test", "", false, mtasts.ErrNoSuchDomain},
		{"servfail.test", "", false, mtasts.ErrDNSTemporary},
	} {
		got, implicit, err := mtasts.ResolveMX(t.Context(), r, tt.domain)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("%s: ResolveMX = %s, %v; want %v", tt.domain, mxString(got), err, tt.wantErr)
			}
			continue
		}
		if err != nil || mxString(got) != tt.want || implicit != tt.implicit {
			t.Errorf("%s: ResolveMX = %s, implicit %v, %v; want %s, implicit %v", tt.domain, mxString(got), implicit, err, tt.want, tt.implicit)
		}
	}
	// NXDOMAIN keeps the resolver's own sentinel.
	if _, _, err := mtasts.ResolveMX(t.Context(), r, "nope.test"); !errors.Is(err, resolver.ErrNXDOMAIN) {
		t.Errorf("nope.test: %v does not wrap resolver.ErrNXDOMAIN", err)
	}
	// A canceled context is a temporary failure that says so.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := mtasts.ResolveMX(ctx, r, "multi.test"); !errors.Is(err, mtasts.ErrDNSTemporary) || !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
}

// A sender's MX step: the hosts of the recipient domain in the order to
// try them, ready for Result.Plan.
func ExampleResolveMX() {
	s := mtaststest.NewServer(nil)
	defer s.Close()
	s.MX("example.test", 20, "mx2.example.test.").MX("example.test", 10, "mx1.example.test.")
	s.A("implicit.test", "127.0.0.1")
	s.MX("nomail.test", 0, ".")

	for _, d := range []string{"example.test", "implicit.test", "nomail.test", "nope.test"} {
		hosts, implicit, err := mtasts.ResolveMX(context.Background(), s.Resolver(), d)
		switch {
		case errors.Is(err, mtasts.ErrNullMX):
			fmt.Println(d, "accepts no mail")
		case errors.Is(err, mtasts.ErrNoSuchDomain):
			fmt.Println(d, "does not exist")
		case err != nil:
			fmt.Println(d, "try again later:", err)
		default:
			for _, h := range hosts {
				fmt.Println(d, h.Pref, h.Host, implicit)
			}
		}
	}
	// Output:
	// example.test 10 mx1.example.test false
	// example.test 20 mx2.example.test false
	// implicit.test 0 implicit.test true
	// nomail.test accepts no mail
	// nope.test does not exist
}
