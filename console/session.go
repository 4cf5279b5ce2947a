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
	// reveal is a secret waiting to be shown once, on the page the create or
	// regenerate POST redirects to; notice is a one-line message for the
	// next page. Both are taken by the next request, whatever it is, so a
	// secret never stays in memory longer than one redirect.
	reveal *reveal
	notice string
}

// reveal is a new client secret to show exactly once.
type reveal struct {
	clientID string
	secret   string
	created  bool // a new client, rather than a regenerated secret
}

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
		var oldest sessionKey
		var at time.Time
		first := true
		for k, s := range st.m {
			if first || s.lastSeen.Before(at) {
				oldest, at, first = k, s.lastSeen, false
			}
		}
		delete(st.m, oldest)
	}
	st.m[keyOf(id)] = s
	return id, s
}

func (st *sessionStore) sweep(now time.Time) {
	for k, s := range st.m {
		if st.expired(s, now) {
			delete(st.m, k)
		}
	}
	st.lastSweep = now
}

// use finds a live session, marks it used, and takes the secret and notice
// waiting for this request. The returned view is a copy: handlers never
// touch the shared session without the lock.
func (st *sessionStore) use(id string) (view sessionView, ok bool) {
	if id == "" {
		return sessionView{}, false
	}
	k := keyOf(id)
	now := st.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	s, found := st.m[k]
	if !found {
		return sessionView{}, false
	}
	if st.expired(s, now) {
		delete(st.m, k)
		return sessionView{}, false
	}
	s.lastSeen = now
	view = sessionView{id: id, clientID: s.clientID, generation: s.generation, csrf: s.csrf, reveal: s.reveal, notice: s.notice}
	s.reveal, s.notice = nil, ""
	return view, true
}

// sessionView is what one request knows of its session.
type sessionView struct {
	id         string
	clientID   string
	generation int64
	csrf       string
	reveal     *reveal
	notice     string
}

// checkCSRF compares a form's token with the session's in constant time.
func (v sessionView) checkCSRF(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(v.csrf)) == 1
}

// setNext leaves a secret to reveal and a notice for the session's next
// request.
func (st *sessionStore) setNext(id string, rv *reveal, notice string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if s, ok := st.m[keyOf(id)]; ok {
		s.reveal, s.notice = rv, notice
	}
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
