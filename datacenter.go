package gatehouse

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Datacenter is one data center of a cloud: the short id it is known by
// and the public base URL at which clients, other data centers and the
// locator reach it. A data center is told of its peers, and the locator of
// every data center, as "ID=URL" pairs (see ParseDatacenter).
type Datacenter struct {
	ID  string `json:"id"`
	URL string `json:"url"`
}

// datacenterID is what a data center may be called: short, and safe to
// show in messages, tables and file names (gatehouse dev makes one
// directory per data center).
var datacenterID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// ValidDatacenterID reports whether id is acceptable as a data center's
// short name.
func ValidDatacenterID(id string) bool { return datacenterID.MatchString(id) }

var errDatacenterID = errors.New("a data center id is 1 to 63 letters, digits, dots, dashes or underscores, starting with a letter or digit")

// ParseDatacenterURL checks a data center's public base URL: an absolute
// http or https URL with no user info, query or fragment, since the
// issuer and audience of its tokens are derived from it.
func ParseDatacenterURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("datacenter URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("datacenter URL %q: want an absolute http or https URL", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("datacenter URL %q: must have no user info, query or fragment", raw)
	}
	return u, nil
}

// Validate reports whether the id and the URL are acceptable. Whether a
// list of data centers is (no id or URL twice) is for its user to decide.
// The error does not name the data center: the caller says which one.
func (d Datacenter) Validate() error {
	if !ValidDatacenterID(d.ID) {
		return errDatacenterID
	}
	_, err := ParseDatacenterURL(d.URL)
	return err
}

// ParseDatacenter reads an "ID=URL" pair, as given on the command line.
// Only the shape is checked here; Validate checks the parts.
func ParseDatacenter(pair string) (Datacenter, error) {
	id, u, ok := strings.Cut(strings.TrimSpace(pair), "=")
	id, u = strings.TrimSpace(id), strings.TrimSpace(u)
	if !ok || id == "" || u == "" {
		return Datacenter{}, fmt.Errorf("%q: want ID=URL, for example eu8=https://eu8-cloud.example.com", pair)
	}
	return Datacenter{ID: id, URL: u}, nil
}
