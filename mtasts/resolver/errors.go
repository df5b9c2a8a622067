package resolver

import (
	"errors"
	"strconv"
)

// Absence, as a Stub reports it: inside a *net.DNSError with IsNotFound
// set, so that a caller can tell a name that does not exist from one
// without records of the type asked for (errors.Is finds them). Other
// resolvers, such as *net.Resolver, set only IsNotFound. A caller may act
// on the absence at once: it is the final answer, and may be cached for as
// long as LookupTXTWithTTL says.
var (
	// ErrNXDOMAIN means the name does not exist (RFC 2308, Section 2.1).
	ErrNXDOMAIN = errors.New("resolver: no such domain")
	// ErrNODATA means the name exists but has no records of the type
	// (RFC 2308, Section 2.2). For MX that makes the domain its own
	// implicit MX (RFC 5321, Section 5.1).
	ErrNODATA = errors.New("resolver: no records of this type")
)

// Answer errors. A Stub returns them inside a *net.DNSError (errors.Is
// finds them) whose IsNotFound is false: the answer cannot be used, so the
// outcome is temporary, as for SERVFAIL. A caller should treat the name as
// unresolvable for now and try again later.
var (
	// ErrAnswerTooLarge means a response held more records, or a lookup
	// more TXT data, than a Stub accepts.
	ErrAnswerTooLarge = errors.New("resolver: dns answer too large")
	// ErrCNAMELoop means a CNAME chain came back to a name it had
	// already passed.
	ErrCNAMELoop = errors.New("resolver: cname loop")
	// ErrCNAMEChainTooLong means a CNAME chain was longer than a Stub
	// follows.
	ErrCNAMEChainTooLong = errors.New("resolver: cname chain too long")
	// ErrInconsistent means a response had the AD bit and an rcode that
	// contradicts its records: NXDOMAIN holding records of the type
	// asked for.
	ErrInconsistent = errors.New("resolver: dns answer contradicts its rcode")
)

// ExtendedError is the RFC 8914 Extended DNS Error that a server put in a
// SERVFAIL response, such as INFO-CODE 6, "DNSSEC Bogus", from a
// validating resolver. A Stub returns it inside the *net.DNSError of the
// SERVFAIL (errors.As finds it), and FailureReason reports it as
// "dns-ede-<code>". It only explains the failure: the rcode decides.
type ExtendedError struct {
	// Code is the INFO-CODE.
	Code uint16
	// Text is the EXTRA-TEXT, as the server sent it; "" for none.
	Text string
}

func (e *ExtendedError) Error() string {
	s := "extended dns error " + strconv.Itoa(int(e.Code))
	if e.Text != "" {
		s += " (" + strconv.QuoteToASCII(e.Text) + ")"
	}
	return s
}

// Unusable records, wrapped like the answer errors. They are not exported:
// a caller handles them as any temporary failure.
var (
	// errNoUsableMX means an MX answer had records but none with a usable
	// host name.
	errNoUsableMX = errors.New("resolver: no usable mx host in dns answer")
	// errNoUsableAddr means an A or AAAA answer had records but none with
	// an address of the right length (an empty RDATA unpacks to none).
	errNoUsableAddr = errors.New("resolver: no usable address in dns answer")
	// errNoUsableTLSA means a TLSA answer had records but none whose
	// data could be read.
	errNoUsableTLSA = errors.New("resolver: no usable tlsa record in dns answer")
	// errNoUsableCNAME means a CNAME answer had records but no CNAME.
	errNoUsableCNAME = errors.New("resolver: no usable cname record in dns answer")
)

// Err texts of the *net.DNSError values a Stub returns, in the words the
// net package uses where it has them.
const (
	errTextNXDOMAIN  = "no such host"
	errTextNODATA    = "no such record"
	errTextSERVFAIL  = "server misbehaving"
	errTextREFUSED   = "refused"
	errTextTimeout   = "i/o timeout"
	errTextCanceled  = "operation was canceled"
	errTextMalformed = "malformed dns answer"
	errTextBadName   = "invalid domain name"
	errTextNoServers = "no dns servers configured"
	errTextNoAddress = "no suitable address"
	errTextRcode     = "dns error code "
)
