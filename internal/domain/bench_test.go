package domain

import "testing"

// BenchmarkNormalize: names that are already normal are the common case on
// a sender's hot path (a cached MTA-STS lookup normalises its domain on
// every call), and must cost as little as a check can.
func BenchmarkNormalize(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"normal-short", "example.com"},
		{"normal-long", "smtp-relay.mail-delivery.eu-west-1.example-corporation.co.uk"},
		{"upper", "Mail.Example.COM"},
		{"trailing-dot", "mail.example.com."},
		{"a-label", "xn--bcher-kva.example"},
		{"u-label", "bücher.example"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Normalize(bc.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
