package pki

import (
	"container/list"
	"crypto/sha256"
	"crypto/x509"
	"sync"
	"time"
)

// chainCacheSize bounds the chains one trust set remembers: a fleet of that
// many certificates reconnecting at once (the broker's default connection cap
// is 10,000) verifies each chain once. An entry takes about 250 bytes.
const chainCacheSize = 16384

// chainFacts is what a decision needs of a verified chain beyond the leaf's
// own dates and state. It depends only on the certificates presented and on
// the trust set, so it is worked out once per chain and trust set.
type chainFacts struct {
	// notBefore and notAfter bound when every certificate of every verified
	// chain is valid: outside them the chain must be verified again.
	notBefore, notAfter time.Time
	suspended           string // common name of a suspended issuing CA a chain runs through; "" none
	ours                bool   // a chain runs through our root or an issuing CA of ours
	strict              bool   // the operator CA nearest the leaf is strict
	anchor              string // that CA's subject, for the refusal
}

// chainCache remembers the facts of verified chains, keyed by the SHA-256 of
// the DER certificates presented, so a reconnect of the same certificate does
// not build and verify its chain again: Go's TLS stack still checks the
// handshake signature, and decide still reads the state, the key blocklist
// and the dates. Only successful verifications are cached.
//
// One cache belongs to one trust set and is dropped with it: every change of
// trust (a CA trusted, untrusted or switched strict, an issuer added,
// suspended or reactivated) publishes a new trust set, and so an empty cache.
// The state snapshot and the blocklist are read on every decision, so a
// suspend, revoke, import or key block needs no invalidation.
//
// Concurrency contract: get and put may run on any number of goroutines; a
// mutex guards the map and the least-recently-used order.
type chainCache struct {
	mu    sync.Mutex
	max   int
	byKey map[[32]byte]*list.Element // values *cachedChain
	lru   list.List                  // front: most recently used
}

type cachedChain struct {
	key   [32]byte
	facts chainFacts
}

func newChainCache(max int) *chainCache {
	return &chainCache{max: max, byKey: make(map[[32]byte]*list.Element)}
}

// chainKey is the cache key of a presented chain whose leaf has SHA-256 fp:
// fp itself for a lone leaf, else the SHA-256 of every certificate's DER in
// order (DER is self-delimiting, so the concatenation is unambiguous). Nil
// entries are skipped, as verify skips them.
func chainKey(chain []*x509.Certificate, fp [32]byte) [32]byte {
	if len(chain) == 1 {
		return fp
	}
	h := sha256.New()
	for _, c := range chain {
		if c != nil {
			h.Write(c.Raw)
		}
	}
	var key [32]byte
	h.Sum(key[:0])
	return key
}

// get returns the facts cached under key if now is within their dates; an
// entry past them is dropped.
func (c *chainCache) get(key [32]byte, now time.Time) (chainFacts, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		return chainFacts{}, false
	}
	f := el.Value.(*cachedChain).facts
	if now.Before(f.notBefore) || now.After(f.notAfter) {
		c.lru.Remove(el)
		delete(c.byKey, key)
		return chainFacts{}, false
	}
	c.lru.MoveToFront(el)
	return f, true
}

// put caches f under key, evicting the least recently used entry when full.
func (c *chainCache) put(key [32]byte, f chainFacts) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		el.Value.(*cachedChain).facts = f
		c.lru.MoveToFront(el)
		return
	}
	if c.lru.Len() >= c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.byKey, old.Value.(*cachedChain).key)
	}
	c.byKey[key] = c.lru.PushFront(&cachedChain{key: key, facts: f})
}

// factsOf works out the facts of chains, verified against t.
func factsOf(t *trustSet, chains [][]*x509.Certificate) chainFacts {
	var f chainFacts
	first := true
	anchored := false
	for _, chain := range chains {
		for _, c := range chain {
			if first || c.NotBefore.After(f.notBefore) {
				f.notBefore = c.NotBefore
			}
			if first || c.NotAfter.Before(f.notAfter) {
				f.notAfter = c.NotAfter
			}
			first = false
		}
		if len(chain) > 1 && f.suspended == "" && t.suspended[fingerprint(chain[1].Raw)] {
			f.suspended = chain[1].Subject.CommonName
		}
		for _, c := range chain[1:] {
			id := fingerprint(c.Raw)
			if t.ours[id] {
				f.ours = true
			}
			if ca, ok := t.trusted[id]; ok && !anchored {
				f.strict, f.anchor, anchored = ca.Strict, ca.Subject, true
			}
		}
	}
	return f
}
