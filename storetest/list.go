package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
)

var listTests = []test{
	{"ListClients/OrderedByIDBytewise", func(t *testing.T, s gatehouse.Store) {
		root, admin := bootstrap(t, s)
		// Bytewise order differs from most locale collations here: upper
		// before lower case, punctuation significant, digits not numeric.
		// Paging with After relies on the store and its callers agreeing on
		// the order, and the callers compare Go strings.
		created := []string{"b", "B", "a-b", "ab", "a_b", "a10", "a9", "Z", "~x", "é", "a b"}
		want := map[string]gatehouse.Client{admin.ID: admin}
		for i, id := range created {
			c := newClient(root.ID, id)
			c.Generation = int64(i)
			mustCreate(t, s, c)
			want[id] = c
		}
		got := mustList(t, s, gatehouse.ClientFilter{TenantID: root.ID})
		wantIDs := append([]string{admin.ID}, created...)
		slices.Sort(wantIDs)
		if !slices.Equal(ids(got), wantIDs) {
			t.Fatalf("ListClients = %q, want %q", ids(got), wantIDs)
		}
		for _, c := range got {
			sameClient(t, "ListClients", c, want[c.ID])
		}
	}},

	{"ListClients/UnknownTenantIsEmpty", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		mustCreate(t, s, newClient(root.ID, "c1"))
		if got := mustList(t, s, gatehouse.ClientFilter{TenantID: "no-such-tenant"}); len(got) != 0 {
			t.Errorf("ListClients(unknown tenant) = %q, want none", ids(got))
		}
	}},

	{"ListClients/Text", func(t *testing.T, s gatehouse.Store) {
		root, _ := bootstrap(t, s)
		named := func(id, name string) {
			c := newClient(root.ID, id)
			c.Data = json.RawMessage(fmt.Sprintf(`{"client_name":%q,"other":"Billing"}`, name))
			mustCreate(t, s, c)
		}
		named("c-billing-1", "Nightly Billing")
		named("c-billing-2", "billing export")
		named("c-worker", "Worker")
		named("BILLING-by-id", "nameless")
		named("c-cafe", "Café ÉTÉ")
		named("c-meta", "100% done_now")
		nameless := newClient(root.ID, "c-noname")
		nameless.Data = json.RawMessage(`{}`)
		mustCreate(t, s, nameless)
		for _, tc := range []struct {
			text  string
			after string
			limit int
			want  []string
		}{
			{text: "billing", want: []string{"BILLING-by-id", "c-billing-1", "c-billing-2"}},
			{text: "BiLLinG", want: []string{"BILLING-by-id", "c-billing-1", "c-billing-2"}},
			{text: "billing", after: "BILLING-by-id", limit: 1, want: []string{"c-billing-1"}},
			{text: "worker", want: []string{"c-worker"}},
			{text: "café", want: []string{"c-cafe"}},
			{text: "CAFé", want: []string{"c-cafe"}}, // ASCII letters folded
			{text: "CAFÉ", want: nil},                // but not É
			{text: "été", want: nil},
			{text: "%", want: []string{"c-meta"}},   // no pattern characters
			{text: "e_n", want: []string{"c-meta"}}, // _ is a character, not a wildcard
			{text: "d%n", want: nil},
			{text: "nothing like it", want: nil},
			{text: "c-noname", want: []string{"c-noname"}}, // by id, without a name
		} {
			got := ids(mustList(t, s, gatehouse.ClientFilter{TenantID: root.ID, Text: tc.text, After: tc.after, Limit: tc.limit}))
			if !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Errorf("ListClients(Text %q, After %q, Limit %d) = %q, want %q", tc.text, tc.after, tc.limit, got, tc.want)
			}
		}
	}},

	{"ListClients/TenantIDRequired", func(t *testing.T, s gatehouse.Store) {
		// An empty filter must not fall through to "every tenant".
		root, _ := bootstrap(t, s)
		mustCreate(t, s, newClient(root.ID, "c1"))
		got, err := s.ListClients(t.Context(), gatehouse.ClientFilter{})
		if !errors.Is(err, gatehouse.ErrInvalid) {
			t.Errorf("ListClients(no tenant) = %q, %v; want ErrInvalid", ids(got), err)
		}
	}},

	{"ListClients/SeparatesTenants", func(t *testing.T, s gatehouse.Store) {
		root, admin := bootstrap(t, s)
		other := gatehouse.Tenant{
			ID: "other", ParentID: root.ID, Name: "Other", Kind: "customer",
			Enabled: true, Version: 1, CreatedAt: at(0), UpdatedAt: at(0),
		}
		if err := s.CreateTenant(t.Context(), other, gatehouse.NoAudit); err != nil {
			t.Fatalf("CreateTenant: %v", err)
		}
		// Interleaved IDs, so a store that pages across tenants and filters
		// afterwards returns short or wrong pages.
		var mine, theirs []string
		for i := range 10 {
			id := fmt.Sprintf("c%02d", i)
			if i%2 == 0 {
				mustCreate(t, s, newClient(root.ID, id))
				mine = append(mine, id)
			} else {
				mustCreate(t, s, newClient(other.ID, id))
				theirs = append(theirs, id)
			}
		}
		mine = append(mine, admin.ID)
		slices.Sort(mine)
		for _, w := range []struct {
			tenant string
			want   []string
		}{{root.ID, mine}, {other.ID, theirs}} {
			if got := ids(mustList(t, s, gatehouse.ClientFilter{TenantID: w.tenant})); !slices.Equal(got, w.want) {
				t.Errorf("ListClients(%q) = %q, want %q", w.tenant, got, w.want)
			}
			if got := ids(mustList(t, s, gatehouse.ClientFilter{TenantID: w.tenant, Limit: 2})); !slices.Equal(got, w.want[:2]) {
				t.Errorf("ListClients(%q, Limit 2) = %q, want %q", w.tenant, got, w.want[:2])
			}
		}
	}},

	{"ListClients/PagesWithAfterAndLimit", func(t *testing.T, s gatehouse.Store) {
		root, admin := bootstrap(t, s)
		all := []string{admin.ID}
		// Created in descending order, so insertion order cannot pass for
		// ID order.
		for i := 22; i >= 0; i-- {
			id := fmt.Sprintf("p-%02d", i)
			mustCreate(t, s, newClient(root.ID, id))
			all = append(all, id)
		}
		slices.Sort(all)

		var walked []string
		var sizes []int
		after := ""
		for range len(all) + 2 {
			page := ids(mustList(t, s, gatehouse.ClientFilter{TenantID: root.ID, After: after, Limit: 5}))
			sizes = append(sizes, len(page))
			if len(page) == 0 {
				break
			}
			walked = append(walked, page...)
			after = page[len(page)-1]
		}
		if !slices.Equal(walked, all) {
			t.Errorf("paging by 5 visited %q, want %q", walked, all)
		}
		if want := []int{5, 5, 5, 5, 4, 0}; !slices.Equal(sizes, want) {
			t.Errorf("page sizes = %v, want %v", sizes, want)
		}

		// After is exclusive and need not name an existing client.
		for _, after := range []string{"p-10", "p-10a", "p-", "a"} {
			var want []string
			for _, id := range all {
				if id > after {
					want = append(want, id)
				}
			}
			want = want[:min(3, len(want))]
			got := ids(mustList(t, s, gatehouse.ClientFilter{TenantID: root.ID, After: after, Limit: 3}))
			if !slices.Equal(got, want) {
				t.Errorf("ListClients(After %q, Limit 3) = %q, want %q", after, got, want)
			}
		}
		if got := mustList(t, s, gatehouse.ClientFilter{TenantID: root.ID, After: all[len(all)-1]}); len(got) != 0 {
			t.Errorf("ListClients after the last ID = %q, want none", ids(got))
		}
	}},

	{"ListClients/DefaultAndMaximumLimit", func(t *testing.T, s gatehouse.Store) {
		root, admin := bootstrap(t, s)
		all := []string{admin.ID}
		for i := range gatehouse.MaxPageSize + 5 {
			id := fmt.Sprintf("m-%04d", i)
			mustCreate(t, s, newClient(root.ID, id))
			all = append(all, id)
		}
		slices.Sort(all)
		for _, tc := range []struct {
			limit, want int
		}{
			{0, gatehouse.DefaultPageSize},
			{1, 1},
			{gatehouse.MaxPageSize, gatehouse.MaxPageSize},
			{gatehouse.MaxListRows, gatehouse.MaxListRows},
			{gatehouse.MaxListRows + 1, gatehouse.MaxListRows},
			{1 << 30, gatehouse.MaxListRows},
		} {
			got := ids(mustList(t, s, gatehouse.ClientFilter{TenantID: root.ID, Limit: tc.limit}))
			if !slices.Equal(got, all[:tc.want]) {
				t.Errorf("ListClients(Limit %d) returned %d clients (first %q), want the first %d",
					tc.limit, len(got), got[:min(1, len(got))], tc.want)
			}
		}
		// The default applies after a cursor as well.
		got := ids(mustList(t, s, gatehouse.ClientFilter{TenantID: root.ID, After: all[len(all)-gatehouse.DefaultPageSize-3]}))
		if want := all[len(all)-gatehouse.DefaultPageSize-2 : len(all)-2]; !slices.Equal(got, want) {
			t.Errorf("ListClients(After, Limit 0) returned %d clients, want %d starting at %q", len(got), len(want), want[0])
		}
	}},
}
