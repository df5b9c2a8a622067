// Package detach runs a call that cannot be interrupted (a Redis round
// trip whose client ignores the context, say) so that its caller is
// bounded by its own context: the caller gets the result, or gives up when
// its context ends while the call finishes in the background.
package detach

import "context"

// Call runs f in a goroutine and returns its result, or, as soon as ctx
// ends first, the zero T, ctx.Err() and finished false; f then goes on in
// the background. release, if not nil, runs when f returns and before its
// result is handed over, so that a call that returned holds nothing the
// caller's next call needs (a lock, a slot). The caller bounds how many
// calls may outlive their callers with what release gives back.
func Call[T any](ctx context.Context, release func(), f func() (T, error)) (v T, err error, finished bool) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		func() {
			if release != nil {
				defer release()
			}
			r.v, r.err = f()
		}()
		done <- r
	}()
	select {
	case r := <-done:
		return r.v, r.err, true
	case <-ctx.Done():
		select {
		case r := <-done: // it finished too: keep its outcome
			return r.v, r.err, true
		default:
			var zero T
			return zero, ctx.Err(), false
		}
	}
}
