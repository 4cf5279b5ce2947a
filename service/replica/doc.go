// Package replica is what each replica of a data center keeps in memory
// and how it keeps it in step with the store: the client cache and the
// change feed that invalidates it, the batched writes of client accesses
// and token counts, the revocation set, the cache of verified tokens and
// the reloading of signing keys. It holds no rule of Gatehouse's: the
// service decides what is allowed and valid, and uses these parts through
// small interfaces so that a request rarely waits for the store.
package replica
