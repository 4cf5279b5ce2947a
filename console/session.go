package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"
)

// sessionCookie names the console's session cookie. It carries only an
// opaque random id; everything else stays on the server.
const sessionCookie = "gatehouse_console"

// cookiePath scopes the session cookie to the console, so the API routes
// beside it never receive it.
const cookiePath = "/console"

// session is one signed-in admin. It records who signed in and the
// client's generation at that moment; the principal itself is rebuilt from
// the client's current state on every request (service.SessionPrincipal),
// so a client disabled, deleted or regenerated since sign-in is signed out
// at once, here as for its bearer tokens.
type session struct {
	clientID   string
	generation int64
	// csrf is the synchronizer token every form of the session carries.
	csrf     string
	created  time.Time
	lastSeen time.Time
	// reveals are the new secrets waiting to be shown, each once, on the
	// page its create or regenerate POST redirected to, which names it by
	// an unguessable id. Only a request of this session for that page
	// takes it, so another tab's request, a prefetch or an asset fetched
	// meanwhile leaves it waiting. Keyed by the SHA-256 of the id, like
	// sessions; at most maxReveals, each for revealTTL.
	reveals map[sessionKey]reveal
	// notice is a one-line message for the next page, whatever it is.
	notice string
}

// reveal is a new client secret to show exactly once.
type reveal struct {
	clientID string
	secret   string
	created  bool // a new client, rather than a regenerated secret
	expires  time.Time
}

const (
	// revealTTL is how long a secret waits for its page. The browser
	// follows the redirect at once, so a minute is generous, and a secret
	// whose page never came is not kept in memory any longer.
	revealTTL = time.Minute
	// maxReveals bounds the secrets one session keeps waiting: enough for
	// an admin creating clients in several tabs at once. The oldest makes
	// room.
	maxReveals = 8
)

// sessionKey is the SHA-256 of a session id: the store keeps only these,
// so a memory dump or a debug print of the map yields no usable cookie, and
// map lookups never compare the secret itself.
type sessionKey [sha256.Size]byte

func keyOf(id string) sessionKey { return sha256.Sum256([]byte(id)) }

// sessionStore keeps sessions in memory, bounded, with idle and absolute
// expiry. Sessions are per process: a restart signs everyone out, which
// for an admin console is acceptable and keeps the store out of the
// database.
type sessionStore struct {
	now   func() time.Time
	idle  time.Duration
	max   time.Duration
	limit int

	mu        sync.Mutex
	m         map[sessionKey]*session
	lastSweep time.Time
}

func newSessionStore(now func() time.Time, idle, max time.Duration, limit int) *sessionStore {
	return &sessionStore{now: now, idle: idle, max: max, limit: limit, m: make(map[sessionKey]*session)}
}

// randomToken returns 256 bits from crypto/rand, base64url.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (Go 1.24+): it crashes rather than return predictable bytes
	return base64.RawURLEncoding.EncodeToString(b)
}

func (st *sessionStore) expired(s *session, now time.Time) bool {
	return now.Sub(s.lastSeen) >= st.idle || now.Sub(s.created) >= st.max
}

// create starts a session and returns its id, the cookie value.
func (st *sessionStore) create(clientID string, generation int64) (string, *session) {
	id := randomToken()
	now := st.now()
	s := &session{clientID: clientID, generation: generation, csrf: randomToken(), created: now, lastSeen: now}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.m) >= st.limit || now.Sub(st.lastSweep) >= time.Minute {
		st.sweep(now)
	}
	if len(st.m) >= st.limit {
		// Every session is live: drop the one idle the longest. Only admins
		// who know a secret can create sessions, so this is no way for a
		// stranger to sign people out; the scan is rare and O(sessions).
		delete(st.m, oldest(st.m, func(s *session) time.Time { return s.lastSeen }))
	}
	st.m[keyOf(id)] = s
	return id, s
}

// oldest is the key of the entry of m whose time is earliest: what a full
// map drops to make room.
func oldest[V any](m map[sessionKey]V, timeOf func(V) time.Time) sessionKey {
	var key sessionKey
	var at time.Time
	first := true
	for k, v := range m {
		if t := timeOf(v); first || t.Before(at) {
			key, at, first = k, t, false
		}
	}
	return key
}

// sweep drops the expired sessions, and the expired secrets of the others.
func (st *sessionStore) sweep(now time.Time) {
	for k, s := range st.m {
		if st.expired(s, now) {
			delete(st.m, k)
			continue
		}
		s.dropExpiredReveals(now)
	}
	st.lastSweep = now
}

func (s *session) dropExpiredReveals(now time.Time) {
	for k, rv := range s.reveals {
		if !now.Before(rv.expires) {
			delete(s.reveals, k)
		}
	}
}

// use finds a live session, marks it used, and takes the notice waiting
// for this request. The returned view is a copy: handlers never touch the
// shared session without the lock.
func (st *sessionStore) use(id string) (view sessionView, ok bool) {
	if id == "" {
		return sessionView{}, false
	}
	k := keyOf(id)
	now := st.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	// Any console traffic sweeps now and then, so a secret whose page never
	// came leaves memory within a minute or two of its expiry.
	if now.Sub(st.lastSweep) >= time.Minute {
		st.sweep(now)
	}
	s, found := st.m[k]
	if !found {
		return sessionView{}, false
	}
	if st.expired(s, now) {
		delete(st.m, k)
		return sessionView{}, false
	}
	s.lastSeen = now
	view = sessionView{id: id, clientID: s.clientID, generation: s.generation, csrf: s.csrf, notice: s.notice}
	s.notice = ""
	return view, true
}

// sessionView is what one request knows of its session.
type sessionView struct {
	id         string
	clientID   string
	generation int64
	csrf       string
	notice     string
}

// checkCSRF compares a form's token with the session's in constant time.
func (v sessionView) checkCSRF(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(v.csrf)) == 1
}

// setNotice leaves a notice for the session's next request.
func (st *sessionStore) setNotice(id, notice string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if s, ok := st.m[keyOf(id)]; ok {
		s.notice = notice
	}
}

// offerReveal keeps a secret for the session's page that names the
// returned reveal id, and for no other request. It is not the secret, only
// a claim on it that nothing but this session's cookie can redeem, so it
// may travel in the redirect's URL.
func (st *sessionStore) offerReveal(id, clientID, secret string, created bool) string {
	revealID := randomToken()
	now := st.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.m[keyOf(id)]
	if !ok {
		return revealID // the session just ended: the page will say the secret is gone
	}
	if s.reveals == nil {
		s.reveals = make(map[sessionKey]reveal, 1)
	}
	s.dropExpiredReveals(now)
	if len(s.reveals) >= maxReveals {
		delete(s.reveals, oldest(s.reveals, func(rv reveal) time.Time { return rv.expires }))
	}
	s.reveals[keyOf(revealID)] = reveal{clientID: clientID, secret: secret, created: created, expires: now.Add(revealTTL)}
	return revealID
}

// takeReveal returns the secret the session keeps under revealID for the
// page of client clientID, and forgets it: it is shown once. An unknown or
// expired id, another session's, or one named on another client's page
// yields nothing and takes nothing.
func (st *sessionStore) takeReveal(id, revealID, clientID string) (reveal, bool) {
	if revealID == "" {
		return reveal{}, false
	}
	now := st.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.m[keyOf(id)]
	if !ok {
		return reveal{}, false
	}
	k := keyOf(revealID)
	rv, ok := s.reveals[k]
	if !ok || rv.clientID != clientID {
		return reveal{}, false
	}
	delete(s.reveals, k)
	if !now.Before(rv.expires) {
		return reveal{}, false
	}
	return rv, true
}

func (st *sessionStore) delete(id string) {
	st.mu.Lock()
	delete(st.m, keyOf(id))
	st.mu.Unlock()
}

func (st *sessionStore) len() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.m)
}
