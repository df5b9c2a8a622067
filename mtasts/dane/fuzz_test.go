package dane_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/strictmx/strictmx/mtasts/dane"
	"github.com/strictmx/strictmx/mtasts/resolver"
)

// decodeRecords reads records from fuzz input: each is usage, selector,
// matching type, a two-byte length and that many data bytes (fewer at the
// end of the input).
func decodeRecords(b []byte) []resolver.TLSA {
	var recs []resolver.TLSA
	for len(b) >= 5 {
		n := min(int(b[3])<<8|int(b[4]), len(b)-5)
		recs = append(recs, tl(b[0], b[1], b[2], b[5:5+n]))
		b = b[5+n:]
	}
	return recs
}

func encodeRecords(recs ...resolver.TLSA) []byte {
	var b []byte
	for _, r := range recs {
		b = append(b, r.Usage, r.Selector, r.MatchingType, byte(len(r.Data)>>8), byte(len(r.Data)))
		b = append(b, r.Data...)
	}
	return b
}

// FuzzNewRRset: arbitrary records never make NewRRset panic or keep more
// than the bounds, and its policy strings do not depend on the order of
// the records given.
func FuzzNewRRset(f *testing.F) {
	c := fuzzChain(f)
	d32, d64 := make([]byte, 32), make([]byte, 64)
	// One usable record of each kind.
	f.Add(encodeRecords(tl(3, 1, 1, d32)))
	f.Add(encodeRecords(tl(2, 0, 2, d64)))
	f.Add(encodeRecords(rec(3, 0, 0, c.leaf.cert), rec(2, 1, 0, c.root.cert)))
	// Agility: a 3 1 1 beside a 3 1 2, and a short 3 1 2.
	f.Add(encodeRecords(tl(3, 1, 1, d32), tl(3, 1, 2, d64), tl(3, 1, 2, d32)))
	// Unusable: PKIX usages, unknown selectors and matching types, empty
	// and garbage data, duplicates.
	f.Add(encodeRecords(tl(0, 0, 1, d32), tl(1, 1, 1, d32), tl(3, 2, 1, d32), tl(3, 1, 255, d32), tl(3, 1, 1, nil), tl(3, 0, 0, []byte{0x30, 0x03, 0x02, 0x01, 0x00}), tl(3, 1, 1, d32)))
	// Truncated input.
	f.Add([]byte{3, 1, 1, 0xff, 0xff, 0xab})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs := decodeRecords(b)
		set := dane.NewRRset(recs)
		kept, total, nonEmpty, usable := set.Records(), 0, 0, 0
		for _, r := range kept {
			total += len(r.Data)
			if len(r.Data) > 0 {
				nonEmpty++
			}
			if dane.Usable(r) {
				usable++
			}
		}
		if len(kept) > dane.MaxRecords || total > dane.MaxData {
			t.Fatalf("kept %d records, %d bytes", len(kept), total)
		}
		// Agility sets records aside but never all of them: the
		// strongest digest present is itself usable.
		if set.Usable() > usable || (usable > 0) != (set.Usable() > 0) {
			t.Fatalf("Usable() = %d with %d usable records kept", set.Usable(), usable)
		}
		ps := set.PolicyStrings()
		if !slices.IsSorted(ps) || len(ps) != nonEmpty {
			t.Fatalf("PolicyStrings = %q for %d records with data", ps, nonEmpty)
		}
		// Round trip: each policy string is a kept record.
		for _, p := range ps {
			f := strings.Fields(p)
			if len(f) != 4 || strings.ToUpper(f[3]) != f[3] {
				t.Fatalf("policy string %q", p)
			}
			u, _ := strconv.Atoi(f[0])
			s, _ := strconv.Atoi(f[1])
			m, _ := strconv.Atoi(f[2])
			d, err := hex.DecodeString(f[3])
			if err != nil || !slices.ContainsFunc(kept, func(r resolver.TLSA) bool {
				return int(r.Usage) == u && int(r.Selector) == s && int(r.MatchingType) == m && bytes.Equal(r.Data, d)
			}) {
				t.Fatalf("policy string %q is no kept record", p)
			}
		}
		// Order independence: reversed and rotated input.
		rev := slices.Clone(recs)
		slices.Reverse(rev)
		if got := dane.NewRRset(rev); !slices.Equal(got.PolicyStrings(), ps) || got.Usable() != set.Usable() {
			t.Fatalf("reversed input: %q, %d; want %q, %d", got.PolicyStrings(), got.Usable(), ps, set.Usable())
		}
		if len(recs) > 1 {
			rot := append(slices.Clone(recs[1:]), recs[0])
			if got := dane.NewRRset(rot); !slices.Equal(got.PolicyStrings(), ps) || got.Usable() != set.Usable() {
				t.Fatalf("rotated input: %q; want %q", got.PolicyStrings(), ps)
			}
		}
	})
}

var (
	fuzzOnce sync.Once
	fuzzPKI  *chain
)

// fuzzChain is one chain per process for the fuzz tests: what matches is
// worked out from it on each run, so its keys need not be fixed.
func fuzzChain(tb testing.TB) *chain {
	fuzzOnce.Do(func() { fuzzPKI = newChain(tb) })
	if fuzzPKI == nil {
		tb.Fatal("no chain for the fuzz tests")
	}
	return fuzzPKI
}

// derive turns the fuzz encoding of FuzzVerify into records: each is
// usage, selector, matching type, src, and a length byte. With src & 0x7f
// below 4 the data is derived from a certificate of the chain (0 leaf, 1
// intermediate, 2 root, 3 an unrelated root) by the selector and matching
// type (SHA-256 for unknown matching types), its last byte flipped when
// src & 0x80 is set; else the length byte tells how many literal data
// bytes follow.
func derive(c *chain, b []byte) []resolver.TLSA {
	nodes := []*node{c.leaf, c.inter, c.root, c.other}
	var recs []resolver.TLSA
	for len(b) >= 5 {
		u, s, m, src, n := b[0], b[1], b[2], b[3], int(b[4])
		b = b[5:]
		var data []byte
		if i := src & 0x7f; i < 4 {
			data = bytes.Clone(content(nodes[i].cert, s&1))
			switch m {
			case dane.MatchingFull:
			case dane.MatchingSHA512:
				d := sha512.Sum512(data)
				data = d[:]
			default:
				d := sha256.Sum256(data)
				data = d[:]
			}
			if src&0x80 != 0 {
				data[len(data)-1] ^= 1
			}
		} else {
			n = min(n, len(b))
			data, b = bytes.Clone(b[:n]), b[n:]
		}
		recs = append(recs, tl(u, s, m, data))
	}
	return recs
}

// transform is what a record of selector s and matching type m holds for
// x.
func transform(x *x509.Certificate, s, m uint8) []byte {
	data := content(x, s)
	switch m {
	case dane.MatchingSHA256:
		d := sha256.Sum256(data)
		return d[:]
	case dane.MatchingSHA512:
		d := sha512.Sum512(data)
		return d[:]
	}
	return data
}

// truth works out, without package dane, whether a record set matches
// the chain as sent: leaf, then the intermediate if interSent, then the
// root if rootSent (and the unrelated root, which never helps).
func truth(c *chain, recs []resolver.TLSA, interSent, rootSent bool) bool {
	// Digest agility over the records with a correct digest length.
	var strongest [4][2]uint8
	digestOK := func(r resolver.TLSA) bool {
		return r.Usage >= 2 && r.Usage <= 3 && r.Selector <= 1 &&
			(r.MatchingType == 1 && len(r.Data) == 32 || r.MatchingType == 2 && len(r.Data) == 64)
	}
	for _, r := range recs {
		if digestOK(r) {
			strongest[r.Usage][r.Selector] = max(strongest[r.Usage][r.Selector], r.MatchingType)
		}
	}
	for _, r := range recs {
		if r.Usage < 2 || r.Usage > 3 || r.Selector > 1 || r.MatchingType > 2 {
			continue
		}
		if r.MatchingType != 0 && (!digestOK(r) || r.MatchingType != strongest[r.Usage][r.Selector]) {
			continue
		}
		if r.Usage == 3 {
			if bytes.Equal(r.Data, transform(c.leaf.cert, r.Selector, r.MatchingType)) {
				return true
			}
			continue
		}
		// DANE-TA: the intermediate signed the leaf, the root the
		// intermediate.
		for _, x := range []struct {
			n    *node
			sent bool
			path bool // the path from the leaf up to it is there
		}{{c.inter, interSent, true}, {c.root, rootSent, interSent}} {
			if !x.path {
				continue
			}
			if bytes.Equal(r.Data, transform(x.n.cert, r.Selector, r.MatchingType)) && (r.MatchingType == 0 || x.sent) {
				return true
			}
			// A 2 0 0 certificate is an anchor for its subject and key
			// alone: its own signature is never checked.
			if r.Selector == 0 && r.MatchingType == 0 {
				a, err := x509.ParseCertificate(r.Data)
				if err == nil && bytes.Equal(a.RawSubject, x.n.cert.RawSubject) &&
					bytes.Equal(a.RawSubjectPublicKeyInfo, x.n.cert.RawSubjectPublicKeyInfo) &&
					a.BasicConstraintsValid && a.IsCA && !now.Before(a.NotBefore) && !now.After(a.NotAfter) &&
					len(a.UnhandledCriticalExtensions) == 0 {
					return true
				}
			}
		}
	}
	return false
}

// FuzzVerify: Verify accepts a chain exactly when a record really matches
// it, as truth works out independently; it never panics.
func FuzzVerify(f *testing.F) {
	c := fuzzChain(f)
	all := uint8(0b111)
	for _, u := range []uint8{2, 3} {
		for _, s := range []uint8{0, 1} {
			for _, m := range []uint8{0, 1, 2} {
				for src := range uint8(4) {
					f.Add([]byte{u, s, m, src, 0}, all)
				}
			}
		}
	}
	// Anchors not sent, the intermediate not sent, flipped data.
	f.Add([]byte{2, 0, 1, 2, 0}, uint8(0b001))
	f.Add([]byte{2, 0, 0, 2, 0}, uint8(0b001))
	f.Add([]byte{2, 1, 0, 2, 0}, uint8(0b010))
	f.Add([]byte{3, 1, 1, 0x80, 0}, all)
	// A 2 0 0 certificate whose own signature is broken still anchors.
	f.Add([]byte{2, 0, 0, 0x81, 0}, uint8(0b000))
	// Agility: a matching 3 1 1 beside a non-matching 3 1 2.
	f.Add([]byte{3, 1, 1, 0, 0, 3, 1, 2, 0x80, 0}, all)
	// Literal data, and the unrelated root sent first (bit 3).
	f.Add([]byte{3, 1, 1, 4, 3, 0xaa, 0xbb, 0xcc}, uint8(0b1111))
	f.Fuzz(func(t *testing.T, b []byte, sent uint8) {
		set := dane.NewRRset(derive(c, b))
		chainSent := []*x509.Certificate{c.leaf.cert}
		var extra []*x509.Certificate
		if sent&1 != 0 {
			extra = append(extra, c.inter.cert)
		}
		if sent&2 != 0 {
			extra = append(extra, c.root.cert)
		}
		if sent&4 != 0 {
			extra = append(extra, c.other.cert)
		}
		if sent&8 != 0 {
			slices.Reverse(extra)
		}
		chainSent = append(chainSent, extra...)
		err := set.Verify(chainSent, ids, now)
		want := truth(c, set.Records(), sent&1 != 0, sent&2 != 0)
		if (err == nil) != want {
			t.Fatalf("Verify = %v, truth %v, records %q", err, want, set.PolicyStrings())
		}
		var de *dane.Error
		if err != nil && !errors.As(err, &de) {
			t.Fatalf("Verify = %v, not a *dane.Error", err)
		}
	})
}
