package client

import (
	"context"

	"golang.org/x/oauth2"
)

// OAuth2TokenSource returns an oauth2.TokenSource backed by the Cache, so
// that code written for golang.org/x/oauth2, such as
// oauth2.NewClient(ctx, c.OAuth2TokenSource()), shares the cache, the
// single shared refresh and the 429/503 retries of the source below.
//
// oauth2.TokenSource.Token takes no context, so the adapter cannot know
// when its caller gives up. It waits for a token with a background context
// bounded by the SDK's own token timeout (30 seconds, retries included);
// callers that have a context should call Cache.Token instead.
//
// Each token has TokenType "Bearer", the id_token in Extra("id_token"), and
// as Expiry the time this Cache stops handing it out: the early expiry
// before it really expires. A cache layered on top, such as the
// oauth2.ReuseTokenSource inside oauth2.NewClient, then replaces it no
// later than this Cache would. A token the Cache does not reuse (one that
// came without any expiry) has an Expiry in the past, so that such a cache
// does not keep it either.
//
// Unlike a Transport, an http.Client built by oauth2.NewClient does not
// retry a request refused with invalid_token, and keeps a revoked token
// until its Expiry; prefer Transport where that matters.
func (c *Cache) OAuth2TokenSource() oauth2.TokenSource {
	return oauth2Source{c}
}

type oauth2Source struct{ c *Cache }

func (s oauth2Source) Token() (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), tokenTimeout)
	defer cancel()
	e, err := s.c.entry(ctx)
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
