package bench

import (
	"strings"
	"testing"
)

func TestReadCredentials(t *testing.T) {
	want := []Credentials{{"a", "sa"}, {"b", "sb"}}
	for _, tc := range []struct{ name, in string }{
		{"array", `[{"client_id":"a","client_secret":"sa"},{"client_id":"b","client_secret":"sb","tenant_id":"t"}]`},
		{"array with whitespace", "\n  [\n {\"client_id\":\"a\",\"client_secret\":\"sa\"},\n {\"client_id\":\"b\",\"client_secret\":\"sb\"}\n]\n"},
		{"JSON Lines", "{\"client_id\":\"a\",\"client_secret\":\"sa\"}\n{\"client_id\":\"b\",\"client_secret\":\"sb\",\"tenant_id\":\"t\"}\n"},
		{"JSON Lines, CRLF, no final newline", "{\"client_id\":\"a\",\"client_secret\":\"sa\"}\r\n{\"client_id\":\"b\",\"client_secret\":\"sb\"}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadCredentials(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "  \n", "no credentials"},
		{"empty array", "[]", "no credentials"},
		{"not JSON", "client_id=a", "want a JSON array"},
		{"missing secret", `{"client_id":"a"}`, "client_secret are required"},
		{"broken line", "{\"client_id\":\"a\",\"client_secret\":\"sa\"}\n{\"client_id\":", "credentials 2"},
		{"trailing data", `[{"client_id":"a","client_secret":"sa"}] x`, "trailing data"},
		{"stray bracket", `{"client_id":"a","client_secret":"sa"}]`, "trailing data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadCredentials(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestBaseURL(t *testing.T) {
	if got, err := BaseURL("http://127.0.0.1:8080/"); err != nil || got != "http://127.0.0.1:8080" {
		t.Errorf("BaseURL = %q, %v", got, err)
	}
	for _, bad := range []string{"127.0.0.1:8080", "ftp://x", "http://u:p@x", "http://x/?q=1", ""} {
		if _, err := BaseURL(bad); err == nil {
			t.Errorf("BaseURL(%q) succeeded", bad)
		}
	}
}
