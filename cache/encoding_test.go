package cache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
	"time"
)

func sampleEntry() *Entry {
	return &Entry{
		Domain:  "example.com",
		ID:      "20260101T000000",
		Policy:  "version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 86400\n",
		Fetched: time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.FixedZone("X", 3600)),
		Expires: time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC),
	}
}

func sameFields(a, b *Entry) bool {
	return a.Domain == b.Domain && a.ID == b.ID && a.Policy == b.Policy &&
		a.Fetched.Equal(b.Fetched) && a.Expires.Equal(b.Expires)
}

func TestEncodingRoundTrip(t *testing.T) {
	max := &Entry{
		Domain:  strings.Repeat(strings.Repeat("a", 63)+".", 3) + strings.Repeat("b", 61),
		ID:      strings.Repeat("1", MaxIDLength),
		Policy:  strings.Repeat("x", MaxPolicySize),
		Fetched: time.Unix(1<<40, 999999999),
		Expires: time.Unix(-1<<40, 0),
	}
	for _, e := range []*Entry{
		sampleEntry(),
		{Domain: "a.b", Fetched: time.Now(), Expires: time.Now().Add(time.Hour)}, // negative, monotonic clock
		{Domain: "xn--bcher-kva.example"},                                        // zero times
		max,
	} {
		e.SetMemo(42)
		b, err := MarshalEntry(e)
		if err != nil {
			t.Fatalf("MarshalEntry(%s): %v", e.Domain, err)
		}
		if len(max.Domain) != MaxDomainLength || len(b) > MaxEncodedSize {
			t.Fatalf("bad test: len(max.Domain) = %d, encoded %d", len(max.Domain), len(b))
		}
		got, err := UnmarshalEntry(b)
		if err != nil {
			t.Fatalf("UnmarshalEntry(%s): %v", e.Domain, err)
		}
		if !sameFields(got, e) {
			t.Errorf("round trip of %s: got %+v, want %+v", e.Domain, got, e)
		}
		if got.Memo() != nil {
			t.Errorf("memo was persisted: %v", got.Memo())
		}
		if got.Fetched.Location() != time.UTC {
			t.Errorf("Fetched location %v, want UTC", got.Fetched.Location())
		}
		if got.Negative() != e.Negative() {
			t.Errorf("Negative() = %v, want %v", got.Negative(), e.Negative())
		}
	}
}

func TestMarshalInvalid(t *testing.T) {
	ok := sampleEntry()
	for name, e := range map[string]*Entry{
		"nil":              nil,
		"empty domain":     {},
		"upper case":       {Domain: "Example.com"},
		"trailing dot":     {Domain: "example.com."},
		"slash":            {Domain: "a/b.com"},
		"dot dot":          {Domain: "../etc"},
		"leading dot":      {Domain: ".example.com"},
		"ip literal":       {Domain: "192.0.2.1"},
		"long domain":      {Domain: strings.Repeat("a.", 127) + "com"},
		"long id":          {Domain: "a.com", ID: strings.Repeat("1", MaxIDLength+1)},
		"long policy":      {Domain: "a.com", ID: "1", Policy: strings.Repeat("x", MaxPolicySize+1)},
		"negative w/ body": {Domain: "a.com", Policy: ok.Policy},
	} {
		if _, err := MarshalEntry(e); !errors.Is(err, ErrInvalidEntry) {
			t.Errorf("%s: MarshalEntry error %v, want ErrInvalidEntry", name, err)
		}
	}
}

// reseal recomputes the checksum after a test edits encoded bytes.
func reseal(b []byte) []byte {
	n := len(b) - trailerLen
	binary.BigEndian.PutUint32(b[n:], crc32.Checksum(b[:n], castagnoli))
	return b
}

func TestUnmarshalCorrupt(t *testing.T) {
	good, err := MarshalEntry(sampleEntry())
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for _, tc := range []struct {
		name    string
		data    []byte
		version byte
	}{
		{"empty", nil, 0},
		{"unknown version", edit(func(b []byte) []byte { b[0] = 2; return reseal(b) }), 2},
		{"json", []byte(`{"domain":"example.com"}`), '{'},
		{"truncated header", good[:20], 1},
		{"truncated body", good[:len(good)-1], 1},
		{"trailing byte", append(bytes.Clone(good), 0), 1},
		{"flipped bit", edit(func(b []byte) []byte { b[40] ^= 1; return b }), 1},
		{"length mismatch", edit(func(b []byte) []byte { b[2]++; return reseal(b) }), 1},
		{"huge policy length", edit(func(b []byte) []byte { b[3] = 0xff; return reseal(b) }), 1},
		{"bad nanoseconds", edit(func(b []byte) []byte { b[15] = 0xff; return reseal(b) }), 1},
		{"upper-case domain", edit(func(b []byte) []byte { b[headerLen] = 'E'; return reseal(b) }), 1},
		{"too long", make([]byte, MaxEncodedSize+1), 0},
	} {
		if tc.name == "too long" {
			tc.data[0] = EncodingVersion
			tc.version = EncodingVersion
		}
		e, err := UnmarshalEntry(tc.data)
		var ce *CorruptError
		if e != nil || !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) {
			t.Errorf("%s: got %v, %v; want nil, *CorruptError", tc.name, e, err)
			continue
		}
		if ce.Version != tc.version {
			t.Errorf("%s: Version = %d, want %d", tc.name, ce.Version, tc.version)
		}
		if !strings.HasPrefix(err.Error(), "cache: ") {
			t.Errorf("%s: error %q lacks the package prefix", tc.name, err)
		}
	}
}

func FuzzUnmarshalEntry(f *testing.F) {
	add := func(e *Entry) {
		b, err := MarshalEntry(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// A typical positive entry.
	add(sampleEntry())
	// A negative entry with zero times.
	add(&Entry{Domain: "no-sts.example"})
	// A punycode domain and a one-octet policy.
	add(&Entry{Domain: "xn--bcher-kva.example", ID: "a", Policy: "x", Expires: time.Unix(1<<33, 1)})
	// Garbage: empty, a bare version byte, JSON from some other cache.
	f.Add([]byte{})
	f.Add([]byte{EncodingVersion})
	f.Add([]byte(`{"domain":"example.com","id":"1"}`))
	// A header claiming a 4 GiB policy.
	f.Add(reseal(append([]byte{1, 5, 1, 0xff, 0xff, 0xff, 0xff}, make([]byte, 24+4)...)))

	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(data []byte) {
			e, err := UnmarshalEntry(data)
			if err != nil {
				if e != nil || !errors.Is(err, ErrCorrupt) {
					t.Fatalf("UnmarshalEntry = %v, %v; want nil and ErrCorrupt", e, err)
				}
				return
			}
			// Round trip: accepted bytes are the canonical encoding.
			b, err := MarshalEntry(e)
			if err != nil {
				t.Fatalf("MarshalEntry of a decoded entry: %v", err)
			}
			if !bytes.Equal(b, data) {
				t.Fatalf("re-encoding differs:\n got %x\nwant %x", b, data)
			}
			e2, err := UnmarshalEntry(b)
			if err != nil || !sameFields(e, e2) {
				t.Fatalf("second decode: %+v, %v; want %+v", e2, err, e)
			}
		}
		check(data)
		// Random bytes almost never carry a good checksum; also try them
		// with a correct one so the fuzzer reaches the field checks.
		if len(data) >= headerLen+trailerLen && len(data) <= MaxEncodedSize {
			check(reseal(bytes.Clone(data)))
		}
	})
}
