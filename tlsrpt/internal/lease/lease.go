// Package lease is the expiring in-process lock table that the in-memory
// and bbolt TLS-RPT stores use for Store.Lock and Store.Unlock.
package lease

import "time"

type lease struct {
	owner   string
	expires time.Time
}

// Table holds expiring leases by key. Its zero value is ready to use. It is
// not safe for concurrent use: the caller holds its own mutex.
type Table[K comparable] struct {
	m map[K]lease
}

// Take gives k to owner for ttl from now, unless another owner holds an
// unexpired lease on it. Taking again as the same owner extends the lease.
// Expired leases are dropped, so the table stays as small as the leases
// in force.
func (t *Table[K]) Take(k K, owner string, ttl time.Duration, now time.Time) bool {
	if t.m == nil {
		t.m = map[K]lease{}
	}
	if l, ok := t.m[k]; ok && l.owner != owner && now.Before(l.expires) {
		return false
	}
	for kk, l := range t.m {
		if !now.Before(l.expires) {
			delete(t.m, kk)
		}
	}
	t.m[k] = lease{owner, now.Add(ttl)}
	return true
}

// Release drops owner's lease on k; a lease of another owner stays.
func (t *Table[K]) Release(k K, owner string) {
	if l, ok := t.m[k]; ok && l.owner == owner {
		delete(t.m, k)
	}
}
