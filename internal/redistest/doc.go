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
// Fault tests take the Server itself, from NewServer, to stall the
// process (Pause, Resume: SIGSTOP, SIGCONT), kill it (SIGKILL) and start
// it again on the same address with or without its data:
//
//	srv := redistest.NewServer(t, &redistest.Config{Persist: true})
//	srv.Pause(t)
//	...             // clients time out; the kernel queues what they send
//	srv.Resume(t)   // Redis executes it all
//	srv.Restart(t, true)
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
// nothing on disk unless Config.Persist asks for an append-only file: no
// RDB snapshots, working directory in t.TempDir(). It is killed (SIGKILL)
// when the test ends, paused or not.
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
