// Package locator is the global locator of a multi-datacenter cloud: given
// a login (an API client's id), it answers which data center holds it, in
// the platform's shape
//
//	GET /api/1/accounts?login=NAME
//	{"server_url":"https://eu8-cloud.example.com","id":0,"login":"NAME","datacenter_id":"eu8"}
//
// Every data center answers the same route for its own clients; the
// locator asks all of them at once and answers for the whole cloud.
package locator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apierr"
	"github.com/gatehouse-dev/gatehouse/internal/httpedge"
	"github.com/gatehouse-dev/gatehouse/ratelimit"
	"github.com/gatehouse-dev/gatehouse/token"
)

// Path is the locator route, on every data center and on the locator.
const Path = "/api/1/accounts"

// Error codes of the locator's own refusals (ours: the platform documents
// none for this route).
const (
	CodeTooManyRequests = "tooManyRequests"
	CodeBadGateway      = "badGateway"
)

// Account is the locator route's answer: the platform's shape (id is
// always 0 for API clients, which have no numeric account id) plus the
// data center's id.
type Account struct {
	ServerURL    string `json:"server_url"`
	ID           int64  `json:"id"`
	Login        string `json:"login"`
	DatacenterID string `json:"datacenter_id"`
}

// DefaultTimeout bounds the wait for one data center's answer.
const DefaultTimeout = 3 * time.Second

// maxAnswerBytes bounds what is read of a data center's answer: a real one
// is about 150 bytes, and a misbehaving one must not fill our memory.
const maxAnswerBytes = 64 << 10

// Config configures a Locator.
type Config struct {
	// Datacenters are asked in parallel; when more than one knows a login,
	// the first listed wins, so the answer does not depend on timing.
	Datacenters []gatehouse.Datacenter
	// Timeout (DefaultTimeout) bounds each data center's answer.
	Timeout time.Duration
	// Limiter counts lookups of logins no data center knows, per caller
	// address; nil means an in-memory limiter with ratelimit's defaults.
	Limiter gatehouse.Limiter
	// HTTPClient asks the data centers; nil means a client of its own.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// TrustedProxies are the load balancers and proxies in front of the
	// locator whose X-Forwarded-For is believed: the caller they name is
	// the one whose misses are counted, and whose address is passed on.
	// Without them the TCP peer is the caller, whatever headers say.
	TrustedProxies []netip.Prefix
}

// Locator answers the locator route for a whole cloud.
type Locator struct {
	dcs     []gatehouse.Datacenter
	timeout time.Duration
	limiter gatehouse.Limiter
	client  *http.Client
	log     *slog.Logger
	handler http.Handler
}

// New validates the data centers and builds the locator.
func New(cfg Config) (*Locator, error) {
	if len(cfg.Datacenters) == 0 {
		return nil, errors.New("locator: no data centers to ask")
	}
	ids, urls := map[string]bool{}, map[string]string{}
	dcs := make([]gatehouse.Datacenter, 0, len(cfg.Datacenters))
	for _, dc := range cfg.Datacenters {
		if err := dc.Validate(); err != nil {
			return nil, fmt.Errorf("data center %q: %w", dc.ID, err)
		}
		iss, _, err := token.IssuerAndAudience(dc.URL)
		if err != nil {
			return nil, fmt.Errorf("data center %s: %w", dc.ID, err)
		}
		if ids[dc.ID] {
			return nil, fmt.Errorf("data center %s is listed twice", dc.ID)
		}
		if other, dup := urls[iss]; dup {
			return nil, fmt.Errorf("data centers %s and %s have the same URL %s", other, dc.ID, dc.URL)
		}
		ids[dc.ID], urls[iss] = true, dc.ID
		dcs = append(dcs, gatehouse.Datacenter{ID: dc.ID, URL: strings.TrimRight(dc.URL, "/")})
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("locator: timeout must not be negative, got %s", cfg.Timeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Limiter == nil {
		cfg.Limiter = ratelimit.NewMemory(ratelimit.Config{})
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{
			Transport: http.DefaultTransport.(*http.Transport).Clone(),
			// A redirect is not an answer of the route; following it could
			// send the lookup anywhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Locator{dcs: dcs, timeout: cfg.Timeout, limiter: cfg.Limiter, client: cfg.HTTPClient, log: cfg.Logger}
	mux := http.NewServeMux()
	mux.HandleFunc(Path, l.handleAccounts)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, r, "GET, HEAD")
			return
		}
		apierr.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		apierr.WriteAPIError(w, http.StatusNotFound, gatehouse.CodeNotFound, "Not found.", 0)
	})
	// The data centers' own edge: a lookup is logged, limited and
	// recovered alike whichever of them answers it.
	l.handler = httpedge.Handler(mux, httpedge.Options{Logger: cfg.Logger, TrustedProxies: cfg.TrustedProxies})
	return l, nil
}

// ServeHTTP implements http.Handler.
func (l *Locator) ServeHTTP(w http.ResponseWriter, r *http.Request) { l.handler.ServeHTTP(w, r) }

// ErrNotFound is Locate's answer when every data center said it does not
// know the login.
var ErrNotFound = errors.New("no data center knows this login")

// UnavailableError is Locate's answer when no data center knows the login
// but some could not be asked: then the login may well exist in one of
// those, and "not found" would be a lie.
type UnavailableError struct {
	// Datacenters are the ids of those that could not be asked.
	Datacenters []string
	// Temporary is set when at least one of them was unreachable, slow or
	// busy (retry later); otherwise each gave an answer that is not the
	// route's, which retrying will not fix.
	Temporary bool
	// RetryAfter is the longest wait a busy data center asked for.
	RetryAfter time.Duration
}

func (e *UnavailableError) Error() string {
	return "data centers " + strings.Join(e.Datacenters, ", ") + " could not be asked"
}

// answer is one data center's reply.
type answer struct {
	found      bool
	notFound   bool
	err        error // why it could not be asked
	temporary  bool
	retryAfter time.Duration
}

// Locate asks every data center at once and answers with the first
// listed that knows the login, as soon as all listed before it have said
// they do not: a slow or dead data center listed after the one that knows
// the login delays nothing. clientIP, if not empty, is the address of the
// caller the lookup is made for, sent on as X-Forwarded-For.
func (l *Locator) Locate(ctx context.Context, login, clientIP string) (Account, error) {
	// The lookups still running when the answer is known are left to
	// finish (each within the timeout) rather than cancelled: a data
	// center sees a cancelled lookup as a client gone mid-request and
	// logs it as an error, and letting a lookup of a ~150-byte answer run
	// costs the locator nothing. For the same reason a caller that hangs
	// up does not cancel them either.
	ctx = context.WithoutCancel(ctx)
	type indexed struct {
		i int
		a answer
	}
	ch := make(chan indexed, len(l.dcs)) // buffered: late answers never block
	for i, dc := range l.dcs {
		go func() { ch <- indexed{i, l.ask(ctx, dc, login, clientIP)} }()
	}
	got := make([]*answer, len(l.dcs))
	for range l.dcs {
		r := <-ch
		got[r.i] = &r.a
		for i, a := range got {
			if a == nil {
				break
			}
			if a.found {
				dc := l.dcs[i]
				return Account{ServerURL: dc.URL, ID: 0, Login: login, DatacenterID: dc.ID}, nil
			}
		}
	}
	var failed UnavailableError
	for i, a := range got {
		if a.notFound {
			continue
		}
		failed.Datacenters = append(failed.Datacenters, l.dcs[i].ID)
		failed.Temporary = failed.Temporary || a.temporary
		failed.RetryAfter = max(failed.RetryAfter, a.retryAfter)
		l.log.Warn("data center could not be asked", "datacenter", l.dcs[i].ID, "url", l.dcs[i].URL, "err", a.err)
	}
	if len(failed.Datacenters) > 0 {
		return Account{}, &failed
	}
	return Account{}, ErrNotFound
}

// ask puts the lookup to one data center. The answer is taken from the
// data center's status, and the login is checked against the one asked
// for; the URL and id answered are the ones the locator is configured
// with, which are how clients reach that data center.
func (l *Locator) ask(ctx context.Context, dc gatehouse.Datacenter, login, clientIP string) answer {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, dc.URL+Path+"?login="+url.QueryEscape(login), nil)
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Accept", "application/json")
	if clientIP != "" {
		// Every lookup the locator forwards comes from its own address, and
		// misses in all data centers but one. A data center that trusts the
		// locator as a proxy (gatehouse serve --trusted-proxies) counts the
		// misses against the caller's address instead; one that does not
		// ignores the header.
		req.Header.Set("X-Forwarded-For", clientIP)
	}
	res, err := l.client.Do(req)
	if err != nil {
		// Unreachable or too slow: may well answer next time.
		return answer{err: err, temporary: true}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxAnswerBytes+1))
	if err != nil {
		return answer{err: fmt.Errorf("reading the answer: %w", err), temporary: true}
	}
	if len(body) > maxAnswerBytes {
		return answer{err: fmt.Errorf("answer larger than %d bytes", maxAnswerBytes)}
	}
	switch res.StatusCode {
	case http.StatusOK:
		var a Account
		if err := json.Unmarshal(body, &a); err != nil {
			return answer{err: fmt.Errorf("200 whose body is not an account: %w", err)}
		}
		if a.Login != login {
			return answer{err: errors.New("200 for another login")}
		}
		return answer{found: true}
	case http.StatusNotFound:
		// A 404 from something that is not our route (a proxy, a wrong
		// URL) must not pass for "no such login": only the account API's
		// own notFound does.
		var e struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		if json.Unmarshal(body, &e) != nil || e.Error.Code != gatehouse.CodeNotFound {
			return answer{err: errors.New("404 that is not the account API's")}
		}
		return answer{notFound: true}
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return answer{err: fmt.Errorf("status %d", res.StatusCode), temporary: true, retryAfter: retryAfter(res.Header.Get("Retry-After"))}
	default:
		return answer{err: fmt.Errorf("unexpected status %d", res.StatusCode)}
	}
}

// retryAfter reads a delta-seconds Retry-After, bounded so a data center
// cannot make the locator tell callers to go away for long.
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 {
		return 0
	}
	return min(time.Duration(n)*time.Second, 5*time.Minute)
}

// limitKey counts the caller address's lookups of logins no data center
// knows, as every data center counts its own: so that enumerating client
// ids through the locator is as slow as asking the data centers directly.
func limitKey(remoteIP string) string { return "locate|ip:" + remoteIP }

func (l *Locator) handleAccounts(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, r, "GET")
		return
	}
	login, ok := LoginParam(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	caller := httpedge.ClientIP(r)
	key := limitKey(caller)
	wait, err := l.limiter.Allowed(ctx, key)
	if err != nil {
		l.log.Error("rate limiter unavailable", "err", err)
		apierr.WriteAPIError(w, http.StatusServiceUnavailable, gatehouse.CodeServiceUnavailable, "The service is temporarily unavailable; retry later.", 0)
		return
	}
	if wait > 0 {
		WriteTooManyLookups(w, wait)
		return
	}
	acc, err := l.Locate(ctx, login, caller)
	var unavailable *UnavailableError
	switch {
	case err == nil:
		w.Header().Set("Cache-Control", "no-store")
		apierr.WriteJSON(w, http.StatusOK, acc)
	case errors.Is(err, ErrNotFound):
		if ferr := l.limiter.Fail(ctx, key); ferr != nil {
			l.log.Warn("counting a failed login lookup failed", "err", ferr)
		}
		WriteNotFound(w)
	case errors.As(err, &unavailable) && unavailable.Temporary:
		apierr.WriteAPIError(w, http.StatusServiceUnavailable, gatehouse.CodeServiceUnavailable,
			"The login was not found, but data centers "+strings.Join(unavailable.Datacenters, ", ")+" could not be asked; retry later.", unavailable.RetryAfter)
	case errors.As(err, &unavailable):
		apierr.WriteAPIError(w, http.StatusBadGateway, CodeBadGateway,
			"The login was not found, but data centers "+strings.Join(unavailable.Datacenters, ", ")+" gave answers that are not the locator route's.", 0)
	default:
		l.log.Error("locating a login failed", "err", err)
		apierr.WriteAPIError(w, http.StatusInternalServerError, gatehouse.CodeInternalError, "Internal error.", 0)
	}
}

// LoginParam reads the one login query parameter, answering 400 itself
// when it is missing, empty or repeated. Data centers use it too, so both
// refuse a bad lookup alike.
func LoginParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	logins := r.URL.Query()["login"]
	switch {
	case len(logins) > 1:
		apierr.WriteAPIError(w, http.StatusBadRequest, gatehouse.CodeValidationError, "The login query parameter is repeated.", 0)
		return "", false
	case len(logins) == 0 || logins[0] == "":
		apierr.WriteAPIError(w, http.StatusBadRequest, gatehouse.CodeValidationError, "The login query parameter is required.", 0)
		return "", false
	}
	return logins[0], true
}

// WriteNotFound answers a lookup of an unknown login.
func WriteNotFound(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	apierr.WriteAPIError(w, http.StatusNotFound, gatehouse.CodeNotFound, "No account with this login.", 0)
}

// WriteTooManyLookups refuses a caller past the limit of unknown logins.
func WriteTooManyLookups(w http.ResponseWriter, wait time.Duration) {
	apierr.WriteAPIError(w, http.StatusTooManyRequests, CodeTooManyRequests, "Too many lookups of unknown logins; retry later.", wait)
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allowed string) {
	w.Header().Set("Allow", allowed)
	apierr.WriteAPIError(w, http.StatusMethodNotAllowed, gatehouse.CodeMethodNotAllowed,
		fmt.Sprintf("Method %s is not allowed here; use %s.", r.Method, allowed), 0)
}

// Serve serves on ln until ctx ends, then shuts down gracefully: in-flight
// lookups get up to grace to finish.
func (l *Locator) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	err := httpedge.Serve(ctx, l, ln, grace, l.log)
	// Hang up on the data centers too. The transport may have dialled a
	// connection it never sent a request on (a second dial that lost the
	// race to an idle one), and a data center shutting down waits seconds
	// for such a connection before it treats it as idle.
	l.client.CloseIdleConnections()
	return err
}
