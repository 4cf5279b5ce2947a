package gatehouse

// Bounds every backend applies, and that the service and the conformance
// suite rely on. They are defined here, once, so the backends cannot drift
// apart and a caller can size its requests without knowing which backend it
// talks to.
const (
	// DefaultPageSize is how many clients or audit entries ListClients and
	// ListAudit return when the filter's Limit is 0.
	DefaultPageSize = 100
	// MaxPageSize is the largest page the API serves: it bounds the memory
	// and time one request can cost.
	MaxPageSize = 1000
	// MaxListRows caps what one ListClients or ListAudit returns, whatever
	// Limit asks for: a full page and the one row more that tells whether
	// another page follows, so that a page of MaxPageSize still knows.
	MaxListRows = MaxPageSize + 1
	// MaxTenantDepth bounds the walk of TenantAncestry. No write path can
	// make a cycle (the parent must exist first, a tenant cannot name
	// itself, and nothing changes a parent), but a hand-edited database
	// could, and the walk must end even then. A chain cut short does not end
	// at a root, which callers check.
	MaxTenantDepth = 1000
	// TokenUsagePurgeBatch bounds how many expired token counts one
	// AddTokenUsage deletes, so a flush after a long pause (or a large
	// backlog of expired rows) does not hold a lock for long; the next
	// flushes, seconds apart, take the rest.
	TokenUsagePurgeBatch = 1000
	// RevocationPurgeBatch bounds how many revocations one PurgeRevocations
	// deletes, for the same reason: the resync, seconds apart, takes the
	// rest of a backlog.
	RevocationPurgeBatch = 1000
)

// HeartbeatSize is the size of the padding a store's heartbeat writes: a
// few pages, more than a typical management change writes, so that a store
// with too little room for real changes fails the heartbeat too.
const HeartbeatSize = 16 << 10
