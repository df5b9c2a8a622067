package dialguard

import "net/netip"

// block is one entry of an IANA special-purpose address registry.
type block struct {
	prefix netip.Prefix
	name   string // the registry's name for it, with the RFC
	global bool   // "Globally Reachable" in the registry
}

func b(prefix, name string, global bool) block {
	return block{netip.MustParsePrefix(prefix), name, global}
}

// ipv4Special is the IANA IPv4 Special-Purpose Address Registry, plus the
// multicast and reserved space of the IPv4 address registry. More specific
// entries come before the blocks that hold them: the first match decides.
var ipv4Special = []block{
	b("0.0.0.0/8", `"This network" (RFC 791)`, false),
	b("10.0.0.0/8", "Private-Use (RFC 1918)", false),
	b("100.64.0.0/10", "Shared Address Space (RFC 6598)", false),
	b("127.0.0.0/8", "Loopback (RFC 1122)", false),
	b("169.254.0.0/16", "Link Local (RFC 3927)", false),
	b("172.16.0.0/12", "Private-Use (RFC 1918)", false),
	b("192.0.0.9/32", "Port Control Protocol Anycast (RFC 7723)", true),
	b("192.0.0.10/32", "Traversal Using Relays around NAT Anycast (RFC 8155)", true),
	b("192.0.0.0/24", "IETF Protocol Assignments (RFC 6890)", false),
	b("192.0.2.0/24", "Documentation (TEST-NET-1) (RFC 5737)", false),
	b("192.31.196.0/24", "AS112-v4 (RFC 7535)", true),
	b("192.52.193.0/24", "AMT (RFC 7450)", true),
	b("192.88.99.0/24", "Deprecated (6to4 Relay Anycast) (RFC 7526)", false),
	b("192.168.0.0/16", "Private-Use (RFC 1918)", false),
	b("192.175.48.0/24", "Direct Delegation AS112 Service (RFC 7534)", true),
	b("198.18.0.0/15", "Benchmarking (RFC 2544)", false),
	b("198.51.100.0/24", "Documentation (TEST-NET-2) (RFC 5737)", false),
	b("203.0.113.0/24", "Documentation (TEST-NET-3) (RFC 5737)", false),
	b("224.0.0.0/4", "Multicast (RFC 5771)", false),
	b("240.0.0.0/4", "Reserved, Limited Broadcast included (RFC 1112, RFC 919)", false),
}

// ipv6Special is the IANA IPv6 Special-Purpose Address Registry, plus the
// deprecated site-local and IPv4-compatible blocks and multicast. The
// transition forms that embed an IPv4 address (IPv4-mapped, the NAT64
// well-known prefix, 6to4) are not here: Allowed judges them by the IPv4
// address they carry.
var ipv6Special = []block{
	b("::/128", "Unspecified Address (RFC 4291)", false),
	b("::1/128", "Loopback Address (RFC 4291)", false),
	b("::/96", "Deprecated IPv4-Compatible Address (RFC 4291)", false),
	b("64:ff9b:1::/48", "IPv4-IPv6 Translat., local use (RFC 8215)", false),
	b("100::/64", "Discard-Only Address Block (RFC 6666)", false),
	b("100:0:0:1::/64", "Dummy IPv6 Prefix (RFC 9780)", false),
	b("2001:1::1/128", "Port Control Protocol Anycast (RFC 7723)", true),
	b("2001:1::2/128", "Traversal Using Relays around NAT Anycast (RFC 8155)", true),
	b("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast (RFC 9665)", true),
	b("2001:3::/32", "AMT (RFC 7450)", true),
	b("2001:4:112::/48", "AS112-v6 (RFC 7535)", true),
	b("2001:20::/28", "ORCHIDv2 (RFC 7343)", true),
	b("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix (RFC 9374)", true),
	b("2001::/32", "TEREDO (RFC 4380)", false),
	b("2001:2::/48", "Benchmarking (RFC 5180)", false),
	b("2001:db8::/32", "Documentation (RFC 3849)", false),
	b("2001::/23", "IETF Protocol Assignments (RFC 2928)", false),
	b("3fff::/20", "Documentation (RFC 9637)", false),
	b("5f00::/16", "Segment Routing (SRv6) SIDs (RFC 9602)", false),
	b("fc00::/7", "Unique-Local (RFC 4193)", false),
	b("fe80::/10", "Link-Local Unicast (RFC 4291)", false),
	b("fec0::/10", "Deprecated Site-Local (RFC 3879)", false),
	b("ff00::/8", "Multicast (RFC 4291)", false),
}

// Embedded-IPv4 forms, unwrapped before the rule applies.
var (
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052
	sixToFour      = netip.MustParsePrefix("2002::/16")    // RFC 3056
	globalUnicast6 = netip.MustParsePrefix("2000::/3")     // Global Unicast, IANA IPv6 Address Space
)

// special returns the registry entry that holds a, if any.
func special(a netip.Addr) (block, bool) {
	table := ipv6Special
	if a.Is4() {
		table = ipv4Special
	}
	for _, e := range table {
		if e.prefix.Contains(a) {
			return e, true
		}
	}
	return block{}, false
}

// embeddedIPv4 returns the IPv4 address an IPv6 transition form carries:
// IPv4-mapped (::ffff:0:0/96), the NAT64 well-known prefix (64:ff9b::/96,
// RFC 6052) and 6to4 (2002::/16, RFC 3056).
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	if a.Is4In6() {
		return a.Unmap(), true
	}
	b := a.As16()
	switch {
	case nat64WellKnown.Contains(a):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return netip.Addr{}, false
}
