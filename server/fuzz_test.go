package server

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
)

// FuzzParseBasic: any header value parses without panicking, and whatever
// parses as RFC 6749 form-encoded Basic credentials round-trips.
func FuzzParseBasic(f *testing.F) {
	for _, s := range []string{
		"Basic " + base64.StdEncoding.EncodeToString([]byte("id:secret")),
		"basic " + base64.StdEncoding.EncodeToString([]byte("a%20b:c%3Ad")),
		"Basic " + base64.StdEncoding.EncodeToString([]byte(":")),
		"Basic " + base64.StdEncoding.EncodeToString([]byte("%zz:x")),
		"Basic !!!", "Basic", "Bearer x", "", "Basic    ", "Basic " + strings.Repeat("A", 1000),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		id, secret, isBasic, err := parseBasic(header)
		if !isBasic && (id != "" || secret != "" || err != nil) {
			t.Fatalf("non-Basic header produced credentials or an error")
		}
		if err != nil || !isBasic {
			return
		}
		if id == "" {
			t.Fatal("empty client id accepted")
		}
		// Re-encoding what was parsed must parse to the same credentials.
		again := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
		id2, secret2, ok2, err2 := parseBasic(again)
		if !ok2 || err2 != nil || id2 != id || secret2 != secret {
			t.Fatalf("round trip of %q:%q gave %q:%q (%v)", id, secret, id2, secret2, err2)
		}
	})
}
