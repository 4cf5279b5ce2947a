package client

import (
	"context"

	"golang.org/x/oauth2"
)

// TokenSource returns an oauth2.TokenSource backed by the Client's token
// cache, so that code written for golang.org/x/oauth2, such as
// oauth2.NewClient(ctx, c.TokenSource()), shares the cache, the single
// shared refresh and the 429/503 retries of this Client.
//
// oauth2.TokenSource.Token takes no context, so the source cannot know
// when its caller gives up. It waits for a token with a background context
// bounded by the SDK's own token timeout (30 seconds, retries included);
// callers that have a context should call Client.Token instead. The token
// request still carries no caller's context: there is none.
//
// Each token has TokenType "Bearer", the id_token in Extra("id_token"), and
// as Expiry the time this Client stops handing it out: Config.EarlyExpiry
// before it really expires. A cache layered on top, such as the
// oauth2.ReuseTokenSource inside oauth2.NewClient, then replaces it no
// later than this Client would. A token the Client does not reuse (one
// that came without any expiry) has an Expiry in the past, so that such a
// cache does not keep it either.
//
// Unlike HTTPClient, an http.Client built by oauth2.NewClient does not
// retry a request refused with invalid_token, and keeps a revoked token
// until its Expiry; prefer HTTPClient where that matters.
func (c *Client) TokenSource() oauth2.TokenSource {
	return tokenSource{c}
}

type tokenSource struct{ c *Client }

func (s tokenSource) Token() (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), tokenTimeout)
	defer cancel()
	e, err := s.c.token(ctx)
	if err != nil {
		return nil, err
	}
	// A new Token each time: oauth2.ReuseTokenSource writes into the
	// tokens it is given.
	t := &oauth2.Token{
		AccessToken: e.tok.AccessToken,
		TokenType:   "Bearer",
		Expiry:      e.refreshAt,
	}
	if e.tok.IDToken != "" {
		t = t.WithExtra(map[string]any{"id_token": e.tok.IDToken})
	}
	return t, nil
}
