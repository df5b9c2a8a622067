package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"strings"
	"testing"

	"github.com/strictmx/strictmx/mtasts/dane"
	"github.com/strictmx/strictmx/mtasts/resolver"
)

func digest(n int) []byte { return bytes.Repeat([]byte{0xab}, n) }

func spki(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Each record of a secure RRset is shown usable or not, with why.
func TestTLSAReports(t *testing.T) {
	rec := func(u, s, m uint8, data []byte) resolver.TLSA {
		return resolver.TLSA{Usage: u, Selector: s, MatchingType: m, Data: data}
	}
	for _, tc := range []struct {
		name   string
		recs   []resolver.TLSA
		usable []bool
		note   []string // a substring of each note, "" for none
	}{
		// Contract section 4: usable records.
		{"3 1 1", []resolver.TLSA{rec(3, 1, 1, digest(32))}, []bool{true}, []string{""}},
		{"2 0 2", []resolver.TLSA{rec(2, 0, 2, digest(64))}, []bool{true}, []string{""}},
		{"3 1 0 key", []resolver.TLSA{rec(3, 1, 0, spki(t))}, []bool{true}, []string{""}},
		// Unusable records.
		{"PKIX-TA", []resolver.TLSA{rec(0, 0, 1, digest(32))}, []bool{false}, []string{"PKIX-TA(0) is not used"}},
		{"PKIX-EE", []resolver.TLSA{rec(1, 1, 1, digest(32))}, []bool{false}, []string{"PKIX-EE(1) is not used"}},
		{"usage 4", []resolver.TLSA{rec(4, 1, 1, digest(32))}, []bool{false}, []string{"usage 4 is not defined"}},
		{"selector 2", []resolver.TLSA{rec(3, 2, 1, digest(32))}, []bool{false}, []string{"selector 2 is not defined"}},
		{"matching 255", []resolver.TLSA{rec(3, 1, 255, digest(32))}, []bool{false}, []string{"matching type 255 is not defined"}},
		{"short SHA2-256", []resolver.TLSA{rec(3, 1, 1, digest(31))}, []bool{false}, []string{"32 bytes, this one 31"}},
		{"long SHA2-512", []resolver.TLSA{rec(3, 1, 2, digest(65))}, []bool{false}, []string{"64 bytes, this one 65"}},
		{"full, not a certificate", []resolver.TLSA{rec(3, 0, 0, digest(40))}, []bool{false}, []string{"not a certificate"}},
		{"full, not a key", []resolver.TLSA{rec(2, 1, 0, digest(40))}, []bool{false}, []string{"not a public key"}},
		// Digest agility (RFC 7672, Section 5): the strongest digest per
		// usage and selector; Full(0) and other pairs untouched.
		{"agility", []resolver.TLSA{rec(3, 1, 1, digest(32)), rec(3, 1, 2, digest(64)), rec(3, 0, 1, digest(32)), rec(3, 1, 0, spki(t))},
			[]bool{false, true, true, true}, []string{"set aside: a SHA2-512(2) record", "", "", ""}},
		// An unusable SHA2-512 record does not set a SHA2-256 one aside.
		{"agility, unusable stronger", []resolver.TLSA{rec(3, 1, 1, digest(32)), rec(3, 1, 2, digest(10))},
			[]bool{true, false}, []string{"", "64 bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := dane.NewRRset(tc.recs)
			got := tlsaReports(set)
			if len(got) != len(tc.usable) {
				t.Fatalf("%d reports, want %d: %+v", len(got), len(tc.usable), got)
			}
			// NewRRset orders the records; match the reports by record.
			for i, r := range tc.recs {
				var g *tlsaReport
				for j := range got {
					if got[j].Record == tlsaString(r) {
						g = &got[j]
					}
				}
				if g == nil {
					t.Fatalf("no report for %s", tlsaString(r))
				}
				if g.Usable != tc.usable[i] || tc.note[i] == "" && g.Note != "" || !strings.Contains(g.Note, tc.note[i]) {
					t.Errorf("%s: usable %v, note %q; want %v, %q", g.Record, g.Usable, g.Note, tc.usable[i], tc.note[i])
				}
			}
			checkAgreement(t, set, got)
		})
	}
}

// checkAgreement fails unless the reports agree with package dane: a
// record is shown usable exactly when it counts, and only unusable ones
// have notes.
func checkAgreement(t *testing.T, set *dane.RRset, got []tlsaReport) {
	t.Helper()
	n := 0
	for i, r := range set.Records() {
		if got[i].Usable {
			n++
			if !dane.Usable(r) || got[i].Note != "" {
				t.Errorf("%s shown usable with note %q; dane.Usable %v", got[i].Record, got[i].Note, dane.Usable(r))
			}
		} else if got[i].Note == "" || got[i].Note == "not usable" {
			t.Errorf("%s shown unusable without a reason (%q)", got[i].Record, got[i].Note)
		}
	}
	if n != set.Usable() {
		t.Errorf("%d records shown usable, RRset.Usable() = %d", n, set.Usable())
	}
}

// FuzzTLSAReports: for any RRset the notes agree with package dane.
func FuzzTLSAReports(f *testing.F) {
	// Each record: usage, selector, matching type, data length, data.
	f.Add([]byte{3, 1, 1, 32})                          // 3 1 1, digest of zeros
	f.Add([]byte{3, 1, 1, 32, 3, 1, 2, 64})             // agility
	f.Add([]byte{0, 0, 1, 32, 1, 1, 1, 32})             // PKIX usages
	f.Add([]byte{2, 0, 0, 3, 1, 2, 3})                  // full data, not a certificate
	f.Add([]byte{3, 1, 1, 31, 3, 1, 2, 63, 9, 9, 9, 0}) // bad lengths, unknown values
	f.Fuzz(func(t *testing.T, b []byte) {
		var recs []resolver.TLSA
		for len(b) >= 4 && len(recs) < 64 {
			n := min(int(b[3]), 80)
			data := make([]byte, n)
			copy(data, b[4:])
			recs = append(recs, resolver.TLSA{Usage: b[0], Selector: b[1], MatchingType: b[2], Data: data})
			b = b[min(len(b), 4+n):]
		}
		set := dane.NewRRset(recs)
		checkAgreement(t, set, tlsaReports(set))
	})
}

func TestShortTLSA(t *testing.T) {
	for in, want := range map[string]string{
		"3 1 1 ABCD":                        "3 1 1 ABCD",
		"3 1 1 ":                            "3 1 1 ",
		"3 1 1 " + strings.Repeat("AB", 32): "3 1 1 ABABABABABAB…ABABABABABAB (32 bytes)",
	} {
		if got := shortTLSA(in); got != want {
			t.Errorf("shortTLSA(%q) = %q, want %q", in, got, want)
		}
	}
}
