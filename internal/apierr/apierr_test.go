package apierr

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzBearerToken: any Authorization header is either no token, one token
// without spaces, or an error; never a panic.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc.def.ghi", "bearer x", "Bearer ", "Bearer a b", "Basic abc", "", "Bearer " + strings.Repeat("a", 9000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		if !utf8.ValidString(header) {
			return
		}
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", header)
		tok, err := BearerToken(r)
		if err != nil && tok != "" {
			t.Fatal("token and error at once")
		}
		if strings.ContainsAny(tok, " \t") || len(tok) > 8<<10 {
			t.Fatalf("unusable token %q accepted", tok)
		}
	})
}
