package mtasts

import (
	"context"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/strictmx/strictmx/cache"
	"github.com/strictmx/strictmx/mtasts/resolver"
)

// Timeouts and intervals. Each is the default for a Client field of the
// same purpose; a caller's context can only shorten the timeouts.
const (
	// DefaultFetchTimeout bounds one policy fetch, from DNS to the last
	// byte of the body (RFC 8461, Section 3.3).
	DefaultFetchTimeout = time.Minute
	// DefaultRecheckInterval is how often the `_mta-sts` id of a cached
	// policy is checked at most, per domain.
	DefaultRecheckInterval = time.Minute
	// DefaultNegativeTTL is how long "no record" is remembered at most.
	DefaultNegativeTTL = 5 * time.Minute
	// FetchBackoff is how long a failed fetch for one (domain, id) is not
	// retried (RFC 8461, Section 3.3).
	FetchBackoff = 5 * time.Minute
	// MaxPolicySize is the largest policy body accepted, in bytes. It is
	// cache.MaxPolicySize, so that every Store keeps what a fetch accepts.
	MaxPolicySize = cache.MaxPolicySize
	// DefaultUserAgent is sent with policy fetches.
	DefaultUserAgent = "strictmx-mtasts/0"
	// DefaultMaxDiscoveries is how many discoveries of distinct domains a
	// Client runs at once by default (see Client.MaxDiscoveries). Each
	// holds about four goroutines and a socket for up to FetchTimeout.
	DefaultMaxDiscoveries = 256
)

// Resolver looks up the TXT records of a name. Each string returned is one
// RR with its character-strings concatenated.
//
// Errors follow the net package: a *net.DNSError with IsNotFound set means
// the name or the record type does not exist (NXDOMAIN or NODATA); any other
// error is temporary. *net.Resolver satisfies Resolver, and so does
// *resolver.Stub, the default.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// MXResolver looks up the MX records of a domain, with the same error
// convention as Resolver; an error in which errors.Is finds
// resolver.ErrNXDOMAIN says the domain does not exist. *net.Resolver and
// *resolver.Stub satisfy it. ResolveMX turns its answer into the hosts to
// try.
type MXResolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
}

// A Client discovers, fetches, caches and refreshes MTA-STS policies.
//
// The zero value is ready to use: it resolves with the servers in
// /etc/resolv.conf, trusts the system roots, caches in memory and refuses to
// fetch from non-public addresses. A Client is safe for concurrent use; do not
// change its fields after first use.
type Client struct {
	// Resolver looks up `_mta-sts` TXT records. Nil means a *resolver.Stub
	// reading /etc/resolv.conf.
	Resolver Resolver

	// HTTPClient fetches policies. Nil means a built-in client with TLS 1.2
	// or newer, RootCAs, DialContext, no proxy and the dial guard. A non-nil
	// client is used as given (its TLS settings, proxy and dialer are the
	// caller's, and the dial guard does not apply), except that redirects
	// are always refused.
	HTTPClient *http.Client

	// RootCAs verifies policy hosts' certificates. Nil means the system
	// roots. Ignored when HTTPClient is set.
	RootCAs *x509.CertPool

	// DialContext makes the TCP connections of the built-in HTTP client.
	// Nil means a dialer that resolves the policy host with Resolver (when
	// it resolves addresses, as *resolver.Stub does; else the system
	// resolver) and refuses every address the dial guard refuses before
	// connecting. A caller's DialContext resolves names itself, so the
	// guard can only check the peer once connected: it then closes a
	// refused connection before a byte is sent. Ignored when HTTPClient is
	// set.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// Proxy chooses a proxy for policy fetches, as http.Transport.Proxy
	// does. Nil means none (the environment is not consulted). Through a
	// proxy the dial guard sees only the proxy's address, never the
	// policy host's: the proxy must refuse private destinations itself.
	// Ignored when HTTPClient is set.
	Proxy func(*http.Request) (*url.URL, error)

	// AllowPrivate turns the dial guard off. By default the built-in HTTP
	// client connects only to globally reachable addresses (see
	// DialGuard), so that a hostile DNS answer cannot point a fetch into
	// the sender's own network. Set it for tests and intranets.
	AllowPrivate bool

	// AllowMissingContentType accepts a policy response that has no
	// Content-Type header. By default it is refused.
	AllowMissingContentType bool

	// FetchTimeout bounds one fetch. Zero means DefaultFetchTimeout.
	FetchTimeout time.Duration

	// UserAgent is sent with fetches. Empty means DefaultUserAgent.
	UserAgent string

	// Store caches policies. Nil means the Client's own memory: one
	// least-recently-used table of DefaultCacheSize domains, which keeps
	// each domain's parsed policy and the Result a hit returns, and
	// nothing else. With a Store, the Client also holds the policies it
	// fetches in that memory, and uses them until they expire when the
	// Store fails, misses or keeps an older entry: a Store outage costs no
	// refetches and loses no policy.
	Store cache.Store

	// RecheckInterval is the least time between two checks of a cached
	// policy's `_mta-sts` id. Zero means DefaultRecheckInterval.
	RecheckInterval time.Duration

	// NegativeTTL bounds how long "no record" is cached. Zero means
	// DefaultNegativeTTL; negative means never cache it.
	NegativeTTL time.Duration

	// Now tells the time, for every decision the Client makes (see
	// Lookup). Nil means the system clock as read at first use, advanced
	// by the monotonic clock from then on.
	Now func() time.Time

	// Logger receives debug records for normal paths and warnings for what
	// an operator must act on. Nil means discard.
	Logger *slog.Logger

	// Hooks are called on events, for metrics. Unset hooks are skipped.
	Hooks Hooks

	// RefreshConcurrency bounds the fetches Run makes at once. Zero means 4.
	RefreshConcurrency int

	// MaxDiscoveries bounds the discoveries (record lookup, then fetch)
	// that Lookup, CheckID and Refresh run at once, one per domain: callers
	// of a domain already being discovered share its discovery and do not
	// count. When the bound is reached, a discovery is not started and its
	// callers get at once the cached policy, if there is one, or no
	// policy, with an Err wrapping ErrDiscoveryLimit. Run's refreshes are
	// bounded by RefreshConcurrency instead. Zero or negative means
	// DefaultMaxDiscoveries.
	MaxDiscoveries int

	once sync.Once
	// epoch is the wall and monotonic reading taken at init; epochUnix is
	// its wall time in Unix nanoseconds. Without Now, the Client's one
	// notion of the current time is epochUnix plus the monotonic time
	// elapsed since epoch (see nowUnix).
	epoch       time.Time
	epochUnix   int64
	epochMono   int64 // epoch as a cache.Monotonic reading
	res         Resolver
	http        *http.Client
	store       cache.Store    // Store; nil when the Client's memory is the store
	storeAt     cache.GetterAt // store, when it is one and Now is nil
	log         *slog.Logger
	flight      singleflight.Group
	discoveries atomic.Int64  // limited discoveries in flight
	backoff     *backoffTable // failed fetches by domain, summarised
	// mem holds the policies this Client fetched, by domain, and, when
	// Store is nil, every cache entry: Run keeps its policies fresh, and
	// Lookup answers from it when there is no Store or the Store fails or
	// misses.
	mem *index[stateRef]
	// vouched holds, with a Store and the system clock, the Store's
	// entries that it vouches for (cache.Entry.FreshAt), and vouching is
	// set once it holds one: until then Lookup does not look there.
	vouched  *index[vouchedRef]
	vouching atomic.Bool
}

// DefaultCacheSize is the number of domains the default in-memory store,
// the policies a Client holds in memory and the fetch back-off hold:
// cache.DefaultLRUSize, the default of every store.
const DefaultCacheSize = cache.DefaultLRUSize

func (c *Client) init() {
	c.once.Do(func() {
		c.epoch = time.Now()
		c.epochUnix = c.epoch.UnixNano()
		c.epochMono = cache.Monotonic(c.epoch)
		c.res = c.Resolver
		if c.res == nil {
			c.res = &resolver.Stub{}
		}
		c.http = c.newHTTPClient() // after c.res: it resolves with it
		c.store = c.Store          // nil: mem is the store
		if g, ok := c.store.(cache.GetterAt); ok && c.Now == nil {
			c.storeAt = g
		}
		c.log = c.Logger
		if c.log == nil {
			c.log = slog.New(slog.DiscardHandler)
		}
		c.backoff = newBackoffTable(DefaultCacheSize)
		c.mem = newIndex[stateRef](DefaultCacheSize)
		if c.store != nil && c.Now == nil {
			c.vouched = newIndex[vouchedRef](DefaultCacheSize)
		}
	})
}

func (c *Client) resolver() Resolver {
	c.init()
	return c.res
}

// nowUnix is the Client's one notion of the current time, in Unix
// nanoseconds: Now when it is set, otherwise the wall time read at init
// plus the monotonic time elapsed since (one monotonic read, about half the
// cost of time.Now here). Every decision (expiry, re-checks, back-off,
// fetch and expiry times stored and reported) uses it, so a step of the
// system's wall clock after init changes none of them.
func (c *Client) nowUnix() int64 {
	if c.Now != nil {
		return c.Now().UnixNano()
	}
	return c.epochUnix + int64(time.Since(c.epoch))
}

// monotonic is the reading n of nowUnix as a cache.Monotonic reading, the
// scale on which Stores vouch for entries; without Now only (the Client
// does not look at vouching otherwise).
func (c *Client) monotonic(n int64) int64 { return n - c.epochUnix + c.epochMono }

// now is nowUnix as a time.Time.
func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Unix(0, c.nowUnix())
}

// storeTime is the reading n of nowUnix as a Store's default clock, when
// the Client has one (no Now): with the monotonic reading of the same
// instant, so that a Store that times its own entries on the monotonic
// clock (see cache.GetterAt) reads the same instant without reading the
// clock again.
func (c *Client) storeTime(n int64) time.Time {
	return c.epoch.Add(time.Duration(n - c.epochUnix))
}

func (c *Client) fetchTimeout() time.Duration {
	if c.FetchTimeout > 0 {
		return c.FetchTimeout
	}
	return DefaultFetchTimeout
}

func (c *Client) recheckInterval() time.Duration {
	if c.RecheckInterval > 0 {
		return c.RecheckInterval
	}
	return DefaultRecheckInterval
}

func (c *Client) negativeTTL() time.Duration {
	if c.NegativeTTL != 0 {
		return c.NegativeTTL
	}
	return DefaultNegativeTTL
}

func (c *Client) userAgent() string {
	if c.UserAgent != "" {
		return c.UserAgent
	}
	return DefaultUserAgent
}

func (c *Client) refreshConcurrency() int {
	if c.RefreshConcurrency > 0 {
		return c.RefreshConcurrency
	}
	return 4
}

func (c *Client) maxDiscoveries() int {
	if c.MaxDiscoveries > 0 {
		return c.MaxDiscoveries
	}
	return DefaultMaxDiscoveries
}

// Hooks are optional callbacks for metrics, in the manner of
// net/http/httptrace. They must be fast and must not block; they are called
// synchronously from the goroutine doing the work.
type Hooks struct {
	// CacheHit is called when Lookup answers from the cache.
	CacheHit func(domain string)
	// CacheMiss is called when Lookup has to discover the policy.
	CacheMiss func(domain string)
	// Fetched is called after every policy fetch with its outcome.
	Fetched func(domain string, d time.Duration, err error)
	// RecordChecked is called after every `_mta-sts` lookup.
	RecordChecked func(domain string, d time.Duration, err error)
	// DiscoveryRefused is called when a discovery is not started because
	// MaxDiscoveries are in flight.
	DiscoveryRefused func(domain string)
}
