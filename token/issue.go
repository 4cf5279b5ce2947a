package token

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse"
)

// ResourceNamespace is the platform's name for the account API in role
// grants.
const ResourceNamespace = "account-server"

// Grant is one element of the platform's scope claim: a role in a tenant.
type Grant struct {
	TenantID string `json:"tid,omitempty"`
	TUID     string `json:"tuid"`
	RN       string `json:"rn"`
	Role     string `json:"role"`
}

// AccessClaims are the claims of an access token, as the platform mints
// them plus Generation, ours.
type AccessClaims struct {
	jwt.Claims
	ClientID  string  `json:"client_id"`
	OwnerTUID string  `json:"owner_tuid"`
	Version   int     `json:"ver"`
	SubType   string  `json:"sub_type"`
	Scope     []Grant `json:"scope"`
	// Generation is, when the token was minted, the client's generation plus
	// those of its tenant and every ancestor tenant; any of them moving on
	// (a regenerated secret, a disable) revokes the token. Generations only
	// grow, so the sum never returns to an old value.
	Generation int64 `json:"gen"`
}

// IssuerAndAudience derives a data center's issuer and audience from its
// public base URL: the issuer is "<url>/bc" (never with a trailing slash)
// and the audience is the URL's host, port included.
func IssuerAndAudience(datacenterURL string) (issuer, audience string, err error) {
	u, err := gatehouse.ParseDatacenterURL(datacenterURL)
	if err != nil {
		return "", "", err
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/") + "/bc", u.Host, nil
}

// Issuer mints tokens for one data center.
type Issuer struct {
	URL      string // the iss claim
	Audience string // the aud claim of access tokens
	TTL      time.Duration
	Keys     *KeyRing

	rsaGateOnce sync.Once
	rsaGate     *fairGate
}

// gate returns the queue RSA signing waits in: one slot per CPU, each for
// one token pair. An RSA signature costs about a millisecond of CPU; left
// to the Go scheduler, hundreds of concurrent requests interleave their
// signatures, every one finishes late, and some finish seconds late. In
// this queue requests finish at the rate the CPUs sign and the CPUs stay
// busy, and it is fair between clients (see fairGate): a client sending
// many requests at once waits behind its own backlog, not its neighbours.
func (is *Issuer) gate() *fairGate {
	is.rsaGateOnce.Do(func() { is.rsaGate = newFairGate(runtime.GOMAXPROCS(0)) })
	return is.rsaGate
}

// Issued is a freshly minted token pair.
type Issued struct {
	AccessToken string
	IDToken     string
	IssuedAt    time.Time
	ExpiresAt   time.Time
}

// Issue mints an access token and an ID token for the client. It returns
// ctx's error if ctx ends while the request waits for a CPU to sign on.
func (is *Issuer) Issue(ctx context.Context, c gatehouse.Client, now time.Time) (Issued, error) {
	sk := is.Keys.load().signerAt(now)
	if sk == nil {
		return Issued{}, ErrNoSigningKey
	}
	// Whole seconds: the claims are NumericDates and expires_on must equal
	// exp exactly.
	iat := now.UTC().Truncate(time.Second)
	exp := iat.Add(is.TTL)
	scope := []Grant{}
	if c.Role != gatehouse.RoleNone {
		scope = append(scope, Grant{TUID: c.TenantID, RN: ResourceNamespace, Role: string(c.Role)})
	}
	access := AccessClaims{
		Claims: jwt.Claims{
			Issuer:   is.URL,
			Subject:  c.ID,
			Audience: jwt.Audience{is.Audience},
			IssuedAt: jwt.NewNumericDate(iat),
			Expiry:   jwt.NewNumericDate(exp),
			ID:       uuid.NewString(),
		},
		ClientID:   c.ID,
		OwnerTUID:  c.TenantID,
		Version:    2,
		SubType:    "api_client",
		Scope:      scope,
		Generation: c.Generation,
	}
	idc := jwt.Claims{
		Issuer:   is.URL,
		Subject:  c.ID,
		Audience: jwt.Audience{c.ID},
		IssuedAt: jwt.NewNumericDate(iat),
		Expiry:   jwt.NewNumericDate(exp),
	}
	pair := func(at, idt string, err error) (Issued, error) {
		if err != nil {
			return Issued{}, err
		}
		return Issued{AccessToken: at, IDToken: idt, IssuedAt: iat, ExpiresAt: exp}, nil
	}
	if sk.alg != RS256 {
		// ES256 and EdDSA sign in tens of microseconds: handing one
		// signature to another goroutine would cost more than it saves.
		return pair(signInTurn(sk, access, idc))
	}

	gate := is.gate()
	if err := gate.acquire(ctx, c.ID); err != nil {
		return Issued{}, err
	}
	defer gate.release()
	if gate.backlog(c.ID) {
		// This client has more requests waiting: it is throughput it wants,
		// and a second CPU is better spent on another client's pair. A
		// client with one request at a time signs side by side, below, even
		// beside a greedy neighbour, which is what keeps its latency near
		// its idle figure.
		return pair(signInTurn(sk, access, idc))
	}
	// The two RSA signatures are nearly all of a token request's cost; made
	// side by side they take the time of one when a core is free, which is
	// what a lone client's latency is made of.
	type signed struct {
		tok string
		err error
	}
	idDone := make(chan signed, 1)
	go func() {
		t, err := signClaims(sk.id, idc)
		idDone <- signed{t, err}
	}()
	at, err := signClaims(sk.access, access)
	id := <-idDone
	if err != nil {
		return Issued{}, fmt.Errorf("sign access token: %w", err)
	}
	if id.err != nil {
		return Issued{}, fmt.Errorf("sign ID token: %w", id.err)
	}
	return Issued{AccessToken: at, IDToken: id.tok, IssuedAt: iat, ExpiresAt: exp}, nil
}

// signInTurn signs the access token, then the ID token.
func signInTurn(sk *signingKey, access AccessClaims, idc jwt.Claims) (string, string, error) {
	at, err := signClaims(sk.access, access)
	if err != nil {
		return "", "", fmt.Errorf("sign access token: %w", err)
	}
	idt, err := signClaims(sk.id, idc)
	if err != nil {
		return "", "", fmt.Errorf("sign ID token: %w", err)
	}
	return at, idt, nil
}

// signClaims signs the JSON of claims as a compact JWS. jwt.Signed would
// do the same after re-encoding the claims through a map, so that several
// claim sets can be merged; with one set that round trip is wasted work on
// every token.
func signClaims(s jose.Signer, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := s.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}
