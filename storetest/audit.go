package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// auditEntry returns the n-th entry of a test: every field set and distinct
// from the other entries', the time in a zone other than UTC and not on a
// whole second, so that a store that swaps, drops or rounds a field is
// caught.
func auditEntry(n int, tenantID, action, target string) gatehouse.AuditEntry {
	return gatehouse.AuditEntry{
		Time:     at(time.Duration(n)*time.Minute + time.Duration(n)*time.Microsecond),
		TenantID: tenantID,
		ActorID:  fmt.Sprintf("actor-%d", n),
		SourceIP: fmt.Sprintf("2001:db8::%x", n+1),
		Action:   action,
		Target:   target,
		Outcome:  gatehouse.OutcomeSuccess,
	}
}

func mustListAudit(t *testing.T, s gatehouse.Store, f gatehouse.AuditFilter) []gatehouse.AuditEntry {
	t.Helper()
	es, err := s.ListAudit(t.Context(), f)
	if err != nil {
		t.Fatalf("ListAudit(%+v): %v", f, err)
	}
	return es
}

func mustAppendAudit(t *testing.T, s gatehouse.Store, e gatehouse.AuditEntry) {
	t.Helper()
	if err := s.AppendAudit(t.Context(), e); err != nil {
		t.Fatalf("AppendAudit(%s %.40q): %v", e.Action, e.Target, err)
	}
}

// sameAudit fails t unless got holds want's fields, Seq aside (the store
// assigns it; checkSeqs looks at it): the time equal as an instant and in
// UTC.
func sameAudit(t *testing.T, what string, got, want gatehouse.AuditEntry) {
	t.Helper()
	var d []string
	str := func(field, g, w string) {
		if g != w {
			d = append(d, fmt.Sprintf("%s = %q, want %q", field, g, w))
		}
	}
	str("TenantID", got.TenantID, want.TenantID)
	str("ActorID", got.ActorID, want.ActorID)
	str("SourceIP", got.SourceIP, want.SourceIP)
	str("Action", got.Action, want.Action)
	str("Target", got.Target, want.Target)
	str("Outcome", got.Outcome, want.Outcome)
	d = append(d, timeDiff("Time", got.Time, want.Time)...)
	if len(d) > 0 {
		t.Errorf("%s: audit entry %s %s differs:\n\t%s", what, want.Action, want.Target, strings.Join(d, "\n\t"))
	}
}

// sameAuditList fails t unless got holds want's entries in want's order
// (newest first), with Seq positive and strictly decreasing.
func sameAuditList(t *testing.T, what string, got, want []gatehouse.AuditEntry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d entries %s, want %d %s", what, len(got), auditNames(got), len(want), auditNames(want))
	}
	for i := range want {
		sameAudit(t, fmt.Sprintf("%s, entry %d", what, i), got[i], want[i])
	}
	checkSeqs(t, what, got)
}

func checkSeqs(t *testing.T, what string, es []gatehouse.AuditEntry) {
	t.Helper()
	for i, e := range es {
		if e.Seq <= 0 {
			t.Errorf("%s: entry %d (%s %s) has Seq %d, want a positive one", what, i, e.Action, e.Target, e.Seq)
		}
		if i > 0 && e.Seq >= es[i-1].Seq {
			t.Errorf("%s: entry %d has Seq %d after Seq %d; want newest (highest) first", what, i, e.Seq, es[i-1].Seq)
		}
	}
}

func auditNames(es []gatehouse.AuditEntry) string {
	names := make([]string, len(es))
	for i, e := range es {
		names[i] = e.Action + " " + e.Target
	}
	return fmt.Sprintf("%q", names)
}

func reversed[T any](s []T) []T {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

// childTenant creates a tenant below root.
func childTenant(t *testing.T, s gatehouse.Store, parentID, id string) gatehouse.Tenant {
	t.Helper()
	c := gatehouse.Tenant{ID: id, ParentID: parentID, Name: "Tenant " + id, Kind: "customer",
		Enabled: true, Version: 1, CreatedAt: at(0), UpdatedAt: at(0)}
	if err := s.CreateTenant(t.Context(), c, gatehouse.NoAudit); err != nil {
		t.Fatalf("CreateTenant(%q): %v", id, err)
	}
	return c
}

func testKey(id string, created, active time.Duration) gatehouse.SigningKey {
	return gatehouse.SigningKey{ID: id, Algorithm: "RS256", PrivateKey: keyBytes(id),
		CreatedAt: at(created), ActiveAt: at(active)}
}

var auditTests = []test{
	{"Audit/EachChangeRecordsItsEntry", func(t *testing.T, s gatehouse.Store) {
		// The entry goes to the log of the tenant it names, which need not
		// be the tenant of what the change is about: a root admin acting
		// on a client of a child tenant is in the root's log.
		root, _ := bootstrap(t, s)
		child := childTenant(t, s, root.ID, "child")
		c := newClient(child.ID, "audited")
		revocation := gatehouse.Revocation{TokenID: "jti-1", ClientID: c.ID, ExpiresAt: at(time.Hour), RevokedAt: at(0)}
		steps := []struct {
			action, target string
			change         func(ctx context.Context, a gatehouse.AuditEntry) error
			check          func(t *testing.T)
		}{
			{"client.create", c.ID,
				func(ctx context.Context, a gatehouse.AuditEntry) error { return s.CreateClient(ctx, c, a) },
				func(t *testing.T) { mustGet(t, s, c.ID) }},
			{"client.disable", c.ID,
				func(ctx context.Context, a gatehouse.AuditEntry) error {
					_, err := s.UpdateClient(ctx, c.ID, func(cur gatehouse.Client) (gatehouse.Client, error) {
						cur.Status = gatehouse.StatusDisabled
						return cur, nil
					}, a)
					return err
				},
				func(t *testing.T) {
					if got := mustGet(t, s, c.ID).Status; got != gatehouse.StatusDisabled {
						t.Errorf("Status after the update = %q", got)
					}
				}},
			{"token.revoke", revocation.TokenID,
				func(ctx context.Context, a gatehouse.AuditEntry) error { return s.RevokeToken(ctx, revocation, a) },
				nil},
			// Revoking again changes nothing, yet the request was made
			// and honored: it is in the log too.
			{"token.revoke", revocation.TokenID,
				func(ctx context.Context, a gatehouse.AuditEntry) error { return s.RevokeToken(ctx, revocation, a) },
				nil},
			{"key.add", "k-1",
				func(ctx context.Context, a gatehouse.AuditEntry) error {
					return s.UpdateSigningKeys(ctx, AddKeys(testKey("k-1", 0, 0)), a)
				},
				nil},
			{"key.rotate", "k-2",
				func(ctx context.Context, a gatehouse.AuditEntry) error {
					return s.UpdateSigningKeys(ctx, Rotating(testKey("k-2", time.Hour, 2*time.Hour), at(50*time.Hour), at(0)), a)
				},
				func(t *testing.T) {
					if keys, err := s.SigningKeys(t.Context()); err != nil || len(keys) != 2 {
						t.Errorf("SigningKeys after the rotation = %d keys, %v; want 2", len(keys), err)
					}
				}},
			{"client.delete", c.ID,
				func(ctx context.Context, a gatehouse.AuditEntry) error { return s.DeleteClient(ctx, c.ID, a) },
				func(t *testing.T) { wantNotFound(t, s, c.ID) }},
		}
		var want []gatehouse.AuditEntry // newest first
		for i, step := range steps {
			e := auditEntry(i, root.ID, step.action, step.target)
			if err := step.change(t.Context(), e); err != nil {
				t.Fatalf("step %d, %s: %v", i, step.action, err)
			}
			if step.check != nil {
				step.check(t)
			}
			want = append([]gatehouse.AuditEntry{e}, want...)
			sameAuditList(t, fmt.Sprintf("ListAudit after step %d, %s", i, step.action),
				mustListAudit(t, s, gatehouse.AuditFilter{TenantID: root.ID}), want)
		}
		if got := mustListAudit(t, s, gatehouse.AuditFilter{TenantID: child.ID}); len(got) != 0 {
			t.Errorf("the child tenant's log holds %s; the entries named the root", auditNames(got))
		}
	}},

	{"Audit/NothingRecordedWithoutAnEntry", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		ctx := t.Context()
		c := newClient(root.ID, "quiet")
		r := gatehouse.Revocation{TokenID: "jti-q", ClientID: c.ID, ExpiresAt: at(time.Hour), RevokedAt: at(0)}
		changes := []struct {
			name   string
			change func() error
		}{
			{"CreateClient", func() error { return s.CreateClient(ctx, c, gatehouse.NoAudit) }},
			{"UpdateClient", func() error {
				_, err := s.UpdateClient(ctx, c.ID, func(cur gatehouse.Client) (gatehouse.Client, error) {
					cur.Generation++
					return cur, nil
				}, gatehouse.NoAudit)
				return err
			}},
			{"RevokeToken", func() error { return s.RevokeToken(ctx, r, gatehouse.NoAudit) }},
			{"RevokeToken again", func() error { return s.RevokeToken(ctx, r, gatehouse.NoAudit) }},
			{"UpdateSigningKeys/Add", func() error { return s.UpdateSigningKeys(ctx, AddKeys(testKey("k-1", 0, 0)), gatehouse.NoAudit) }},
			{"UpdateSigningKeys/Rotate", func() error {
				return s.UpdateSigningKeys(ctx, Rotating(testKey("k-2", time.Hour, 2*time.Hour), at(50*time.Hour), time.Time{}), gatehouse.NoAudit)
			}},
			{"DeleteClient", func() error { return s.DeleteClient(ctx, c.ID, gatehouse.NoAudit) }},
		}
		for _, ch := range changes {
			if err := ch.change(); err != nil {
				t.Fatalf("%s without an audit entry: %v", ch.name, err)
			}
		}
		if got := mustListAudit(t, s, gatehouse.AuditFilter{TenantID: root.ID}); len(got) != 0 {
			t.Errorf("changes made without an audit entry recorded %s", auditNames(got))
		}
		// The log works: an entry appended now is the only one.
		e := auditEntry(1, root.ID, "client.create", "denied-one")
		e.Outcome = gatehouse.OutcomeDenied
		mustAppendAudit(t, s, e)
		sameAuditList(t, "ListAudit after AppendAudit", mustListAudit(t, s, gatehouse.AuditFilter{TenantID: root.ID}),
			[]gatehouse.AuditEntry{e})
	}},

	{"Audit/FailedChangeRecordsNothing", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		ctx := t.Context()
		existing := newClient(root.ID, "existing")
		mustCreate(t, s, existing)
		gone := newClient(root.ID, "gone")
		mustCreate(t, s, gone)
		if err := s.DeleteClient(ctx, gone.ID, gatehouse.NoAudit); err != nil {
			t.Fatal(err)
		}
		k1 := testKey("k-1", time.Hour, time.Hour)
		if err := s.UpdateSigningKeys(ctx, AddKeys(k1), gatehouse.NoAudit); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name    string
			change  func(ctx context.Context, a gatehouse.AuditEntry) error
			wantErr error // nil: any error
		}{
			{"CreateClient/TakenID", func(ctx context.Context, a gatehouse.AuditEntry) error {
				dup := newClient(root.ID, existing.ID)
				dup.Generation = 42
				return s.CreateClient(ctx, dup, a)
			}, gatehouse.ErrConflict},
			{"CreateClient/DeletedID", func(ctx context.Context, a gatehouse.AuditEntry) error {
				return s.CreateClient(ctx, newClient(root.ID, gone.ID), a)
			}, gatehouse.ErrConflict},
			{"CreateClient/UnknownTenant", func(ctx context.Context, a gatehouse.AuditEntry) error {
				return s.CreateClient(ctx, newClient("no-such-tenant", "orphan"), a)
			}, gatehouse.ErrConflict},
			{"UpdateClient/UnknownID", func(ctx context.Context, a gatehouse.AuditEntry) error {
				_, err := s.UpdateClient(ctx, "no-such-client", func(cur gatehouse.Client) (gatehouse.Client, error) {
					return cur, nil
				}, a)
				return err
			}, gatehouse.ErrNotFound},
			{"UpdateClient/FnError", func(ctx context.Context, a gatehouse.AuditEntry) error {
				_, err := s.UpdateClient(ctx, existing.ID, func(cur gatehouse.Client) (gatehouse.Client, error) {
					cur.Status = gatehouse.StatusDisabled
					return cur, fmt.Errorf("refused: %w", errFromFn)
				}, a)
				return err
			}, errFromFn},
			{"DeleteClient/UnknownID", func(ctx context.Context, a gatehouse.AuditEntry) error {
				return s.DeleteClient(ctx, "no-such-client", a)
			}, gatehouse.ErrNotFound},
			{"DeleteClient/DeletedID", func(ctx context.Context, a gatehouse.AuditEntry) error {
				return s.DeleteClient(ctx, gone.ID, a)
			}, gatehouse.ErrNotFound},
			{"RevokeToken/NoTokenID", func(ctx context.Context, a gatehouse.AuditEntry) error {
				return s.RevokeToken(ctx, gatehouse.Revocation{ClientID: existing.ID, ExpiresAt: at(time.Hour)}, a)
			}, gatehouse.ErrInvalid},
			{"UpdateSigningKeys/Add/TakenKid", func(ctx context.Context, a gatehouse.AuditEntry) error {
				return s.UpdateSigningKeys(ctx, AddKeys(testKey(k1.ID, 2*time.Hour, 2*time.Hour)), a)
			}, gatehouse.ErrConflict},
			{"UpdateSigningKeys/Rotate/TakenKid", func(ctx context.Context, a gatehouse.AuditEntry) error {
				return s.UpdateSigningKeys(ctx, Rotating(testKey(k1.ID, 2*time.Hour, 3*time.Hour), at(10*time.Hour), time.Time{}), a)
			}, gatehouse.ErrConflict},
			{"UpdateSigningKeys/Rotate/RotatedAlready", func(ctx context.Context, a gatehouse.AuditEntry) error {
				return s.UpdateSigningKeys(ctx, Rotating(testKey("k-2", 2*time.Hour, 3*time.Hour), at(10*time.Hour), at(0)), a)
			}, gatehouse.ErrConflict},
			{"UpdateSigningKeys/Rotate/NoPrivateKey", func(ctx context.Context, a gatehouse.AuditEntry) error {
				k := testKey("k-3", 2*time.Hour, 3*time.Hour)
				k.PrivateKey = nil
				return s.UpdateSigningKeys(ctx, Rotating(k, at(10*time.Hour), time.Time{}), a)
			}, gatehouse.ErrInvalid},
		}
		for i, tc := range cases {
			e := auditEntry(i, root.ID, "failed", tc.name)
			err := tc.change(t.Context(), e)
			switch {
			case err == nil:
				t.Errorf("%s succeeded, want an error", tc.name)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Errorf("%s: error = %v, want %v", tc.name, err, tc.wantErr)
			}
			if got := mustListAudit(t, s, gatehouse.AuditFilter{TenantID: root.ID}); len(got) != 0 {
				t.Fatalf("after the failed %s, the log holds %s; want nothing", tc.name, auditNames(got))
			}
		}
		// And the failed changes changed nothing.
		sameClient(t, "existing client", mustGet(t, s, existing.ID), existing)
		wantNotFound(t, s, gone.ID)
		wantNotFound(t, s, "orphan")
		keys, err := s.SigningKeys(ctx)
		if err != nil || len(keys) != 1 {
			t.Fatalf("SigningKeys = %d keys, %v; want only k-1", len(keys), err)
		}
		sameKey(t, "k-1 after the failed changes", keys[0], k1)
	}},

	{"Audit/EntryWithoutTenantIsRefused", func(t *testing.T, s gatehouse.Store) {
		// ListAudit reads one tenant's log, so an entry without a tenant
		// could never be read: storing it would lose the record. The
		// change it came with must not happen either.
		root, _ := bootstrap(t, s)
		e := auditEntry(0, "", "client.create", "no-tenant")
		if err := s.AppendAudit(t.Context(), e); !errors.Is(err, gatehouse.ErrInvalid) {
			t.Errorf("AppendAudit without a tenant: error = %v, want ErrInvalid", err)
		}
		if err := s.CreateClient(t.Context(), newClient(root.ID, "no-tenant"), e); !errors.Is(err, gatehouse.ErrInvalid) {
			t.Errorf("CreateClient with an audit entry without a tenant: error = %v, want ErrInvalid", err)
		}
		wantNotFound(t, s, "no-tenant")
		err := s.UpdateSigningKeys(t.Context(), Rotating(testKey("k-1", 0, 0), at(time.Hour), time.Time{}), e)
		if !errors.Is(err, gatehouse.ErrInvalid) {
			t.Errorf("UpdateSigningKeys with an audit entry without a tenant: error = %v, want ErrInvalid", err)
		}
		if keys, err := s.SigningKeys(t.Context()); err != nil || len(keys) != 0 {
			t.Errorf("SigningKeys = %d keys, %v; want none", len(keys), err)
		}
	}},

	{"AppendAudit/RoundTrip", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		denied := auditEntry(1, root.ID, "client.delete", "someone-else")
		denied.Outcome = gatehouse.OutcomeDenied
		// What the server does by itself has no source address and may
		// have no target.
		system := auditEntry(2, root.ID, "key.rotate", "")
		system.ActorID, system.SourceIP = "gatehouse", ""
		odd := auditEntry(3, root.ID, "client.update", "ünïcødé 客户端 'quoted' \"double\" ; --")
		odd.SourceIP = "192.0.2.7"
		for _, e := range []gatehouse.AuditEntry{denied, system, odd} {
			if err := s.AppendAudit(t.Context(), e); err != nil {
				t.Fatalf("AppendAudit(%s): %v", e.Action, err)
			}
		}
		sameAuditList(t, "ListAudit", mustListAudit(t, s, gatehouse.AuditFilter{TenantID: root.ID}),
			[]gatehouse.AuditEntry{odd, system, denied})
	}},

	{"AppendAudit/HostileTextIsRecorded", func(t *testing.T, s gatehouse.Store) {
		// Refused requests are logged with what they named, which an
		// attacker chooses: a store must record such an entry, not fail
		// on it. A store whose text columns cannot hold every byte, or
		// whose index cannot hold a long target, may replace or cut what
		// does not fit, as long as the Target filter still finds the
		// entry.
		root, _ := bootstrap(t, s)
		// 10 KiB that do not compress, so a store cannot fit them into an
		// index by compressing them.
		var noise strings.Builder
		for sum := sha256.Sum256(nil); noise.Len() < 10<<10; sum = sha256.Sum256(sum[:]) {
			noise.WriteString(hex.EncodeToString(sum[:]))
		}
		hostile := "../\x00\xff\xfe'; DROP TABLE audit; --\r\n" + noise.String()
		e := auditEntry(0, root.ID, "client.get", hostile)
		e.Outcome = gatehouse.OutcomeDenied
		e.ActorID = "actor\r\nforged: line"
		mustAppendAudit(t, s, e)
		got := mustListAudit(t, s, gatehouse.AuditFilter{TenantID: root.ID, Target: hostile})
		if len(got) != 1 {
			t.Fatalf("ListAudit(Target: hostile) = %d entries, want 1", len(got))
		}
		if got[0].TenantID != root.ID || got[0].Action != e.Action || got[0].Outcome != e.Outcome ||
			got[0].SourceIP != e.SourceIP || !got[0].Time.Equal(e.Time) || got[0].ActorID != e.ActorID {
			t.Errorf("hostile entry came back as %+v", got[0])
		}
		if !strings.HasPrefix(got[0].Target, "../") {
			t.Errorf("hostile Target came back as %.40q...", got[0].Target)
		}
	}},

	{"ListAudit/NewestFirst", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		// Times run backwards, so a store ordering by time instead of
		// Seq is caught.
		var appended []gatehouse.AuditEntry
		for i := range 6 {
			e := auditEntry(i, root.ID, "client.update", fmt.Sprintf("c-%d", i))
			e.Time = at(time.Duration(-i) * time.Hour)
			mustAppendAudit(t, s, e)
			appended = append(appended, e)
		}
		sameAuditList(t, "ListAudit", mustListAudit(t, s, gatehouse.AuditFilter{TenantID: root.ID}), reversed(appended))
	}},

	{"ListAudit/SeparatesTenants", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		other := childTenant(t, s, root.ID, "other")
		// Interleaved, so a store that pages across tenants and filters
		// afterwards returns short or wrong pages.
		var mine, theirs []gatehouse.AuditEntry
		for i := range 10 {
			if i%2 == 0 {
				e := auditEntry(i, root.ID, "client.create", fmt.Sprintf("c-%d", i))
				mustAppendAudit(t, s, e)
				mine = append(mine, e)
			} else {
				e := auditEntry(i, other.ID, "client.create", fmt.Sprintf("c-%d", i))
				mustAppendAudit(t, s, e)
				theirs = append(theirs, e)
			}
		}
		for _, w := range []struct {
			tenant string
			want   []gatehouse.AuditEntry
		}{{root.ID, reversed(mine)}, {other.ID, reversed(theirs)}} {
			sameAuditList(t, "ListAudit("+w.tenant+")", mustListAudit(t, s, gatehouse.AuditFilter{TenantID: w.tenant}), w.want)
			sameAuditList(t, "ListAudit("+w.tenant+", Limit 2)",
				mustListAudit(t, s, gatehouse.AuditFilter{TenantID: w.tenant, Limit: 2}), w.want[:2])
			// The target of an entry in the other tenant finds nothing here.
			theirTarget := theirs[0].Target
			if w.tenant == other.ID {
				theirTarget = mine[0].Target
			}
			if got := mustListAudit(t, s, gatehouse.AuditFilter{TenantID: w.tenant, Target: theirTarget}); len(got) != 0 {
				t.Errorf("ListAudit(%q, Target %q) = %s, want nothing", w.tenant, theirTarget, auditNames(got))
			}
		}
		if got := mustListAudit(t, s, gatehouse.AuditFilter{TenantID: "no-such-tenant"}); len(got) != 0 {
			t.Errorf("ListAudit(unknown tenant) = %s, want nothing", auditNames(got))
		}
	}},

	{"ListAudit/TargetFilter", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		// Near misses of "x" around the real ones: a prefix, a case
		// variant, a longer id.
		targets := []string{"x", "X", "x", "xx", "", "x", "y", "x ", "x"}
		var all, xs []gatehouse.AuditEntry
		for i, target := range targets {
			e := auditEntry(i, root.ID, "client.update", target)
			mustAppendAudit(t, s, e)
			all = append(all, e)
			if target == "x" {
				xs = append(xs, e)
			}
		}
		all, xs = reversed(all), reversed(xs)
		sameAuditList(t, "ListAudit(Target x)", mustListAudit(t, s, gatehouse.AuditFilter{TenantID: root.ID, Target: "x"}), xs)
		// An empty Target is no filter.
		sameAuditList(t, "ListAudit(no Target)", mustListAudit(t, s, gatehouse.AuditFilter{TenantID: root.ID}), all)
		// Paging within the filter.
		page1 := mustListAudit(t, s, gatehouse.AuditFilter{TenantID: root.ID, Target: "x", Limit: 3})
		sameAuditList(t, "ListAudit(Target x, Limit 3)", page1, xs[:3])
		if len(page1) == 3 {
			page2 := mustListAudit(t, s, gatehouse.AuditFilter{TenantID: root.ID, Target: "x", Limit: 3, Before: page1[2].Seq})
			sameAuditList(t, "ListAudit(Target x, Limit 3, second page)", page2, xs[3:])
		}
		if got := mustListAudit(t, s, gatehouse.AuditFilter{TenantID: root.ID, Target: "z"}); len(got) != 0 {
			t.Errorf("ListAudit(Target z) = %s, want nothing", auditNames(got))
		}
	}},

	{"ListAudit/PagesWithBeforeAndLimit", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		var appended []gatehouse.AuditEntry
		for i := range 23 {
			e := auditEntry(i, root.ID, "client.create", fmt.Sprintf("p-%02d", i))
			mustAppendAudit(t, s, e)
			appended = append(appended, e)
		}
		all := reversed(appended)

		var walked []gatehouse.AuditEntry
		var sizes []int
		before := int64(0)
		for range len(all) + 2 {
			page := mustListAudit(t, s, gatehouse.AuditFilter{TenantID: root.ID, Before: before, Limit: 5})
			sizes = append(sizes, len(page))
			if len(page) == 0 {
				break
			}
			walked = append(walked, page...)
			before = page[len(page)-1].Seq
		}
		if want := []int{5, 5, 5, 5, 3, 0}; !slices.Equal(sizes, want) {
			t.Errorf("page sizes = %v, want %v", sizes, want)
		}
		sameAuditList(t, "paging by 5", walked, all)
		if len(walked) != len(all) {
			return
		}

		// Before is exclusive, and a cursor above every Seq is the first
		// page.
		for _, i := range []int{0, 7, 21, 22} {
			got := mustListAudit(t, s, gatehouse.AuditFilter{TenantID: root.ID, Before: walked[i].Seq, Limit: 3})
			sameAuditList(t, fmt.Sprintf("ListAudit(Before the Seq of entry %d, Limit 3)", i), got, all[i+1:min(i+4, len(all))])
		}
		got := mustListAudit(t, s, gatehouse.AuditFilter{TenantID: root.ID, Before: walked[0].Seq + 1000, Limit: 2})
		sameAuditList(t, "ListAudit(Before above every Seq)", got, all[:2])
	}},

	{"ListAudit/DefaultAndMaximumLimit", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		var appended []gatehouse.AuditEntry
		for i := range gatehouse.MaxPageSize + 5 {
			e := auditEntry(i, root.ID, "client.create", fmt.Sprintf("m-%04d", i))
			mustAppendAudit(t, s, e)
			appended = append(appended, e)
		}
		all := reversed(appended)
		targets := func(es []gatehouse.AuditEntry) []string {
			out := make([]string, len(es))
			for i, e := range es {
				out[i] = e.Target
			}
			return out
		}
		for _, tc := range []struct {
			limit, want int
		}{
			{0, gatehouse.DefaultPageSize},
			{-1, gatehouse.DefaultPageSize},
			{1, 1},
			{gatehouse.MaxPageSize, gatehouse.MaxPageSize},
			{gatehouse.MaxListRows, gatehouse.MaxListRows},
			{gatehouse.MaxListRows + 1, gatehouse.MaxListRows},
			{1 << 30, gatehouse.MaxListRows},
		} {
			got := mustListAudit(t, s, gatehouse.AuditFilter{TenantID: root.ID, Limit: tc.limit})
			if !slices.Equal(targets(got), targets(all[:tc.want])) {
				t.Errorf("ListAudit(Limit %d) returned %d entries (first %q), want the newest %d",
					tc.limit, len(got), targets(got[:min(1, len(got))]), tc.want)
			}
		}
		// The default applies below a cursor as well.
		first := mustListAudit(t, s, gatehouse.AuditFilter{TenantID: root.ID, Limit: 3})
		if len(first) != 3 {
			t.Fatalf("ListAudit(Limit 3) = %d entries", len(first))
		}
		got := mustListAudit(t, s, gatehouse.AuditFilter{TenantID: root.ID, Before: first[2].Seq})
		if want := all[3 : 3+gatehouse.DefaultPageSize]; !slices.Equal(targets(got), targets(want)) {
			t.Errorf("ListAudit(Before, Limit 0) returned %d entries, want %d starting at %q", len(got), len(want), want[0].Target)
		}
	}},

	{"ListAudit/InvalidFilters", func(t *testing.T, s gatehouse.Store) {
		// An empty filter must not fall through to "every tenant", and a
		// negative cursor is a broken one, not a first page.
		root, _ := bootstrap(t, s)
		mustAppendAudit(t, s, auditEntry(0, root.ID, "client.create", "c"))
		for _, f := range []gatehouse.AuditFilter{
			{},
			{Target: "c"},
			{TenantID: root.ID, Before: -1},
		} {
			if got, err := s.ListAudit(t.Context(), f); !errors.Is(err, gatehouse.ErrInvalid) {
				t.Errorf("ListAudit(%+v) = %s, %v; want ErrInvalid", f, auditNames(got), err)
			}
		}
	}},
}

// RunAuditAtomicity checks that a change and its audit entry are stored
// together or not at all, from the side the conformance suite cannot reach
// by itself: the audit entry failing to be stored. breakAudit must make
// every later attempt to store an audit entry in s fail (a trigger that
// raises, say), leaving everything else working; then each of the
// changes that record their context's entry must fail and change nothing.
func RunAuditAtomicity(t *testing.T, newStore func(t *testing.T) gatehouse.Store, breakAudit func(t *testing.T, s gatehouse.Store)) {
	t.Helper()
	victim := newClient(rootID, "victim")
	old := gatehouse.Revocation{TokenID: "jti-old", ClientID: victim.ID, ExpiresAt: at(time.Hour), RevokedAt: at(0)}
	k1 := testKey("k-1", 0, 0)
	// setup gives s a root, a client, a revocation and a key, none of them
	// audited, then breaks the audit log.
	setup := func(t *testing.T, s gatehouse.Store) {
		t.Helper()
		bootstrap(t, s)
		mustCreate(t, s, victim)
		if err := s.RevokeToken(t.Context(), old, gatehouse.NoAudit); err != nil {
			t.Fatal(err)
		}
		if err := s.UpdateSigningKeys(t.Context(), AddKeys(k1), gatehouse.NoAudit); err != nil {
			t.Fatal(err)
		}
		breakAudit(t, s)
	}
	revoked := func(t *testing.T, s gatehouse.Store) []string {
		t.Helper()
		rs, err := s.Revocations(t.Context(), at(0))
		if err != nil {
			t.Fatal(err)
		}
		var jtis []string
		for _, r := range rs {
			jtis = append(jtis, r.TokenID)
		}
		return jtis
	}
	cases := []struct {
		name   string
		change func(ctx context.Context, a gatehouse.AuditEntry, s gatehouse.Store) error
		// unchanged fails t unless the change left no trace.
		unchanged func(t *testing.T, s gatehouse.Store)
	}{
		{"CreateClient", func(ctx context.Context, a gatehouse.AuditEntry, s gatehouse.Store) error {
			return s.CreateClient(ctx, newClient(rootID, "new"), a)
		}, func(t *testing.T, s gatehouse.Store) {
			wantNotFound(t, s, "new")
			// Nor was the id used up: a store that keeps ids of deleted
			// clients from coming back must not count this one.
			mustCreate(t, s, newClient(rootID, "new"))
		}},
		{"UpdateClient", func(ctx context.Context, a gatehouse.AuditEntry, s gatehouse.Store) error {
			_, err := s.UpdateClient(ctx, victim.ID, func(cur gatehouse.Client) (gatehouse.Client, error) {
				cur.Status = gatehouse.StatusDisabled
				cur.Generation++
				return cur, nil
			}, a)
			return err
		}, func(t *testing.T, s gatehouse.Store) {
			sameClient(t, "victim", mustGet(t, s, victim.ID), victim)
		}},
		{"DeleteClient", func(ctx context.Context, a gatehouse.AuditEntry, s gatehouse.Store) error {
			return s.DeleteClient(ctx, victim.ID, a)
		}, func(t *testing.T, s gatehouse.Store) {
			sameClient(t, "victim", mustGet(t, s, victim.ID), victim)
		}},
		{"RevokeToken", func(ctx context.Context, a gatehouse.AuditEntry, s gatehouse.Store) error {
			return s.RevokeToken(ctx, gatehouse.Revocation{TokenID: "jti-new", ClientID: victim.ID, ExpiresAt: at(time.Hour), RevokedAt: at(0)}, a)
		}, func(t *testing.T, s gatehouse.Store) {
			if got := revoked(t, s); !slices.Equal(got, []string{old.TokenID}) {
				t.Errorf("revocations = %q, want only %q", got, old.TokenID)
			}
		}},
		// A repeated revocation records its entry too, so it must fail
		// when it cannot.
		{"RevokeToken/Again", func(ctx context.Context, a gatehouse.AuditEntry, s gatehouse.Store) error {
			return s.RevokeToken(ctx, old, a)
		}, func(t *testing.T, s gatehouse.Store) {
			if got := revoked(t, s); !slices.Equal(got, []string{old.TokenID}) {
				t.Errorf("revocations = %q, want only %q", got, old.TokenID)
			}
		}},
		{"UpdateSigningKeys/Add", func(ctx context.Context, a gatehouse.AuditEntry, s gatehouse.Store) error {
			return s.UpdateSigningKeys(ctx, AddKeys(testKey("k-2", time.Hour, time.Hour)), a)
		}, func(t *testing.T, s gatehouse.Store) {
			keys, err := s.SigningKeys(t.Context())
			if err != nil || len(keys) != 1 {
				t.Fatalf("SigningKeys = %d keys, %v; want only k-1", len(keys), err)
			}
			sameKey(t, "k-1", keys[0], k1)
		}},
		{"UpdateSigningKeys/Rotate", func(ctx context.Context, a gatehouse.AuditEntry, s gatehouse.Store) error {
			return s.UpdateSigningKeys(ctx, Rotating(testKey("k-2", time.Hour, 2*time.Hour), at(10*time.Hour), at(0)), a)
		}, func(t *testing.T, s gatehouse.Store) {
			keys, err := s.SigningKeys(t.Context())
			if err != nil || len(keys) != 1 {
				t.Fatalf("SigningKeys = %d keys, %v; want only k-1", len(keys), err)
			}
			sameKey(t, "k-1, which the failed rotation must not have retired", keys[0], k1)
		}},
		{"CreateTenant", func(ctx context.Context, a gatehouse.AuditEntry, s gatehouse.Store) error {
			return s.CreateTenant(ctx, gatehouse.Tenant{ID: "new-tenant", ParentID: rootID, Name: "New", Kind: "customer",
				Enabled: true, Version: 1, CreatedAt: at(0), UpdatedAt: at(0)}, a)
		}, func(t *testing.T, s gatehouse.Store) {
			if _, err := s.GetTenant(t.Context(), "new-tenant"); !errors.Is(err, gatehouse.ErrNotFound) {
				t.Errorf("GetTenant(new-tenant) error = %v, want ErrNotFound", err)
			}
		}},
		{"UpdateTenant", func(ctx context.Context, a gatehouse.AuditEntry, s gatehouse.Store) error {
			_, err := s.UpdateTenant(ctx, rootID, func(cur gatehouse.Tenant) (gatehouse.Tenant, error) {
				cur.Enabled = false
				cur.Generation++
				cur.Version++
				return cur, nil
			}, a)
			return err
		}, func(t *testing.T, s gatehouse.Store) {
			got, err := s.GetTenant(t.Context(), rootID)
			if err != nil {
				t.Fatal(err)
			}
			sameTenant(t, "root", got, rootTenant(rootID))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			setup(t, s)
			e := auditEntry(0, rootID, "change", tc.name)
			if err := tc.change(t.Context(), e, s); err == nil {
				t.Errorf("%s succeeded although its audit entry could not be stored", tc.name)
			}
			tc.unchanged(t, s)
		})
	}
}
