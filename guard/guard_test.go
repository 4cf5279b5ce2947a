package guard_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/guard"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/token"
)

// Every forged-token family is refused with the server's code, and where
// the check is the same as the server's the answer is the same to the byte.
func TestRefusals(t *testing.T) {
	d := testdc.Start(t, testdc.Options{})
	other := testdc.Start(t, testdc.Options{AdminID: d.Admin.ID, AdminSecret: d.Admin.Secret}) // same credentials, another data center
	g := newGuard(t, guard.Config{
		Issuers: []guard.Issuer{issuer(d, d.Admin)},
		Leeway:  30 * time.Second,
		Now:     d.Clock.Now,
	})
	rs := protect(t, g)

	f := d.Forgeries()
	parts := strings.Split(f.Good, ".")
	idToken := d.Token(d.Admin).IDToken

	tests := []struct {
		name   string
		header string // the whole Authorization header; "" sends none
		code   string
		// same: the data center answers the same bytes; only the message of
		// an issuer mismatch differs, naming the guard's trusted issuers.
		same bool
	}{
		{"no header", "", "bearerTokenMissing", true},
		{"empty bearer", "Bearer ", "bearerTokenMissing", true},
		{"Basic instead of Bearer", testkit.Basic(d.Admin.ID, d.Admin.Secret), "bearerTokenMissing", true},
		{"garbage", "Bearer garbage", "tokenMalformed", true},
		{"bad base64", "Bearer !!.!!.!!", "tokenMalformed", true},
		{"too long", "Bearer " + strings.Repeat("a", 9000), "tokenMalformed", true},
		{"JWE", "Bearer a.b.c.d.e", "tokenMalformed", true},
		{"other data center", "Bearer " + other.AdminToken(), "tokenIssuerMismatch", false},
		{"foreign issuer", "Bearer " + f.ForeignIssuer, "tokenIssuerMismatch", false},
		{"alg none", "Bearer " + f.None, "tokenInvalid", true},
		{"HS256 with the public key", "Bearer " + f.HS256, "tokenInvalid", true},
		{"stripped signature", "Bearer " + f.Stripped, "tokenInvalid", true},
		{"unknown kid", "Bearer " + f.UnknownKid, "tokenInvalid", true},
		{"wrong audience", "Bearer " + f.WrongAudience, "tokenInvalid", true},
		{"no expiry", "Bearer " + f.NoExpiry, "tokenInvalid", true},
		{"not yet valid", "Bearer " + f.NotYetValid, "tokenInvalid", true},
		{"ID token as access token", "Bearer " + idToken, "tokenInvalid", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := testkit.Get(t, rs, tc.header)
			r.WantBearerRefused(t, tc.code, parts[2])
			if !tc.same {
				return
			}
			s := testkit.Get(t, d.URL+"/api/2/clients/"+d.Admin.ID, tc.header)
			if s.Status != r.Status || string(s.Body) != string(r.Body) ||
				s.Header.Get("WWW-Authenticate") != r.Header.Get("WWW-Authenticate") || s.Header.Get("Content-Type") != r.Header.Get("Content-Type") {
				t.Errorf("the guard answers\n%d %q %s\nthe data center answers\n%d %q %s",
					r.Status, r.Header.Get("WWW-Authenticate"), r.Body, s.Status, s.Header.Get("WWW-Authenticate"), s.Body)
			}
		})
	}

	t.Run("issuer mismatch names the token's issuer and the trusted ones", func(t *testing.T) {
		e := testkit.Get(t, rs, "Bearer "+f.ForeignIssuer).APIError(t)
		if !strings.Contains(e.Message, `"https://evil.example/bc"`) || !strings.Contains(e.Message, d.URL+"/bc") {
			t.Errorf("message %q", e.Message)
		}
	})

	t.Run("a huge foreign issuer is bounded in the message", func(t *testing.T) {
		huge := d.ForgeAdmin("at+jwt", func(c *token.AccessClaims) { c.Issuer = "https://" + strings.Repeat("x", 5000) })
		e := testkit.Get(t, rs, "Bearer "+huge).APIError(t)
		if e.Code != "tokenIssuerMismatch" || len(e.Message) > 400 {
			t.Errorf("%s: %d-byte message", e.Code, len(e.Message))
		}
	})

	t.Run("a guard expecting another audience", func(t *testing.T) {
		is := issuer(d, d.Admin)
		is.Audience = "api.example"
		g2 := newGuard(t, guard.Config{Issuers: []guard.Issuer{is}, Now: d.Clock.Now})
		if e := testkit.Get(t, protect(t, g2), "Bearer "+f.Good).APIError(t); e.Code != "tokenInvalid" {
			t.Errorf("code %s", e.Code)
		}
	})

	t.Run("good token", func(t *testing.T) {
		if r := testkit.Get(t, rs, "Bearer "+f.Good); r.Status != http.StatusOK {
			t.Errorf("%d %s", r.Status, r.Body)
		}
	})

	t.Run("expired, moved by the injected clock", func(t *testing.T) {
		tok := d.AdminToken()
		if r := testkit.Get(t, rs, "Bearer "+tok); r.Status != http.StatusOK {
			t.Fatalf("before expiry: %d %s", r.Status, r.Body)
		}
		d.Clock.Advance(2*time.Hour + 20*time.Second) // within the leeway
		defer d.Clock.Advance(-(2*time.Hour + 31*time.Second))
		if r := testkit.Get(t, rs, "Bearer "+tok); r.Status != http.StatusOK {
			t.Fatalf("within leeway: %d %s", r.Status, r.Body)
		}
		d.Clock.Advance(11 * time.Second)
		r := testkit.Get(t, rs, "Bearer "+tok)
		if r.Status != 401 || r.APIError(t).Code != "tokenExpired" {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		if s := testkit.Get(t, d.URL+"/api/2/clients/"+d.Admin.ID, "Bearer "+tok); string(s.Body) != string(r.Body) {
			t.Errorf("guard %s, data center %s", r.Body, s.Body)
		}
	})
}

func TestTwoDataCenters(t *testing.T) {
	eu := testdc.Start(t, testdc.Options{})
	us := testdc.Start(t, testdc.Options{})
	both := protect(t, newGuard(t, guard.Config{Issuers: []guard.Issuer{issuer(eu, eu.Admin), issuer(us, us.Admin)}}))
	euOnly := protect(t, newGuard(t, guard.Config{Issuers: []guard.Issuer{issuer(eu, eu.Admin)}}))

	for _, d := range []*testdc.DataCenter{eu, us} {
		_, c := d.CreateClient(api.CreateClientRequest{})
		r := testkit.Get(t, both, "Bearer "+d.Token(c).AccessToken)
		if r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", d.URL, r.Status, r.Body)
		}
		var s seen
		r.JSON(t, &s)
		if s.ClientID != c.ID || s.Issuer != d.URL+"/bc" {
			t.Errorf("handler saw %+v, want client %s of %s", s, c.ID, d.URL)
		}
	}
	if r := testkit.Get(t, euOnly, "Bearer "+us.AdminToken()); r.Status != 401 || r.APIError(t).Code != "tokenIssuerMismatch" {
		t.Errorf("a US token at an EU-only guard: %d %s", r.Status, r.Body)
	}
}

// A token whose client is disabled, deleted or regenerated, or which is
// revoked, stops working within StatusCacheTTL.
func TestClientChangesWithinStatusTTL(t *testing.T) {
	const ttl = 200 * time.Millisecond
	d := testdc.Start(t, testdc.Options{})
	rs := protect(t, newGuard(t, guard.Config{Issuers: []guard.Issuer{issuer(d, d.Admin)}, StatusCacheTTL: ttl}))
	admin := d.AdminToken()

	tests := []struct {
		name   string
		change func(c api.Client, cr testdc.Creds, tok string)
	}{
		{"disabled", func(c api.Client, _ testdc.Creds, _ string) {
			if r := d.Call(http.MethodPut, "/api/2/clients/"+c.ClientID, admin, map[string]string{"status": "disabled"}); r.Status != 200 {
				t.Fatalf("disable: %d %s", r.Status, r.Body)
			}
		}},
		{"deleted", func(c api.Client, _ testdc.Creds, _ string) {
			if r := d.Call(http.MethodDelete, "/api/2/clients/"+c.ClientID, admin, nil); r.Status != 204 {
				t.Fatalf("delete: %d %s", r.Status, r.Body)
			}
		}},
		{"secret regenerated", func(c api.Client, _ testdc.Creds, _ string) {
			if r := d.Call(http.MethodPost, "/api/2/clients/"+c.ClientID+"/secret", admin, nil); r.Status != 200 {
				t.Fatalf("regenerate: %d %s", r.Status, r.Body)
			}
		}},
		{"token revoked", func(_ api.Client, cr testdc.Creds, tok string) {
			if r := d.PostForm("/bc/idp/revoke_token", url.Values{"token": {tok}}, testkit.Basic(cr.ID, cr.Secret)); r.Status != 200 {
				t.Fatalf("revoke: %d %s", r.Status, r.Body)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, cr := d.CreateClient(api.CreateClientRequest{})
			tok := d.Token(cr).AccessToken
			if r := testkit.Get(t, rs, "Bearer "+tok); r.Status != http.StatusOK {
				t.Fatalf("before: %d %s", r.Status, r.Body)
			}
			tc.change(c, cr, tok)
			changed := time.Now()
			deadline := changed.Add(5 * time.Second)
			for {
				r := testkit.Get(t, rs, "Bearer "+tok)
				if r.Status == http.StatusUnauthorized {
					if code := r.APIError(t).Code; code != "tokenRevoked" {
						t.Fatalf("code %s, want tokenRevoked", code)
					}
					break
				}
				if r.Status != http.StatusOK || time.Now().After(deadline) {
					t.Fatalf("still %d %s after %s", r.Status, r.Body, time.Since(changed))
				}
				time.Sleep(10 * time.Millisecond)
			}
			took := time.Since(changed)
			t.Logf("refused %s after the change (StatusCacheTTL %s)", took.Round(time.Millisecond), ttl)
			// The answer cached before the change lives at most ttl; the
			// rest is one poll interval and one introspection round trip.
			if took > ttl+time.Second {
				t.Errorf("refused only after %s", took)
			}
		})
	}
}

// A flood of tokens with made-up kids costs the data center at most one
// JWKS fetch per cooldown.
func TestUnknownKidFlood(t *testing.T) {
	const cooldown = time.Minute
	d := testdc.Start(t, testdc.Options{})
	rec := newRecorder()
	clk := testkit.NewClock(time.Now())
	rs := protect(t, newGuard(t, guard.Config{
		Issuers: []guard.Issuer{issuer(d, d.Admin)}, HTTPClient: rec.client(),
		JWKSRefreshCooldown: cooldown, Now: clk.Now,
	}))
	good := d.AdminToken()
	parts := strings.Split(good, ".")
	if r := testkit.Get(t, rs, "Bearer "+good); r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	if n := rec.count(keysPath); n != 1 {
		t.Fatalf("%d JWKS fetches to start with", n)
	}

	flood := func(round int) {
		t.Helper()
		var wg sync.WaitGroup
		codes := make([]string, 100)
		for i := range codes {
			wg.Go(func() {
				h := testdc.B64(map[string]string{"alg": "RS256", "typ": "at+jwt", "kid": fmt.Sprintf("made-up-%d-%d", round, i)})
				r := testkit.Get(t, rs, "Bearer "+h+"."+parts[1]+"."+parts[2])
				codes[i] = strconv.Itoa(r.Status) + " " + r.APIError(t).Code
			})
		}
		wg.Wait()
		for i, c := range codes {
			if c != "401 tokenInvalid" {
				t.Fatalf("request %d: %s", i, c)
			}
		}
	}

	flood(1) // within the cooldown of the first fetch
	if n := rec.count(keysPath); n != 1 {
		t.Errorf("within the cooldown: %d JWKS fetches, want 1", n)
	}
	clk.Advance(cooldown + time.Second)
	flood(2)
	if n := rec.count(keysPath); n != 2 {
		t.Errorf("after one cooldown: %d JWKS fetches, want 2", n)
	}
	flood(3)
	if n := rec.count(keysPath); n != 2 {
		t.Errorf("again within the cooldown: %d JWKS fetches, want 2", n)
	}
	if r := testkit.Get(t, rs, "Bearer "+good); r.Status != 200 {
		t.Errorf("the good token after the flood: %d %s", r.Status, r.Body)
	}
	if n := rec.count(discoveryPath); n != 1 {
		t.Errorf("%d discovery fetches, want 1", n)
	}
}

// Concurrent requests with one new token share one discovery, one JWKS
// fetch and one introspection call.
func TestConcurrentRequestsShareOneIntrospection(t *testing.T) {
	d := testdc.Start(t, testdc.Options{})
	rec := newRecorder()
	rs := protect(t, newGuard(t, guard.Config{Issuers: []guard.Issuer{issuer(d, d.Admin)}, HTTPClient: rec.client(), Now: d.Clock.Now}))
	_, c := d.CreateClient(api.CreateClientRequest{})
	tok := d.Token(c).AccessToken

	for round := range 2 {
		var wg sync.WaitGroup
		statuses := make([]int, 50)
		for i := range statuses {
			wg.Go(func() { statuses[i] = testkit.Get(t, rs, "Bearer "+tok).Status })
		}
		wg.Wait()
		for i, s := range statuses {
			if s != http.StatusOK {
				t.Fatalf("round %d, request %d: %d", round, i, s)
			}
		}
		for path, want := range map[string]int{discoveryPath: 1, keysPath: 1, introspectPath: 1} {
			if n := rec.count(path); n != want {
				t.Errorf("round %d: %d requests to %s, want %d", round, n, path, want)
			}
		}
	}
}

// When a data center cannot answer, the guard fails closed with 503 and
// Retry-After, never 401, and tries again after its backoff.
func TestFailsClosed(t *testing.T) {
	d := testdc.Start(t, testdc.Options{})
	tok := d.AdminToken()

	tests := []struct {
		name   string
		path   string
		status int // 0: network error
	}{
		{"discovery unreachable", discoveryPath, 0},
		{"discovery 500", discoveryPath, 500},
		{"JWKS unreachable", keysPath, 0},
		{"JWKS 503", keysPath, 503},
		{"introspection unreachable", introspectPath, 0},
		{"introspection 502", introspectPath, 502},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			clk := testkit.NewClock(time.Now())
			rs := protect(t, newGuard(t, guard.Config{Issuers: []guard.Issuer{issuer(d, d.Admin)}, HTTPClient: rec.client(), Now: clk.Now}))
			rec.setDown(tc.path, tc.status, true)
			for range 3 {
				r := testkit.Get(t, rs, "Bearer "+tok)
				expectUnavailable(t, r)
			}
			if n := rec.count(tc.path); n != 1 {
				t.Errorf("%d attempts within the backoff, want 1", n)
			}
			rec.setDown(tc.path, 0, false)
			clk.Advance(time.Second)
			if r := testkit.Get(t, rs, "Bearer "+tok); r.Status != http.StatusOK {
				t.Errorf("after recovery: %d %s", r.Status, r.Body)
			}
		})
	}

	t.Run("introspection refuses the guard's credentials", func(t *testing.T) {
		rs := protect(t, newGuard(t, guard.Config{Issuers: []guard.Issuer{issuer(d, testdc.Creds{ID: d.Admin.ID, Secret: "wrong-" + d.Admin.Secret})}}))
		expectUnavailable(t, testkit.Get(t, rs, "Bearer "+tok))
	})

	t.Run("known keys outlive a JWKS outage; unknown kids do not pass", func(t *testing.T) {
		rec := newRecorder()
		clk := testkit.NewClock(time.Now())
		rs := protect(t, newGuard(t, guard.Config{Issuers: []guard.Issuer{issuer(d, d.Admin)}, HTTPClient: rec.client(), Now: clk.Now}))
		if r := testkit.Get(t, rs, "Bearer "+tok); r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		rec.setDown(keysPath, 0, true)
		clk.Advance(10 * time.Minute) // the key set is stale and past the cooldown
		parts := strings.Split(tok, ".")
		unknown := testdc.B64(map[string]string{"alg": "RS256", "typ": "at+jwt", "kid": "rotated-in"}) + "." + parts[1] + "." + parts[2]
		expectUnavailable(t, testkit.Get(t, rs, "Bearer "+unknown))
		if r := testkit.Get(t, rs, "Bearer "+d.AdminToken()); r.Status != 200 {
			t.Errorf("a new token signed by a known key: %d %s", r.Status, r.Body)
		}
	})
}

func expectUnavailable(t *testing.T, r testkit.Response) {
	t.Helper()
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	if e := r.APIError(t); e.Code != "serviceUnavailable" || e.Domain != "AccountServer" {
		t.Errorf("error = %+v", e)
	}
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 || s > 30 {
		t.Errorf("Retry-After = %q", r.Header.Get("Retry-After"))
	}
	if wa := r.Header.Get("WWW-Authenticate"); wa != "" {
		t.Errorf("a 503 with a challenge: %q", wa)
	}
}

func TestClaimsReachHandler(t *testing.T) {
	d := testdc.Start(t, testdc.Options{})
	g := newGuard(t, guard.Config{Issuers: []guard.Issuer{issuer(d, d.Admin)}, Now: d.Clock.Now})
	c, cr := d.CreateClient(api.CreateClientRequest{})
	tok := d.Token(cr).AccessToken

	var mu sync.Mutex
	var got []*guard.Claims
	rs := httptestServer(t, g.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, ok := guard.ClaimsFrom(r.Context())
		if !ok {
			t.Error("no claims in the handler's context")
			return
		}
		seen := *claims // as it arrived, before this handler scribbles on it
		seen.Audience = slices.Clone(claims.Audience)
		mu.Lock()
		got = append(got, &seen)
		mu.Unlock()
		// A handler scribbling on its claims must not change the next
		// request's.
		claims.ClientID, claims.Scope, claims.Audience = "scribbled", nil, nil
	})))
	for range 2 {
		if r := testkit.Get(t, rs, "Bearer "+tok); r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	}
	if len(got) != 2 {
		t.Fatalf("handler ran %d times", len(got))
	}
	second := got[1]
	if second.Issuer != d.URL+"/bc" || second.Subject != c.ClientID || second.OwnerTUID != c.TenantID ||
		second.Expiry.IsZero() || second.ID == "" || second.Version != 2 {
		t.Errorf("claims = %+v", second)
	}
	if second.ClientID != c.ClientID || len(second.Audience) != 1 {
		t.Errorf("the first handler's changes reached the second: %+v", second)
	}
	if _, ok := guard.ClaimsFrom(context.Background()); ok {
		t.Error("claims in a bare context")
	}
}

func TestVerify(t *testing.T) {
	d := testdc.Start(t, testdc.Options{})
	g := newGuard(t, guard.Config{Issuers: []guard.Issuer{issuer(d, d.Admin)}, Now: d.Clock.Now})
	ctx := context.Background()

	c, err := g.Verify(ctx, d.AdminToken())
	if err != nil || c.ClientID != d.Admin.ID {
		t.Fatalf("Verify = %+v, %v", c, err)
	}
	for raw, code := range map[string]string{"": "bearerTokenMissing", "x": "tokenMalformed", strings.Repeat("x", 10000): "tokenMalformed"} {
		_, err := g.Verify(ctx, raw)
		var ge *guard.Error
		if !errors.As(err, &ge) || ge.Code != code || !errors.Is(err, gatehouse.ErrUnauthenticated) {
			t.Errorf("Verify(%.10q) = %v, want %s", raw, err, code)
		}
	}
}

// The guard verifies tokens of every signing algorithm a data center can
// use, and follows a data center that switches from one to another
// without refusing a token of either.
func TestSigningAlgorithms(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			d := testdc.Start(t, testdc.Options{SigningAlgorithm: alg})
			g := newGuard(t, guard.Config{Issuers: []guard.Issuer{issuer(d, d.Admin)}, Now: d.Clock.Now})
			ctx := context.Background()
			tok := d.AdminToken()
			if c, err := g.Verify(ctx, tok); err != nil || c.ClientID != d.Admin.ID {
				t.Fatalf("Verify = %+v, %v", c, err)
			}
			parts := strings.Split(tok, ".")
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			sig[0] ^= 1
			_, err := g.Verify(ctx, parts[0]+"."+parts[1]+"."+base64.RawURLEncoding.EncodeToString(sig))
			var ge *guard.Error
			if !errors.As(err, &ge) || ge.Code != "tokenInvalid" {
				t.Errorf("tampered %s token: %v, want tokenInvalid", alg, err)
			}
		})
	}

	t.Run("switch", func(t *testing.T) {
		d := testdc.Start(t, testdc.Options{})
		g := newGuard(t, guard.Config{Issuers: []guard.Issuer{issuer(d, d.Admin)}, Now: d.Clock.Now})
		ctx := context.Background()
		before := d.AdminToken()
		if _, err := g.Verify(ctx, before); err != nil {
			t.Fatal(err)
		}
		d.SigningAlgorithm = "ES256"
		d.Restart()
		d.Clock.Advance(6*time.Minute + time.Second) // past the publish delay, and the guard's JWKS max-age
		after := d.AdminToken()
		for name, tok := range map[string]string{"RS256 before": before, "ES256 after": after} {
			if _, err := g.Verify(ctx, tok); err != nil {
				t.Errorf("%s the switch: %v", name, err)
			}
		}
	})
}

// Close ends a fetch in flight; the guard then answers unavailable.
func TestClose(t *testing.T) {
	d := testdc.Start(t, testdc.Options{})
	started := make(chan struct{})
	var once sync.Once
	hang := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		once.Do(func() { close(started) })
		<-req.Context().Done()
		return nil, req.Context().Err()
	})
	g, err := guard.New(guard.Config{Issuers: []guard.Issuer{issuer(d, d.Admin)}, HTTPClient: &http.Client{Transport: hang}})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := g.Verify(context.Background(), d.AdminToken())
		errc <- err
	}()
	<-started
	g.Close() // returns only once the hung fetch has ended
	select {
	case err := <-errc:
		if !errors.Is(err, gatehouse.ErrUnavailable) {
			t.Errorf("Verify during Close = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Verify still waiting after Close")
	}
	if _, err := g.Verify(context.Background(), d.AdminToken()); !errors.Is(err, guard.ErrClosed) {
		t.Errorf("Verify after Close = %v, want ErrClosed", err)
	}
}

func TestConfig(t *testing.T) {
	ok := guard.Issuer{URL: "https://eu8-cloud.example.com/bc", Audience: "eu8-cloud.example.com", ClientID: "id", ClientSecret: "secret"}
	with := func(f func(*guard.Issuer)) guard.Config {
		is := ok
		f(&is)
		return guard.Config{Issuers: []guard.Issuer{is}}
	}
	bad := map[string]guard.Config{
		"no issuers":        {},
		"relative URL":      with(func(is *guard.Issuer) { is.URL = "/bc" }),
		"ftp URL":           with(func(is *guard.Issuer) { is.URL = "ftp://example.com/bc" }),
		"trailing slash":    with(func(is *guard.Issuer) { is.URL += "/" }),
		"query":             with(func(is *guard.Issuer) { is.URL += "?x=1" }),
		"user info":         with(func(is *guard.Issuer) { is.URL = "https://u:p@example.com/bc" }),
		"no audience":       with(func(is *guard.Issuer) { is.Audience = "" }),
		"no client ID":      with(func(is *guard.Issuer) { is.ClientID = "" }),
		"no client secret":  with(func(is *guard.Issuer) { is.ClientSecret = "" }),
		"duplicate issuer":  {Issuers: []guard.Issuer{ok, ok}},
		"negative leeway":   {Issuers: []guard.Issuer{ok}, Leeway: -time.Second},
		"negative TTL":      {Issuers: []guard.Issuer{ok}, StatusCacheTTL: -time.Second},
		"negative cooldown": {Issuers: []guard.Issuer{ok}, JWKSRefreshCooldown: -time.Second},
		"negative max":      {Issuers: []guard.Issuer{ok}, MaxCachedTokens: -1},
	}
	for name, cfg := range bad {
		if g, err := guard.New(cfg); err == nil {
			g.Close()
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "secret\"") || strings.Contains(err.Error(), ":p@") {
			t.Errorf("%s: error shows a secret: %v", name, err)
		}
	}
	g, err := guard.New(guard.Config{Issuers: []guard.Issuer{ok}})
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
