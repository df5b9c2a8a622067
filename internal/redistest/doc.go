// Package redistest starts a throw-away redis-server on loopback for
// tests: cache/redisstore and the TLS-RPT report store use it.
//
//	func TestSomething(t *testing.T) {
//		addr := redistest.Start(t) // skips unless STRICTMX_TEST_REDIS=1
//		rdb := redis.NewClient(&redis.Options{Addr: addr})
//		defer rdb.Close()
//		...
//	}
//
// Unless the environment variable STRICTMX_TEST_REDIS is "1", Start skips
// the test with a message naming that variable, so `go test ./...` passes
// on a machine without Redis. CI installs the Debian package redis-server
// and sets the variable, which makes the tests mandatory: with it set, a
// missing redis-server fails the test instead of skipping it.
//
// # What it does not do
//
// It does not speak the Redis protocol beyond what it needs to see that
// its own server is up (INFO's process_id), and it does not share servers
// between Start calls: tests that want one server for many subtests call
// Start once and give each subtest its own key prefix.
//
// # Security
//
// The server binds 127.0.0.1 only, with protected mode on, and keeps
// nothing on disk: no RDB snapshots, no AOF, working directory in
// t.TempDir(). It is killed (SIGKILL) when the test ends.
//
// # Testing
//
// redis-server does not accept --port 0, so Start picks a free port by
// listening on it and closing it, and retries a bounded number of times
// (startAttempts) if another process takes the port first; it waits a
// bounded time (readyTimeout) for an answer, and checks that the server
// answering is the process it started.
//
// This package is internal and pre-v1.
package redistest
