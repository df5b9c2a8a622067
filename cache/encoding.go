package cache

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/strictmx/strictmx/internal/domain"
)

// Size limits for an entry. Validate, MarshalEntry and UnmarshalEntry
// enforce them, so a store never holds or decodes more than about 64 KiB per
// domain.
const (
	// MaxDomainLength is the longest policy domain, in octets (RFC 1035,
	// Section 2.3.4, without the trailing dot).
	MaxDomainLength = domain.MaxLength
	// MaxIDLength is the longest policy id: RFC 8461, Section 3.1 defines
	// sts-id as 1*32( ALPHA / DIGIT ).
	MaxIDLength = 32
	// MaxPolicySize is the largest policy body, in octets: the size above
	// which strictmx refuses to fetch a policy (64 KiB).
	MaxPolicySize = 64 << 10
)

// EncodingVersion is the version byte that MarshalEntry writes first.
// UnmarshalEntry reads only this version; a store that finds another one
// treats the data as a miss, so an upgrade or downgrade costs at most one
// refetch per domain.
const EncodingVersion = 1

// Layout of encoding version 1 (all integers big-endian):
//
//	off  size  field
//	0    1     version (1)
//	1    1     len(Domain)
//	2    1     len(ID)
//	3    4     len(Policy)
//	7    8     Fetched, seconds since the Unix epoch (signed)
//	15   4     Fetched, nanoseconds (< 1e9)
//	19   8     Expires, seconds since the Unix epoch (signed)
//	27   4     Expires, nanoseconds (< 1e9)
//	31   ...   Domain, ID, Policy bytes
//	end-4 4    CRC-32C of everything before it
//
// Every field has a fixed width, so the encoding of an entry is unique:
// bytes that UnmarshalEntry accepts are exactly what MarshalEntry produces
// for the decoded entry.
const (
	headerLen  = 31
	trailerLen = 4
	// MaxEncodedSize is the largest encoding of a valid entry.
	MaxEncodedSize = headerLen + MaxDomainLength + MaxIDLength + MaxPolicySize + trailerLen
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Validate reports whether e can be stored: e is not nil, Domain is a
// lower-case LDH name of at most MaxDomainLength octets with no trailing dot
// (the form internal/domain.Normalize produces), ID and Policy are within
// MaxIDLength and MaxPolicySize, and a negative entry (empty ID) has an
// empty Policy. The error wraps ErrInvalidEntry. Validate does not allocate
// when e is valid.
func (e *Entry) Validate() error {
	if e == nil {
		return fmt.Errorf("%w: nil entry", ErrInvalidEntry)
	}
	if !ValidDomain(e.Domain) {
		return fmt.Errorf("%w: domain %q is not a lower-case host name", ErrInvalidEntry, e.Domain)
	}
	if len(e.ID) > MaxIDLength {
		return fmt.Errorf("%w: %s: id longer than %d octets", ErrInvalidEntry, e.Domain, MaxIDLength)
	}
	if len(e.Policy) > MaxPolicySize {
		return fmt.Errorf("%w: %s: policy longer than %d octets", ErrInvalidEntry, e.Domain, MaxPolicySize)
	}
	if e.ID == "" && e.Policy != "" {
		return fmt.Errorf("%w: %s: negative entry (empty id) with a policy", ErrInvalidEntry, e.Domain)
	}
	return nil
}

// ValidDomain reports whether name is usable as a store key: a lower-case
// LDH host name of at most MaxDomainLength octets with no trailing dot. Such
// a name never contains '/' and never begins with '.', so stores may use it
// as a file name. It does not allocate.
func ValidDomain(name string) bool {
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			return false
		}
	}
	return domain.ValidASCII(name)
}

// MarshalEntry returns the versioned binary encoding of e, for stores that
// keep entries outside the process. The memo is not encoded. Times are
// stored to the nanosecond, without location or monotonic clock reading.
// The error wraps ErrInvalidEntry when e fails Validate.
func MarshalEntry(e *Entry) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	n := headerLen + len(e.Domain) + len(e.ID) + len(e.Policy)
	b := make([]byte, headerLen, n+trailerLen)
	b[0] = EncodingVersion
	b[1] = byte(len(e.Domain))
	b[2] = byte(len(e.ID))
	binary.BigEndian.PutUint32(b[3:], uint32(len(e.Policy)))
	putTime(b[7:], e.Fetched)
	putTime(b[19:], e.Expires)
	b = append(b, e.Domain...)
	b = append(b, e.ID...)
	b = append(b, e.Policy...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

func putTime(b []byte, t time.Time) {
	binary.BigEndian.PutUint64(b, uint64(t.Unix()))
	binary.BigEndian.PutUint32(b[8:], uint32(t.Nanosecond()))
}

func getTime(b []byte) (time.Time, bool) {
	sec := int64(binary.BigEndian.Uint64(b))
	nsec := binary.BigEndian.Uint32(b[8:])
	if nsec >= 1e9 {
		return time.Time{}, false
	}
	return time.Unix(sec, int64(nsec)).UTC(), true
}

// UnmarshalEntry decodes data written by MarshalEntry. The entry it returns
// has times in UTC and no memo. Any data it cannot read (another version,
// a bad checksum, truncation, trailing bytes, a field over its limit) gives
// a *CorruptError, which wraps ErrCorrupt; it never panics, and it allocates
// no more than len(data) plus a constant.
func UnmarshalEntry(data []byte) (*Entry, error) {
	if len(data) == 0 {
		return nil, &CorruptError{Reason: "empty"}
	}
	v := data[0]
	corrupt := func(reason string) (*Entry, error) {
		return nil, &CorruptError{Version: v, Reason: reason}
	}
	switch {
	case v != EncodingVersion:
		return corrupt("unknown version")
	case len(data) < headerLen+trailerLen:
		return corrupt("truncated header")
	case len(data) > MaxEncodedSize:
		return corrupt("too long")
	}
	body := data[:len(data)-trailerLen]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(data[len(body):]) {
		return corrupt("checksum mismatch")
	}
	ld, li, lp := int(data[1]), int(data[2]), binary.BigEndian.Uint32(data[3:])
	switch {
	case ld > MaxDomainLength:
		return corrupt("domain too long")
	case li > MaxIDLength:
		return corrupt("id too long")
	case lp > MaxPolicySize:
		return corrupt("policy too long")
	case headerLen+ld+li+int(lp) != len(body):
		return corrupt("length mismatch")
	}
	fetched, ok1 := getTime(data[7:])
	expires, ok2 := getTime(data[19:])
	if !ok1 || !ok2 {
		return corrupt("bad nanoseconds")
	}
	s := string(body[headerLen:]) // one allocation for all three strings
	e := &Entry{
		Domain:  s[:ld],
		ID:      s[ld : ld+li],
		Policy:  s[ld+li:],
		Fetched: fetched,
		Expires: expires,
	}
	if err := e.Validate(); err != nil {
		return corrupt(err.Error())
	}
	return e, nil
}
