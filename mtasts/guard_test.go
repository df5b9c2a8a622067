package mtasts

import (
	"errors"
	"testing"
)

func TestDialGuard(t *testing.T) {
	for addr, ok := range map[string]bool{
		// Public.
		"8.8.8.8:443":                true,
		"[2001:4860:4860::8888]:443": true,
		// Not public.
		"127.0.0.1:443":          false,
		"10.1.2.3:443":           false,
		"172.16.0.1:443":         false,
		"192.168.1.1:443":        false,
		"169.254.169.254:443":    false, // cloud metadata
		"0.0.0.0:443":            false,
		"255.255.255.255:443":    false,
		"224.0.0.1:443":          false,
		"[::1]:443":              false,
		"[fe80::1]:443":          false,
		"[fc00::1]:443":          false,
		"[::ffff:127.0.0.1]:443": false,
		"[::]:443":               false,
		"not an address":         false,
	} {
		err := DialGuard("tcp", addr, nil)
		if (err == nil) != ok {
			t.Errorf("DialGuard(%q) = %v; want allowed=%v", addr, err, ok)
		}
		if err != nil && !errors.Is(err, ErrDialGuard) {
			t.Errorf("DialGuard(%q): %v does not wrap ErrDialGuard", addr, err)
		}
	}
}
