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
