package resolver

import "errors"

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
)

// Unusable records, wrapped like the answer errors. They are not exported:
// a caller handles them as any temporary failure.
var (
	// errNoUsableMX means an MX answer had records but none with a usable
	// host name.
	errNoUsableMX = errors.New("resolver: no usable mx host in dns answer")
	// errNoUsableAddr means an A or AAAA answer had records but none with
	// an address of the right length (an empty RDATA unpacks to none).
	errNoUsableAddr = errors.New("resolver: no usable address in dns answer")
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
)
