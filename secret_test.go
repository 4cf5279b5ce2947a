package gatehouse_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
)

func TestNewSecret(t *testing.T) {
	seen := map[string]bool{}
	charset := regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	for i := 0; i < 1000; i++ {
		s := gatehouse.NewSecret()
		if !charset.MatchString(s) {
			t.Fatalf("secret %q is not 43 characters of [A-Za-z0-9_-]", s)
		}
		if seen[s] {
			t.Fatal("secret repeated")
		}
		seen[s] = true
	}
}

func TestSecretHash(t *testing.T) {
	secret := gatehouse.NewSecret()
	h := gatehouse.HashSecret("client-a", secret)
	if strings.Contains(string(h), secret) {
		t.Fatal("hash contains the secret")
	}
	tests := []struct {
		name, id, secret string
		stored           []byte
		want             bool
	}{
		{"right secret", "client-a", secret, h, true},
		{"wrong secret", "client-a", secret + "x", h, false},
		{"hash of another client", "client-b", secret, h, false},
		{"empty stored hash", "client-a", secret, nil, false},
		{"truncated hash", "client-a", secret, h[:len(h)-1], false},
	}
	for _, tc := range tests {
		if got := gatehouse.SecretMatches(tc.id, tc.secret, tc.stored); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestValidateOperatorCredentials(t *testing.T) {
	good := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq" // 43, all distinct
	tests := []struct {
		name, id, secret string
		ok               bool
	}{
		{"minimal", "a", good, true},
		{"all unreserved", "A-z_0.9~", "abc-_.~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", true},
		{"long but not random", "a", strings.Repeat("a", 64), false},
		{"15 distinct characters", "a", strings.Repeat("abcdefghijklmno", 3), false},
		{"id of 128", strings.Repeat("i", 128), good, true},
		{"empty id", "", good, false},
		{"id of 129", strings.Repeat("i", 129), good, false},
		{"id with space", "a b", good, false},
		{"id with colon", "a:b", good, false},
		{"id with plus", "a+b", good, false},
		{"id with percent", "a%41", good, false},
		{"secret of 42", "a", good[:42], false},
		{"secret with slash", "a", good + "/", false},
		{"secret with non-ASCII", "a", good + "é", false},
	}
	for _, tc := range tests {
		err := gatehouse.ValidateOperatorCredentials(tc.id, tc.secret)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), tc.secret) {
			t.Errorf("%s: error shows the secret", tc.name)
		}
	}
}

func TestSecretHasher(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	h := gatehouse.NewSecretHasher(key)
	secret := gatehouse.NewSecret()
	stored := h.Hash("client-a", secret)
	if !strings.HasPrefix(string(stored), "hs256v2:") || strings.Contains(string(stored), secret) {
		t.Fatalf("stored hash %q", stored)
	}
	tests := []struct {
		name   string
		hasher *gatehouse.SecretHasher
		id     string
		secret string
		stored []byte
		want   bool
	}{
		{"right secret", h, "client-a", secret, stored, true},
		{"wrong secret", h, "client-a", secret[:len(secret)-1] + "x", stored, false},
		{"another client's hash", h, "client-b", secret, stored, false},
		{"another server key", gatehouse.NewSecretHasher([]byte("another key of thirty-two bytes!")), "client-a", secret, stored, false},
		{"legacy v1 hash still accepted", h, "client-a", secret, gatehouse.HashSecret("client-a", secret), true},
		{"legacy v1 hash, wrong secret", h, "client-a", "nope", gatehouse.HashSecret("client-a", secret), false},
		{"nothing stored", h, "client-a", secret, nil, false},
	}
	for _, tc := range tests {
		if got := tc.hasher.Matches(tc.id, tc.secret, tc.stored); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
	// The id is length-prefixed: moving a character from the id into the
	// secret changes the hash.
	if string(h.Hash("ab", "c")) == string(h.Hash("a", "bc")) {
		t.Error("(ab, c) and (a, bc) hash alike")
	}
}
