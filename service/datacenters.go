package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/token"
)

// KnownDatacenter is one entry of the data-center directory: a data
// center of the cloud, this one or a peer, and the issuer of its tokens.
type KnownDatacenter struct {
	gatehouse.Datacenter
	Issuer string
	Self   bool
}

// Account is where a login lives: the answer of the locator route.
type Account struct {
	DatacenterID string
	ServerURL    string
	Login        string
}

// directory is the data centers this one knows: itself and its peers. It
// is fixed at start, so it needs no lock.
type directory struct {
	self     KnownDatacenter
	all      []KnownDatacenter          // sorted by ID, so every member lists the cloud alike
	byIssuer map[string]KnownDatacenter // peers only
}

// newDirectory validates the peers against each other and against this
// data center. A mistake here (a peer listed twice, a data center told it
// is its own peer) would make the mismatch messages lie, so it stops the
// start instead.
func newDirectory(selfID, selfURL string, peers []gatehouse.Datacenter) (*directory, error) {
	selfIss, _, err := token.IssuerAndAudience(selfURL)
	if err != nil {
		return nil, err
	}
	self := KnownDatacenter{Datacenter: gatehouse.Datacenter{ID: selfID, URL: strings.TrimRight(selfURL, "/")}, Issuer: selfIss, Self: true}
	d := &directory{self: self, all: []KnownDatacenter{self}, byIssuer: map[string]KnownDatacenter{}}
	ids := map[string]bool{selfID: true}
	for _, p := range peers {
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("peer %q: %w", p.ID, err)
		}
		iss, _, err := token.IssuerAndAudience(p.URL)
		if err != nil {
			return nil, fmt.Errorf("peer %s: %w", p.ID, err)
		}
		if ids[p.ID] {
			if p.ID == selfID {
				return nil, fmt.Errorf("peer %s: that is this data center's own id", p.ID)
			}
			return nil, fmt.Errorf("peer %s is listed twice", p.ID)
		}
		if iss == selfIss {
			return nil, fmt.Errorf("peer %s: %s is this data center's own URL", p.ID, p.URL)
		}
		if other, dup := d.byIssuer[iss]; dup {
			return nil, fmt.Errorf("peers %s and %s have the same URL %s", other.ID, p.ID, p.URL)
		}
		ids[p.ID] = true
		dc := KnownDatacenter{Datacenter: gatehouse.Datacenter{ID: p.ID, URL: strings.TrimRight(p.URL, "/")}, Issuer: iss}
		d.byIssuer[iss] = dc
		d.all = append(d.all, dc)
	}
	slices.SortFunc(d.all, func(a, b KnownDatacenter) int { return strings.Compare(a.ID, b.ID) })
	return d, nil
}

// ValidatePeers reports what New would refuse in a data center's peers,
// so that a command can check them before it writes anything.
func ValidatePeers(selfID, selfURL string, peers []gatehouse.Datacenter) error {
	_, err := newDirectory(selfID, selfURL, peers)
	return err
}

// Datacenters lists this data center and its peers, sorted by id.
func (s *Service) Datacenters() []KnownDatacenter { return slices.Clone(s.dir.all) }

// namePeerIssuer refines the verifier's tokenIssuerMismatch for a token
// issued by a known peer: the message then names the data center the
// token belongs to, which is what a developer whose app is deployed in
// several data centers needs to see (the token was fetched in the wrong
// one). Any other error, and a mismatch with an unknown issuer, is
// returned unchanged; the unknown issuer is untrusted text and is only
// ever shown quoted, as the verifier does.
func (s *Service) namePeerIssuer(raw string, err error) error {
	var ge *gatehouse.Error
	if !errors.As(err, &ge) || ge.Code != gatehouse.CodeTokenIssuerMismatch {
		return err
	}
	u, perr := token.Parse(raw)
	if perr != nil {
		return err
	}
	peer, ok := s.dir.byIssuer[u.Issuer]
	if !ok {
		return err
	}
	return gatehouse.Errorf(gatehouse.ErrUnauthenticated, gatehouse.CodeTokenIssuerMismatch,
		"The token was issued by data center %s (%s), not by this data center %s (issuer %s): fetch a token from this data center's token endpoint.",
		peer.ID, peer.URL, s.dcID, s.issuer.URL)
}

// Lookups of unknown logins are counted under their own key, not the
// token endpoint's "ip:" one: the global locator asks every data center
// about every login, so each lookup it forwards is a miss in all data
// centers but one, all from the locator's address. Sharing the key would
// let ordinary locator traffic lock the locator's host out of the token
// endpoint.
func locateLimitKey(remoteIP string) string { return "locate|ip:" + remoteIP }

var errNoSuchLogin = gatehouse.Errorf(gatehouse.ErrNotFound, gatehouse.CodeNotFound, "No account with this login in this data center.")

// LocateClient answers the locator route: which data center holds the API
// client whose id is login. Every existing client is found, whatever its
// status: the locator says where a client lives, and a disabled client's
// app is better told invalid_client by its own data center than sent
// nowhere. Unknown logins count as failures of the caller's address, and
// past the limit every lookup from it is refused with a
// *gatehouse.RateLimitedError, so enumerating client ids is slow.
func (s *Service) LocateClient(ctx context.Context, login, remoteIP string) (Account, error) {
	key := locateLimitKey(remoteIP)
	wait, err := s.limiter.Allowed(ctx, key)
	if err != nil {
		return Account{}, unavailable(err)
	}
	if wait > 0 {
		return Account{}, &gatehouse.RateLimitedError{RetryAfter: wait}
	}
	c, err := s.lookupClient(ctx, login)
	if errors.Is(err, gatehouse.ErrNotFound) {
		if ferr := s.limiter.Fail(ctx, key); ferr != nil {
			s.log.Warn("counting a failed login lookup failed", "err", ferr)
		}
		return Account{}, errNoSuchLogin
	}
	if err != nil {
		return Account{}, err
	}
	return Account{DatacenterID: s.dir.self.ID, ServerURL: s.dir.self.URL, Login: c.ID}, nil
}
