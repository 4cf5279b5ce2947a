// Package gatehouse holds the domain of the Gatehouse identity provider: the
// types every other package speaks (tenants, API clients, signing keys), the
// Store interface that each storage backend implements, and the small error
// vocabulary that the HTTP edge turns into status codes.
//
// The package depends on nothing but the standard library so that storage,
// token and transport packages can all import it without cycles.
package gatehouse

import (
	"context"
	"encoding/json"
	"time"
)

// ClientType is the only client type the platform API knows.
const ClientType = "api_client"

// ClientStatus says whether a client may obtain and use tokens.
type ClientStatus string

const (
	StatusEnabled  ClientStatus = "enabled"
	StatusDisabled ClientStatus = "disabled"
)

// Valid reports whether s is a status the API accepts.
func (s ClientStatus) Valid() bool { return s == StatusEnabled || s == StatusDisabled }

// AuthMethod is how a client authenticates at the token endpoint (RFC 7591
// token_endpoint_auth_method).
type AuthMethod string

const (
	AuthSecretBasic AuthMethod = "client_secret_basic"
	AuthSecretPost  AuthMethod = "client_secret_post"
)

// Valid reports whether m is a method the token endpoint supports.
func (m AuthMethod) Valid() bool { return m == AuthSecretBasic || m == AuthSecretPost }

// Role is a management role a client holds in its own tenant. The empty role
// grants no management rights: such a client may only read itself.
type Role string

const (
	RoleNone        Role = ""
	RoleTenantAdmin Role = "tenant_admin"
)

// Valid reports whether r is a role the API accepts.
func (r Role) Valid() bool { return r == RoleNone || r == RoleTenantAdmin }

// Tenant is a node of the tenant tree. The root tenant has no parent. A
// tenant never moves: its ParentID is fixed when it is created, so its
// ancestry never changes.
type Tenant struct {
	ID       string
	ParentID string
	Name     string
	Kind     string
	// Enabled is the tenant's own switch. A client works only while its
	// tenant and every ancestor of it are enabled, so disabling a tenant
	// disables its whole subtree without touching a client row.
	Enabled bool
	// Version is the optimistic lock of the API: it increases with every
	// update, and an update naming an older version is refused.
	Version int64
	// Generation increases whenever the tokens of every client in the
	// tenant's subtree must stop working: when the tenant is disabled. A
	// token carries the sum of its client's generation and those of the
	// client's tenant and its ancestors, so re-enabling the tenant does not
	// bring the tokens issued before back (see service.Authenticate).
	Generation int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Client is an API client: the credentials of one CyberApp in one data
// center.
type Client struct {
	ID         string
	TenantID   string
	AuthMethod AuthMethod
	Role       Role
	Status     ClientStatus
	// Data is the free-form JSON object the platform keeps with a client
	// ({"client_name": ...}); kept as raw JSON so numbers and key order
	// survive a round trip through the store.
	Data json.RawMessage
	// SecretHash is the keyed hash of the secret (see HashSecret); the secret
	// itself is never stored.
	SecretHash []byte
	// Generation increases whenever every token issued so far must stop
	// working: on secret regeneration and on disabling. Tokens carry the
	// generation they were minted under, which, unlike comparing iat, also
	// invalidates a token minted in the same second as the change.
	Generation       int64
	CreatedAt        time.Time
	CreatedBy        string
	UpdatedAt        time.Time
	LastAccessAt     time.Time // zero until first use
	LastAccessFromIP string
}

// Name is the client's display name from Data, or "" when it has none.
func (c Client) Name() string {
	var d struct {
		ClientName string `json:"client_name"`
	}
	if len(c.Data) == 0 || json.Unmarshal(c.Data, &d) != nil {
		return ""
	}
	return d.ClientName
}

// ClientAccess is one observed use of a client, recorded lazily.
type ClientAccess struct {
	ClientID string
	At       time.Time
	FromIP   string
}

// TokenUsage is how many tokens one client was issued in one clock hour,
// counted by the replicas in memory and added to the store in batches.
type TokenUsage struct {
	ClientID string
	Hour     time.Time // the start of the hour, UTC
	Count    int64
}

// TokenUsageRetention is how long stores keep token counts, measured back
// from the newest hour written: the console charts the last day, and the
// second day is slack for replicas whose clocks or flushes lag.
const TokenUsageRetention = 48 * time.Hour

// ClientFilter selects a page of clients, ordered by ID.
type ClientFilter struct {
	TenantID string // required
	After    string // exclusive cursor: the last ID of the previous page
	Limit    int    // 0 means DefaultPageSize; at most MaxListRows
	// Text, when set, keeps only the clients whose id or data.client_name
	// contains it, with ASCII letters matched regardless of case and every
	// other character exactly (the same in every backend, whatever its
	// collation).
	Text string
}

// SigningKey is one key of the data center's key set.
type SigningKey struct {
	ID        string // the JWS kid
	Algorithm string // RS256, ES256 or EdDSA: the only algorithm the key signs and verifies
	// PrivateKey is the PKCS #8 DER encoding of the private key. It is secret
	// material: never log it or send it anywhere.
	PrivateKey []byte
	CreatedAt  time.Time
	// ActiveAt is when the key may start signing. A key is published in the
	// JWKS from CreatedAt on, so verifiers learn it before they meet it.
	ActiveAt time.Time
	// RetireAt, when set, is when the key leaves the JWKS: after the last
	// token it signed has expired.
	RetireAt time.Time
}

// Revocation is an access token revoked before its expiry (RFC 7009). It
// matters only until the token would have expired anyway.
type Revocation struct {
	TokenID   string // the jti
	ClientID  string
	ExpiresAt time.Time
	RevokedAt time.Time
}

// Store is the persistence every backend (SQLite, PostgreSQL) provides. Each
// method is atomic. Methods return errors wrapping ErrNotFound or ErrConflict
// where those apply, so callers test them with errors.Is.
//
// Audit convention: every write a management action makes takes the action's
// audit entry as its last parameter, audit, and stores it in the same
// transaction as the change: both are stored, or neither, and a change that
// fails (a conflict, a missing row, an error from the caller's function)
// records nothing. Those writes are CreateTenant, UpdateTenant,
// CreateClient, UpdateClient, DeleteClient, RevokeToken and
// UpdateSigningKeys. NoAudit (the zero entry) records none, for writes no
// actor asked for on the API: the first signing key, seeding a store,
// tests. Any other entry must name a tenant, or the change fails with
// ErrInvalid: it could never be read back. Writes with no audit parameter
// are never audited: Bootstrap (it makes the tenant an entry would belong
// to), RecordAccess and AddTokenUsage (bookkeeping of the token path),
// PurgeRevocations and AdvanceRevocationHorizon (housekeeping), and
// AppendAudit, whose argument is the entry itself.
type Store interface {
	// Bootstrap creates the root tenant and its first admin client if, and
	// only if, the store holds no tenant yet. It reports whether it did;
	// replicas racing to bootstrap one store create exactly one pair.
	Bootstrap(ctx context.Context, root Tenant, admin Client) (created bool, err error)

	// CreateTenant fails with ErrConflict if the ID is taken or the parent
	// does not exist (a tenant cannot be its own parent).
	CreateTenant(ctx context.Context, t Tenant, audit AuditEntry) error
	GetTenant(ctx context.Context, id string) (Tenant, error)
	// UpdateTenant applies fn to the current tenant inside one transaction
	// and stores its result, as UpdateClient does for clients. The stored
	// ID, ParentID and CreatedAt are kept whatever fn returns.
	UpdateTenant(ctx context.Context, id string, fn func(Tenant) (Tenant, error), audit AuditEntry) (Tenant, error)
	// ListTenantChildren returns the tenants whose parent is parentID, in
	// ascending ID order (bytewise); none for an unknown parent.
	ListTenantChildren(ctx context.Context, parentID string) ([]Tenant, error)
	// TenantAncestry returns the tenant and its ancestors up to the root,
	// nearest first, read in one consistent snapshot; ErrNotFound for an
	// unknown tenant.
	TenantAncestry(ctx context.Context, id string) ([]Tenant, error)
	// RootTenant returns the tenant without a parent; ErrNotFound before
	// Bootstrap.
	RootTenant(ctx context.Context) (Tenant, error)

	// CreateClient fails with ErrConflict if the ID is taken.
	CreateClient(ctx context.Context, c Client, audit AuditEntry) error
	GetClient(ctx context.Context, id string) (Client, error)
	ListClients(ctx context.Context, f ClientFilter) ([]Client, error)
	// UpdateClient applies fn to the current client inside one transaction
	// and stores its result, so concurrent read-modify-write cycles cannot
	// lose an update. An error from fn aborts the update and is returned.
	UpdateClient(ctx context.Context, id string, fn func(Client) (Client, error), audit AuditEntry) (Client, error)
	DeleteClient(ctx context.Context, id string, audit AuditEntry) error
	// RecordAccess stores the latest access of each client, batched by the
	// caller so that the token path itself never writes. Unknown clients are
	// skipped; an older access never overwrites a newer one.
	RecordAccess(ctx context.Context, accesses []ClientAccess) error
	// AddTokenUsage adds each count to its client's count of its hour, in
	// one transaction, batched by the caller as RecordAccess is. Hours are
	// truncated to the start of their UTC hour; entries for one client and
	// hour add up; entries with no client, no hour or a count below 1 are
	// ignored, and so are entries for unknown (or deleted) clients, whose
	// counts DeleteClient removes. Counts are kept for a chart of the last
	// day only: AddTokenUsage also purges, a bounded number at a time, the
	// counts of hours more than TokenUsageRetention older than the newest
	// hour of the batch (the writer's clock, not the database's).
	AddTokenUsage(ctx context.Context, counts []TokenUsage) error
	// TokenUsage returns a client's counts of the hours that start at or
	// after since, oldest first; none for an unknown client.
	TokenUsage(ctx context.Context, clientID string, since time.Time) ([]TokenUsage, error)

	// SigningKeys returns every stored key, oldest first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// UpdateSigningKeys applies fn to the current key set, oldest first,
	// inside one transaction that serialises every updater of the key set,
	// in this process and in others, and stores what fn returns: the keys it
	// added, and the RetireAt it changed on stored keys (see DiffSigningKeys
	// for what else fn may not do). It is the key set's only write, so a
	// rule such as "rotate unless another replica rotated already" is fn's
	// to decide, on a set no other writer can change under it. An error
	// from fn aborts the update and is returned as it is. If fn returns the
	// set unchanged, nothing is written, not even audit: nothing happened.
	// fn runs once, with the key set's lock held, so it must be quick and
	// must not call the store.
	UpdateSigningKeys(ctx context.Context, fn func(current []SigningKey) ([]SigningKey, error), audit AuditEntry) error

	// AppendAudit records an audit entry on its own (an action that changed
	// nothing, such as a refused one). Entries of changes are recorded by the
	// change itself: see the audit convention above.
	AppendAudit(ctx context.Context, e AuditEntry) error
	// ListAudit returns a tenant's entries, newest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)

	// RevokeToken records a revocation; revoking a token twice is not an
	// error and keeps the first record (the audit entry is still recorded).
	RevokeToken(ctx context.Context, r Revocation, audit AuditEntry) error
	// Revocations returns the revocations of tokens that expire after now.
	Revocations(ctx context.Context, now time.Time) ([]Revocation, error)
	// PurgeRevocations forgets revocations of tokens expired before cutoff,
	// at most RevocationPurgeBatch of them (soonest expiry first), and
	// reports how many it removed.
	PurgeRevocations(ctx context.Context, cutoff time.Time) (int, error)
	// AdvanceRevocationHorizon raises the stored revocation horizon to at,
	// unless it is later already, and returns the horizon then stored. The
	// horizon only ever grows: whatever any process passes, no call returns
	// a time before one an earlier call returned. The zero time means none
	// was stored yet; a zero at stores nothing and only reads. What the
	// horizon means, and how fast it may move, is the service's to decide.
	AdvanceRevocationHorizon(ctx context.Context, at time.Time) (time.Time, error)

	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
	// Heartbeat rewrites the store's one heartbeat row with a write of a
	// fixed size (HeartbeatSize), so that it fails as other writes do when
	// the store cannot write: a full disk, a read-only file, a standby
	// server.
	Heartbeat(ctx context.Context, at time.Time) error
	Close() error
}

// ChangeKind says what a Change is about.
type ChangeKind int

const (
	// ChangeClient: a client was created, updated or deleted; ID is its id.
	ChangeClient ChangeKind = iota + 1
	// ChangeRevocation: a token was revoked; ID is its jti.
	ChangeRevocation
	// ChangeKeys: the signing key set changed.
	ChangeKeys
	// ChangeResync: the feed (re)connected. Changes may have been missed
	// while it was away, so everything cached must be reloaded.
	ChangeResync
	// ChangeLost: the feed lost its connection. Until the next ChangeResync
	// nothing cached can be trusted to be current.
	ChangeLost
	// ChangeTenant: a tenant was updated or deleted; ID is its id. A
	// tenant's state reaches every client of its subtree, so replicas drop
	// all they derived from tenants rather than one entry.
	ChangeTenant
)

// Change is a notice that shared state changed in the store.
type Change struct {
	Kind ChangeKind
	ID   string
}

// ChangeFeed is provided, as Backend.Changes, by backends that several
// processes share, so that every replica hears of every committed change at
// once and can drop what it cached. A store used by one process needs none.
type ChangeFeed interface {
	// WatchChanges calls fn, from one goroutine, for every change any
	// process commits, until ctx ends; it reconnects by itself, reporting
	// ChangeLost when the connection drops and ChangeResync once it is back
	// (and first of all, once listening has begun).
	WatchChanges(ctx context.Context, fn func(Change)) error
}

// AuditEntry records one management action.
type AuditEntry struct {
	// Seq orders entries; the store assigns it, increasing.
	Seq      int64
	Time     time.Time
	TenantID string // whose log the entry is in
	ActorID  string // the client that acted, or "gatehouse" for the server itself
	SourceIP string
	Action   string // e.g. client.create, client.disable, key.rotate, token.revoke
	Target   string // the client id, kid or jti acted on
	Outcome  string // success, or denied for a refused action
}

// Audit outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeDenied  = "denied"
)

// AuditFilter selects a page of a tenant's audit log, newest first.
type AuditFilter struct {
	TenantID string // required
	Target   string // optional: only entries about this target
	Before   int64  // exclusive cursor: the Seq of the last entry of the previous page; 0 for the first page
	Limit    int    // 0 means DefaultPageSize; at most MaxListRows
}

// NoAudit is the audit argument of a write that records no entry (see
// Store).
var NoAudit AuditEntry

// IsZero reports whether e is NoAudit.
func (e AuditEntry) IsZero() bool { return e == AuditEntry{} }
