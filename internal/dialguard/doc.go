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
// The rule is an allow-list of globally reachable unicast addresses,
// following the IANA IPv4 and IPv6 Special-Purpose Address Registries: it
// refuses loopback, private (RFC 1918, RFC 4193), shared (100.64.0.0/10),
// link-local, documentation, benchmarking, reserved, multicast, broadcast
// and unspecified addresses, deprecated site-local and IPv4-compatible
// addresses, Teredo, and IPv6 outside 2000::/3. The IPv6 forms that carry
// an IPv4 address (IPv4-mapped, NAT64 64:ff9b::/96, 6to4 2002::/16) are
// judged by the IPv4 address inside, so that none of them reaches an
// address the IPv4 rule refuses; local-use NAT64 (64:ff9b:1::/48) is
// refused.
//
// Spec note: the registries' "Globally Reachable" column decides; blocks
// it marks reachable (anycast services such as AS112) are allowed.
//
// # Testing
//
// A table test checks every registry entry, at both ends of its block and
// in each IPv6 form that carries an IPv4 address; the callers test that
// their dialers refuse before connecting unless told otherwise.
//
// Like every package of strictmx before v1, this one may change.
package dialguard
