package server_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/testdc"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// A day's step of the wall clock forward and back, as an NTP correction or
// a resumed VM makes, forgets no revocation: the revoked token, still
// inside its real exp, stays refused by the bearer check and introspection
// once the clock is back, in the same process and after restarts, whether
// the data center restarted before or after the clock came back. Only time
// that passes lets revocations go.
func TestRevocationsSurviveClockSteps(t *testing.T) {
	const day = 24 * time.Hour
	for _, backend := range testdc.Backends {
		t.Run(backend.Name, func(t *testing.T) {
			d := newDC(t, testdc.Options{Database: backend.Database(t)})
			ctx := context.Background()
			c, cred := d.CreateClient(api.CreateClientRequest{})
			_, peer := d.CreateClient(api.CreateClientRequest{})
			revoked, kept := d.Token(cred).AccessToken, d.Token(cred).AccessToken
			if r := d.idpPost("/bc/idp/revoke_token", testkit.Basic(cred.ID, cred.Secret), url.Values{"token": {revoked}}); r.Status != 200 {
				t.Fatalf("revoke: %d %s", r.Status, r.Body)
			}
			_, claims := decodeJWT(t, revoked)
			jti := claims["jti"].(string)
			horizon := func() time.Time {
				t.Helper()
				h, err := d.Store.AdvanceRevocationHorizon(ctx, time.Time{})
				if err != nil {
					t.Fatal(err)
				}
				return h
			}
			stored := func() bool {
				t.Helper()
				revs, err := d.Store.Revocations(ctx, time.Time{})
				if err != nil {
					t.Fatal(err)
				}
				return slices.ContainsFunc(revs, func(r gatehouse.Revocation) bool { return r.TokenID == jti })
			}
			refused := func(when string) {
				t.Helper()
				if code := d.bearerCode(t, c.ClientID, revoked); code != gatehouse.CodeTokenRevoked {
					t.Errorf("%s: the revoked token is answered %q, want %s", when, code, gatehouse.CodeTokenRevoked)
				}
				r := d.idpPost("/bc/idp/introspect_token", testkit.Basic(peer.ID, peer.Secret), url.Values{"token": {revoked}})
				if r.Status != 200 || strings.TrimSpace(string(r.Body)) != `{"active":false}` {
					t.Errorf("%s: introspection of the revoked token: %d %s", when, r.Status, r.Body)
				}
				if code := d.bearerCode(t, c.ClientID, kept); code != "" {
					t.Errorf("%s: the token never revoked is refused: %s", when, code)
				}
			}
			// Housekeeping with the clock stepped: two resyncs, so that
			// one began after the step.
			housekeep := func() { d.Synced.Wait(t, 2, "two resyncs") }
			before := horizon()

			d.Clock.Step(day)
			housekeep()
			if !stored() {
				t.Fatal("a clock stepped forward purged the revocation from the store")
			}
			if h := horizon(); h.After(before.Add(time.Minute)) {
				t.Errorf("a clock stepped forward moved the horizon from %v to %v", before, h)
			}
			d.Clock.Step(-day)
			refused("clock stepped back")

			// A fresh process has no monotonic history: started while the
			// clock is a day ahead, it must not trust it either.
			d.Clock.Step(day)
			d.Restart()
			housekeep()
			d.Clock.Step(-day)
			refused("restarted while the clock was ahead")
			d.Restart()
			refused("restarted after the clock came back")
			if !stored() {
				t.Fatal("the revocation is gone from the store")
			}

			// Time passing, unlike a step, lets the revocation go once the
			// token is past its exp, leeway and margin.
			d.Clock.Advance(3 * time.Hour)
			housekeep()
			if stored() {
				t.Error("the revocation of a token expired hours ago is kept")
			}
			if code := d.bearerCode(t, c.ClientID, revoked); code != gatehouse.CodeTokenExpired {
				t.Errorf("the revoked token, expired: %q, want %s", code, gatehouse.CodeTokenExpired)
			}
		})
	}
}

// A clock stepped back before the activation of the only signing key
// leaves the data center no key to sign with: the token endpoint answers
// 503 temporarily_unavailable with the time until the key is active as
// Retry-After (capped), logs the cause once with the key's id, and signs
// again once the key is active. Everything else stays sane meanwhile: the
// key is published, a token is judged by its claims (cached or not), keys
// list and rotate, and a restart in that state starts.
func TestTokenEndpointWithoutAnActiveKey(t *testing.T) {
	d := newDC(t, testdc.Options{ClockStart: time.Now().Truncate(time.Second)})
	admin := d.AdminToken()
	kid := kidOf(t, admin)
	const cause = "no signing key is active yet"
	wantUnavailable := func(when, retryAfter string) {
		t.Helper()
		r := d.PostForm("/bc/idp/token", url.Values{"grant_type": {"client_credentials"}}, testkit.Basic(d.Admin.ID, d.Admin.Secret))
		var e api.OAuthError
		r.JSON(t, &e)
		if r.Status != 503 || e.Error != "temporarily_unavailable" || r.Header.Get("Retry-After") != retryAfter ||
			r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: token request answered %d, Retry-After %q, %s; want 503 temporarily_unavailable, Retry-After %s",
				when, r.Status, r.Header.Get("Retry-After"), r.Body, retryAfter)
		}
	}
	causes := func() int { return strings.Count(d.Logs.String(), cause) }

	// 10 s back: the admin's token, issued within the leeway of the clock,
	// still works.
	d.Clock.Step(-10 * time.Second)
	wantUnavailable("10 s before the key's activation", "10")
	wantUnavailable("asked again", "10")
	if n := causes(); n != 1 {
		t.Errorf("the cause is logged %d times, want once", n)
	}
	if logs := d.Logs.String(); !strings.Contains(logs, "kid="+kid) || strings.Contains(logs, d.Admin.Secret) {
		t.Errorf("the log names the key %s: %v; and holds no secret", kid, strings.Contains(logs, "kid="+kid))
	}
	if kids := d.jwksKids(); !kids[kid] {
		t.Errorf("JWKS = %v, want the key that is not active yet", kids)
	}
	var keys api.KeyList
	d.Call("GET", "/api/2/keys", admin, nil).JSON(t, &keys)
	if len(keys.Items) != 1 || keys.Items[0].State != "next" {
		t.Errorf("keys = %+v, want the one key, next", keys.Items)
	}
	r := d.Call("POST", "/api/2/keys/rotate", admin, nil)
	if r.Status != 201 {
		t.Fatalf("rotating keys: %d %s", r.Status, r.Body)
	}
	wantUnavailable("rotated, the new key later still", "10")

	d.Clock.Advance(10 * time.Second)
	if got := kidOf(t, d.Token(d.Admin).AccessToken); got != kid {
		t.Errorf("once active, tokens are signed by %s, want %s", got, kid)
	}
	if !strings.Contains(d.Logs.String(), "a signing key is active again") {
		t.Error("the recovery is not logged")
	}

	// A day back: Retry-After is capped, and tokens issued "tomorrow" are
	// not valid yet, whether or not they were verified before.
	used, unused := d.AdminToken(), d.AdminToken()
	if code := d.bearerCode(t, d.Admin.ID, used); code != "" {
		t.Fatalf("a fresh token: %s", code)
	}
	d.Clock.Step(-24 * time.Hour)
	wantUnavailable("a day before the key's activation", "60")
	if n := causes(); n != 2 {
		t.Errorf("a second time without a key: the cause is logged %d times in all, want 2", n)
	}
	for name, tok := range map[string]string{"verified before": used, "never verified": unused} {
		if code := d.bearerCode(t, d.Admin.ID, tok); code != gatehouse.CodeTokenInvalid {
			t.Errorf("a token issued after the clock's time, %s: %q, want %s", name, code, gatehouse.CodeTokenInvalid)
		}
	}

	d.Restart()
	wantUnavailable("restarted a day before the key's activation", "60")
	if kids := d.jwksKids(); !kids[kid] {
		t.Errorf("JWKS after the restart = %v, want the key", kids)
	}
}
