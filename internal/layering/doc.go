// Package layering holds the test that keeps the module's package
// boundaries following dependency weight: a core package (mtasts, tlsrpt,
// cache, mtasts/resolver) never links a server client, a storage engine or
// the mail stack, so that importing it costs a user nothing they did not
// ask for. Those live in subpackages (cache/redisstore, tlsrpt/boltstore,
// tlsrpt/redisstore, tlsrpt/reporter).
package layering
