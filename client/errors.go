package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/gatehouse-dev/gatehouse/api"
)

// Error is an error answer from the data center: from the token endpoint
// (RFC 6749 5.2 body) or from the account API ({"error":{"code":...}}).
// Test for it with errors.As.
type Error struct {
	StatusCode int    // the HTTP status
	Code       string // invalid_client, notFound, ...; "" when the body had none
	Message    string // one line for a person; never a secret or a token
}

// Error returns one line: "404 notFound: Client not found.", or, when the
// server gave no code, "502: Bad Gateway (non-JSON response, text/html)".
func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("%d: %s", e.StatusCode, e.Message)
	}
	return fmt.Sprintf("%d %s: %s", e.StatusCode, e.Code, e.Message)
}

// maxMessage bounds the message kept from a server's error body, so one
// bad answer cannot flood a log line.
const maxMessage = 300

// responseError turns a failed answer into an *Error. It reads at most
// maxBody bytes of the body and never keeps the body itself: only the code
// and the message, cleaned of anything that looks like a credential.
// creds are the strings it removes besides anything that looks like a JWT.
func responseError(resp *http.Response, creds []string) *Error {
	e := &Error{StatusCode: resp.StatusCode}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))

	var env struct {
		Error            json.RawMessage `json:"error"`
		ErrorDescription string          `json:"error_description"`
	}
	if len(body) > 0 && json.Unmarshal(body, &env) == nil && len(env.Error) > 0 {
		var code string
		var detail api.ErrorDetail
		switch {
		case json.Unmarshal(env.Error, &code) == nil:
			e.Code, e.Message = code, env.ErrorDescription
		case json.Unmarshal(env.Error, &detail) == nil:
			e.Code, e.Message = detail.Code, detail.Message
			if detail.Details != nil && detail.Details.Info != "" && !strings.Contains(e.Message, detail.Details.Info) {
				e.Message = strings.TrimSpace(e.Message + " (" + detail.Details.Info + ")")
			}
		}
	}
	// RFC 6750 3 puts the error code of a bearer failure in the challenge;
	// use it when the body said nothing.
	if e.Code == "" {
		if code, ok := challengeParam(resp.Header.Values("WWW-Authenticate"), "error"); ok {
			e.Code = code
			if e.Message == "" {
				e.Message, _ = challengeParam(resp.Header.Values("WWW-Authenticate"), "error_description")
			}
		}
	}
	e.Code = clean(e.Code, 64, creds)
	e.Message = clean(e.Message, maxMessage, creds)
	if e.Message == "" {
		e.Message = statusMessage(resp, body)
	}
	return e
}

// statusMessage describes an answer that carried no usable message.
func statusMessage(resp *http.Response, body []byte) string {
	text := http.StatusText(resp.StatusCode)
	if text == "" {
		text = "HTTP " + strconv.Itoa(resp.StatusCode)
	}
	if len(body) == 0 {
		return text
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if ct == "application/json" {
		return text + " (JSON response without an error message)"
	}
	if ct == "" {
		ct = "no content type"
	}
	return text + " (non-JSON response, " + ct + ")"
}

// jwtLike matches compact JWS/JWE strings, which a confused server might
// echo back in an error message.
var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)?`)

// clean makes a server-supplied string safe to print on one line: no
// control characters or runs of spaces, none of creds, no token, at most
// max runes.
func clean(s string, max int, creds []string) string {
	if s == "" {
		return ""
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	s = redact(s, creds)
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "…"
	}
	return s
}

// minRedact is the shortest credential redact looks for verbatim. Real
// secrets and tokens are far longer; replacing every occurrence of a short
// test value such as "t" would garble the message instead.
const minRedact = 8

// redact removes creds (the client secret, its encodings, the token in
// use) and anything that looks like a JWT from s.
func redact(s string, creds []string) string {
	for _, cred := range creds {
		if len(cred) >= minRedact {
			s = strings.ReplaceAll(s, cred, "[redacted]")
		}
	}
	return jwtLike.ReplaceAllString(s, "[redacted]")
}

// redactErr keeps transport errors (which name the URL and the network
// failure) but makes sure their text cannot carry the secret.
func redactErr(err error, creds []string) error {
	msg := err.Error()
	if clean := redact(msg, creds); clean != msg {
		return errors.New(clean)
	}
	return err
}

// challengeParam finds an auth-param of the Bearer challenges in
// WWW-Authenticate values, such as error="invalid_token". It handles the
// quoted-string and token forms of RFC 9110 11.2, which is all RFC 6750
// servers send.
func challengeParam(values []string, name string) (string, bool) {
	for _, v := range values {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			continue
		}
		for rest != "" {
			rest = strings.TrimLeft(rest, " \t,")
			var key string
			key, rest, _ = strings.Cut(rest, "=")
			key = strings.TrimSpace(key)
			rest = strings.TrimLeft(rest, " \t")
			var val string
			if strings.HasPrefix(rest, `"`) {
				var b strings.Builder
				i := 1
				for ; i < len(rest) && rest[i] != '"'; i++ {
					if rest[i] == '\\' && i+1 < len(rest) {
						i++
					}
					b.WriteByte(rest[i])
				}
				val, rest = b.String(), rest[min(i+1, len(rest)):]
			} else {
				val, rest, _ = strings.Cut(rest, ",")
				val = strings.TrimSpace(val)
			}
			if strings.EqualFold(key, name) {
				return val, true
			}
		}
	}
	return "", false
}
