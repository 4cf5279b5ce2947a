package server

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// openAPIDocument is the OpenAPI 3.1 document of every route this server
// registers. It is kept in the repository as openapi.json and embedded, so
// the binary serves exactly the file that openapi_test.go checks against
// the real answers of the server: the two cannot drift apart.
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPIETag is a strong validator of the document. The document changes
// only with the binary, so a hash of its bytes is computed once.
var openAPIETag = func() string {
	sum := sha256.Sum256(openAPIDocument)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}()

// openAPIMaxAge is how long clients may cache the document without asking
// again. It changes only when the data center is upgraded, and a client
// that asks again with If-None-Match gets a body-less 304 until then, so a
// short freshness costs little and an upgrade is seen within minutes.
const openAPIMaxAge = 5 * time.Minute

// handleOpenAPI serves the document, unauthenticated like discovery: it is
// documentation, and tools that generate clients fetch it without
// credentials. It is written by hand rather than with http.ServeContent so
// that the only answers are the documented 200 and 304 (no Range, no 206).
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(openAPIMaxAge.Seconds())))
	h.Set("ETag", openAPIETag)
	if etagListMatches(r.Header.Get("If-None-Match"), openAPIETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(openAPIDocument)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(openAPIDocument)
	}
}

// etagListMatches reports whether an If-None-Match value names etag, by
// the weak comparison RFC 9110 13.1.2 prescribes for If-None-Match: a W/
// prefix is ignored, and "*" matches any current representation.
func etagListMatches(header, etag string) bool {
	for _, v := range strings.Split(header, ",") {
		v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
		if v == "*" || v == etag {
			return true
		}
	}
	return false
}
