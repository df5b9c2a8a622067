// Package dialguard holds the one rule for every outgoing connection
// strictmx makes to an address it learnt from the DNS of a remote domain:
// the policy fetch of package mtasts, the https report delivery of
// tlsrpt/reporter.NoRedirectClient and the connections of
// tlsrpt/reporter.DirectMailer to MX hosts. A hostile DNS answer could
// otherwise point those connections into the sender's own network.
//
// Allowed is the address rule. Control applies it in a net.Dialer to the
// address actually dialled, after name resolution, so that a second DNS
// answer (DNS rebinding) cannot get round it; Dial applies it to the peer of
// a connection made by a dialer the guard cannot hook into. Every refusal
// wraps ErrRefused and the caller's own error class, so that a caller's
// users match the caller's sentinel (mtasts.ErrDialGuard,
// reporter.ErrDialGuard) with errors.Is.
//
// It does not resolve names, does not look at proxies (with a proxy, the
// guard sees the proxy's address) and has no opt-out of its own: callers
// skip it when their configuration says private addresses are allowed
// (mtasts.Client.AllowPrivate, reporter.DirectMailer.AllowPrivate).
//
// # Security
//
// The rule allows global unicast addresses that are not private: it refuses
// loopback, RFC 1918 and RFC 4193 private, link-local, multicast, broadcast
// and unspecified addresses, IPv4-mapped IPv6 forms of them included. It
// does not yet refuse every address of the IANA special-purpose registries
// (shared address space, documentation ranges, NAT64, 6to4 and Teredo forms
// are allowed); the table in the tests pins what is allowed today.
//
// # Testing
//
// The rule has a table test; the callers test that their dialers refuse
// loopback unless told otherwise.
//
// Like every package of strictmx before v1, this one may change.
package dialguard
