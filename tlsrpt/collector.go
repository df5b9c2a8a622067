package tlsrpt

import (
	"cmp"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/strictmx/strictmx/internal/domain"
)

// Collector counts session results in memory, per (policy domain, UTC day
// of the session start, policy). It is safe for concurrent use and its
// zero value is ready to use; it must not be copied after first use.
//
// Recording into an existing aggregate does not allocate. Drain hands the
// counts over, typically to a Store through a Flusher.
type Collector struct {
	// Now gives the time for a Result with a zero Time; nil means
	// time.Now.
	Now func() time.Time

	seedOnce sync.Once
	seed     maphash.Seed
	shards   [collectorShards]shard
}

const collectorShards = 16

// A shard finds an entry by a key that mixes the day with a hash of the
// policy domain (for a Policy literal: one string hash per Record, the
// policy lines are only compared) or with the handle's id (a
// PolicyHandle: no hash at all). The entries under one key are chained in
// collected.next and told apart by comparing their policies. A chain holds
// at most maxChain entries; the literal policies beyond, many policies of
// one domain in one day, go in full, under a hash of the whole policy, so
// that no domain's policies can make another's sessions walk a long chain.
type shard struct {
	mu   sync.Mutex
	m    map[uint64]*collected
	full map[uint64]*collected
	_    [40]byte // keep shards on separate cache lines
}

// maxChain bounds the entries chained under one key of shard.m.
const maxChain = 8

// link adds e to the chain of entries under k in *m. The caller holds
// sh.mu.
func link(m *map[uint64]*collected, k uint64, e *collected) {
	if *m == nil {
		*m = make(map[uint64]*collected)
	}
	e.next = (*m)[k]
	(*m)[k] = e
}

// dayKey mixes day into the hash h.
func dayKey(h uint64, day Day) uint64 {
	return h ^ uint64(uint32(day))*0x9e3779b97f4a7c15
}

type collected struct {
	raw     Policy        // as the caller passed it, to confirm a match
	norm    Policy        // normalised, as reported
	handle  *PolicyHandle // the handle it was recorded with, or nil for a literal
	day     Day
	success int64
	fails   []detailCount       // the first maxFailSlice distinct details
	more    map[detailKey]int64 // the rest
	next    *collected
}

// A linear scan of a few details is faster than hashing the key.
const maxFailSlice = 16

type detailCount struct {
	k detailKey
	n int64
}

func (e *collected) addFailure(k *detailKey, n int64) {
	for i := range e.fails {
		if e.fails[i].k == *k {
			e.fails[i].n += n
			return
		}
	}
	if len(e.fails) < maxFailSlice {
		e.fails = append(e.fails, detailCount{*k, n})
		return
	}
	if e.more == nil {
		e.more = make(map[detailKey]int64)
	}
	e.more[*k] += n
}

// PolicyHandle is an interned, normalised policy for Result.Handle.
// It is immutable and may be shared by any number of Collectors.
type PolicyHandle struct {
	policy Policy
	id     uint64 // random: a Collector's key for it
	shard  uint8
}

// NewPolicyHandle normalises p and returns its handle. It fails with
// ErrInvalidResult if p cannot be reported (unregistered type, bad domain).
func NewPolicyHandle(p Policy) (*PolicyHandle, error) {
	if !p.Type.Valid() {
		return nil, fmt.Errorf("%w: policy type %q", ErrInvalidResult, p.Type)
	}
	n, err := normalizePolicy(&p)
	if err != nil {
		return nil, err
	}
	var h maphash.Hash
	h.WriteString(n.Domain)
	return &PolicyHandle{policy: n, id: rand.Uint64(), shard: uint8(h.Sum64() % collectorShards)}, nil
}

// Policy returns the normalised policy.
func (h *PolicyHandle) Policy() Policy {
	p := h.policy
	p.String = slices.Clone(p.String)
	p.MXHost = slices.Clone(p.MXHost)
	return p
}

// detailKey is a failure detail as recorded, before normalisation.
type detailKey struct {
	rt           ResultType
	sip, rip     netip.Addr
	mx, ehlo     string
	info, reason string
}

func (c *Collector) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Collector) hashSeed() maphash.Seed {
	c.seedOnce.Do(func() { c.seed = maphash.MakeSeed() })
	return c.seed
}

// hash hashes the whole policy, for shard.full.
func (c *Collector) hash(p *Policy) uint64 {
	c.hashSeed()
	// One maphash.String per field, mixed: cheaper than streaming the
	// fields through a maphash.Hash. The mix only picks a bucket; equal
	// hashes are confirmed by comparing the policies.
	const k = 0x9e3779b97f4a7c15
	h := maphash.String(c.seed, p.Domain) ^ uint64(len(p.Type))
	h = (h ^ maphash.String(c.seed, string(p.Type))) * k
	for _, s := range p.String {
		h = (h ^ maphash.String(c.seed, s)) * k
	}
	h = (h ^ uint64(len(p.String))) * k
	for _, s := range p.MXHost {
		h = (h ^ maphash.String(c.seed, s)) * k
	}
	return h ^ uint64(len(p.MXHost))
}

// Record counts one session result. Results marked ReportTraffic are
// ignored. An unusable result (unregistered policy or result type, a
// policy domain that is not a domain name) gives ErrInvalidResult and is
// not counted.
//
// Recording into an existing (policy domain, day, policy) does not
// allocate.
func (c *Collector) Record(r Result) error {
	if r.ReportTraffic {
		return nil
	}
	if r.ResultType != "" && !r.ResultType.Valid() {
		return fmt.Errorf("%w: result type %q", ErrInvalidResult, r.ResultType)
	}
	t := r.Time
	if t.IsZero() {
		t = c.now()
	}
	day := DayOf(t)
	// The failure detail is made before the shard is locked, to keep
	// the lock short.
	var dk detailKey
	if r.ResultType != "" {
		dk.rt, dk.mx, dk.ehlo, dk.info, dk.reason = r.ResultType, r.MXHost, r.EHLO, r.AdditionalInfo, r.ReasonCode
		dk.sip, dk.rip = canonicalIP(r.SendingIP), canonicalIP(r.ReceivingIP)
		if dk.reason == "" && dk.rt.needsReasonCode() {
			dk.reason = ReasonUnspecified
		}
	}
	var sh *shard
	var e *collected
	if r.Handle != nil {
		sh, e = c.handled(r.Handle, day)
	} else {
		if !r.Policy.Type.Valid() {
			return fmt.Errorf("%w: policy type %q", ErrInvalidResult, r.Policy.Type)
		}
		var err error
		if sh, e, err = c.literal(&r.Policy, day); err != nil {
			return err
		}
	}
	if r.ResultType == "" {
		e.success++
		sh.mu.Unlock()
		return nil
	}
	e.addFailure(&dk, 1)
	sh.mu.Unlock()
	return nil
}

// handled returns the entry of h's policy for day, made if needed, with
// sh.mu held.
func (c *Collector) handled(h *PolicyHandle, day Day) (*shard, *collected) {
	sh := &c.shards[h.shard]
	k := dayKey(h.id, day)
	sh.mu.Lock()
	for e := sh.m[k]; e != nil; e = e.next {
		if e.handle == h && e.day == day {
			return sh, e
		}
	}
	// The handle's policy is checked and copied already.
	e := &collected{raw: h.policy, norm: h.policy, handle: h, day: day}
	link(&sh.m, k, e)
	return sh, e
}

// literal returns the entry of p for day, made if needed, with sh.mu held;
// or an error wrapping ErrInvalidResult, with no lock held.
func (c *Collector) literal(p *Policy, day Day) (*shard, *collected, error) {
	dh := maphash.String(c.hashSeed(), p.Domain)
	sh := &c.shards[dh%collectorShards]
	k := dayKey(dh^uint64(len(p.Type)), day) // the type is one of three, of three lengths
	sh.mu.Lock()
	e, n := sh.chained(k, p, day)
	if e != nil {
		return sh, e, nil
	}
	// The first session of a (policy, day): check and copy the policy
	// without holding the shard, so that a large policy does not stall
	// other domains' sessions; then link it, unless another session
	// linked the same one meanwhile.
	sh.mu.Unlock()
	var fk uint64 // p's key in sh.full, once the chain is found full
	full := n >= maxChain
	if full {
		fk = dayKey(c.hash(p), day)
		sh.mu.Lock()
		if e := sh.inFull(fk, p, day); e != nil {
			return sh, e, nil
		}
		sh.mu.Unlock()
	}
	made, err := newCollected(p, day)
	if err != nil {
		return nil, nil, err
	}
	sh.mu.Lock()
	if e, n = sh.chained(k, p, day); e != nil {
		return sh, e, nil
	}
	if n < maxChain {
		link(&sh.m, k, made)
		return sh, made, nil
	}
	if !full { // the chain filled up meanwhile
		fk = dayKey(c.hash(p), day)
	}
	if e := sh.inFull(fk, p, day); e != nil {
		return sh, e, nil
	}
	link(&sh.full, fk, made)
	return sh, made, nil
}

// chained returns the entry of the literal p for day in the chain under k,
// or nil and the length of the chain. The caller holds sh.mu.
func (sh *shard) chained(k uint64, p *Policy, day Day) (*collected, int) {
	n := 0
	for e := sh.m[k]; e != nil; e = e.next {
		if e.handle == nil && e.day == day && e.raw.Equal(p) {
			return e, n
		}
		n++
	}
	return nil, n
}

// inFull returns the entry of the literal p for day under fk in sh.full,
// or nil. The caller holds sh.mu.
func (sh *shard) inFull(fk uint64, p *Policy, day Day) *collected {
	for e := sh.full[fk]; e != nil; e = e.next {
		if e.day == day && e.raw.Equal(p) {
			return e
		}
	}
	return nil
}

func newCollected(p *Policy, day Day) (*collected, error) {
	raw := Policy{Type: p.Type, Domain: p.Domain, String: slices.Clone(p.String), MXHost: slices.Clone(p.MXHost)}
	norm, err := normalizePolicy(&raw)
	if err != nil {
		return nil, err
	}
	return &collected{raw: raw, norm: norm, day: day}, nil
}

// normalizePolicy returns p in the form reports carry.
func normalizePolicy(p *Policy) (Policy, error) {
	d, err := domain.Normalize(p.Domain)
	if err != nil {
		return Policy{}, fmt.Errorf("%w: policy domain: %w", ErrInvalidResult, err)
	}
	n := Policy{Type: p.Type, Domain: d}
	switch p.Type {
	case PolicySTS:
		for _, l := range p.String {
			// Spec note: a policy line that is not valid UTF-8 (an MTA-STS
			// parser may accept it as an unknown key's value) cannot go into
			// report JSON as it is; each invalid byte sequence is replaced
			// with U+FFFD, so that the policy is still reported, and
			// recognisably.
			l = strings.ToValidUTF8(strings.TrimRight(l, "\r\n"), "\uFFFD")
			if l != "" { // a blank line is no part of the policy: mtasts.Policy.Lines skips it too
				n.String = append(n.String, l)
			}
		}
		for _, m := range p.MXHost {
			n.MXHost = append(n.MXHost, strings.ToLower(strings.TrimSuffix(m, ".")))
		}
	case PolicyTLSA:
		n.String = slices.Clone(p.String)
	}
	// Refuse now what would make the whole day's report invalid later.
	if err := n.validate(); err != nil {
		return Policy{}, fmt.Errorf("%w: %w", ErrInvalidResult, err)
	}
	return n, nil
}

// normalizeDetail turns a recorded failure into its reported form,
// dropping values that cannot be reported rather than the session.
func normalizeDetail(k *detailKey, n int64) FailureDetail {
	d := FailureDetail{
		ResultType: k.rt, SendingMTAIP: k.sip, ReceivingIP: k.rip,
		FailedSessionCount: n, FailureReasonCode: k.reason,
	}
	if k.mx != "" {
		d.ReceivingMXHostname, _ = domain.Normalize(k.mx)
	}
	if validHelo(k.ehlo) {
		d.ReceivingMXHelo = k.ehlo
	}
	if validAbsURI(k.info) {
		d.AdditionalInformation = k.info
	}
	if !validReasonCode(d.FailureReasonCode) {
		d.FailureReasonCode = ""
		if d.ResultType.needsReasonCode() {
			d.FailureReasonCode = ReasonUnspecified
		}
	}
	return d
}

// Add merges the counts of aggregates into c, for instance to put back
// what a failed flush drained.
func (c *Collector) Add(aggs ...*Aggregate) error {
	for _, a := range aggs {
		for _, p := range a.Policies {
			sh, e, err := c.literal(&p.Policy, a.Day)
			if err != nil {
				return err
			}
			e.success += p.Summary.TotalSuccessfulSessionCount
			for _, d := range p.FailureDetails {
				e.addFailure(&detailKey{
					rt: d.ResultType, sip: d.SendingMTAIP, rip: d.ReceivingIP, mx: d.ReceivingMXHostname,
					ehlo: d.ReceivingMXHelo, info: d.AdditionalInformation, reason: d.FailureReasonCode,
				}, d.FailedSessionCount)
			}
			sh.mu.Unlock()
		}
	}
	return nil
}

// Snapshot returns the counts recorded so far, one canonical Aggregate per
// (policy domain, day), sorted by day then domain.
func (c *Collector) Snapshot() []*Aggregate { return c.collect(false) }

// Drain is Snapshot that also resets the counts it returns, atomically per
// shard: a session recorded concurrently is in this result or the next.
func (c *Collector) Drain() []*Aggregate { return c.collect(true) }

func (c *Collector) collect(reset bool) []*Aggregate {
	byKey := map[Key]*Aggregate{}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		m, full := sh.m, sh.full
		if reset {
			sh.m, sh.full = nil, nil
		}
		for _, head := range all(m, full) {
			for e := head; e != nil; e = e.next {
				k := Key{e.norm.Domain, e.day}
				a := byKey[k]
				if a == nil {
					a = &Aggregate{Key: k}
					byKey[k] = a
				}
				p := PolicyResult{Policy: e.norm, Summary: Summary{TotalSuccessfulSessionCount: e.success}}
				for _, f := range e.fails {
					p.Summary.TotalFailureSessionCount += f.n
					p.FailureDetails = addDetail(p.FailureDetails, normalizeDetail(&f.k, f.n))
				}
				for dk, n := range e.more {
					p.Summary.TotalFailureSessionCount += n
					p.FailureDetails = addDetail(p.FailureDetails, normalizeDetail(&dk, n))
				}
				a.add(&p)
			}
		}
		sh.mu.Unlock()
	}
	out := make([]*Aggregate, 0, len(byKey))
	for _, a := range byKey {
		a.canonicalize()
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *Aggregate) int {
		return cmp.Or(cmp.Compare(a.Day, b.Day), cmp.Compare(a.Domain, b.Domain))
	})
	return out
}

// all returns the chains of a shard's two maps.
func all(m, full map[uint64]*collected) []*collected {
	out := make([]*collected, 0, len(m)+len(full))
	for _, e := range m {
		out = append(out, e)
	}
	for _, e := range full {
		out = append(out, e)
	}
	return out
}
