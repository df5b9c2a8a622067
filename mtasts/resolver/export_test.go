package resolver

// Distrust makes r distrust its servers' AD bit, for the tests of an
// untrusted Stub: the harness DNS server is on loopback, which a Stub
// always trusts, and tests may use no other address.
func Distrust(r *Stub) {
	r.serverList()
	r.trusted = false
}
