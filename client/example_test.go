package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/client"
)

// An app authenticates once and then calls the data center's API; the
// token is fetched on first use and reused until shortly before it
// expires. The httptest server stands in for a data center such as
// https://eu8-cloud.acronis.com.
func Example() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /bc/idp/token", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(api.TokenResponse{AccessToken: "eyJ...", TokenType: "bearer", ExpiresIn: 7200})
	})
	mux.HandleFunc("GET /api/2/clients", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(api.ClientList{Items: []api.Client{{ClientID: "3663410d", Status: "enabled"}}})
	})
	dc := httptest.NewServer(mux)
	defer dc.Close()

	c, err := client.New(client.Config{
		DatacenterURL: dc.URL,
		ClientID:      "3663410d",
		ClientSecret:  "the secret shown when the client was created",
	})
	if err != nil {
		log.Fatal(err)
	}
	list, err := c.Accounts().List(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, cl := range list.Items {
		fmt.Println(cl.ClientID, cl.Status)
	}
	// Output: 3663410d enabled
}

// Code written for golang.org/x/oauth2 can take its tokens from a Client,
// sharing its cache: here oauth2.NewClient authenticates a plain GET.
func ExampleClient_OAuth2TokenSource() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /bc/idp/token", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(api.TokenResponse{AccessToken: "eyJ...", TokenType: "bearer", ExpiresIn: 7200})
	})
	mux.HandleFunc("GET /api/2/clients/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("server saw:", r.Header.Get("Authorization"))
		json.NewEncoder(w).Encode(api.Client{ClientID: r.PathValue("id"), Status: "enabled"})
	})
	dc := httptest.NewServer(mux)
	defer dc.Close()

	c, err := client.New(client.Config{DatacenterURL: dc.URL, ClientID: "3663410d", ClientSecret: "the secret"})
	if err != nil {
		log.Fatal(err)
	}
	hc := oauth2.NewClient(context.Background(), c.OAuth2TokenSource())
	resp, err := hc.Get(dc.URL + "/api/2/clients/3663410d")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status)
	// Output:
	// server saw: Bearer eyJ...
	// 200 OK
}

// The layers can be put together by hand, for instance to share one token
// cache among several HTTP clients with their own transports. The token
// goes only to the data center: the request to another origin leaves
// without it.
func ExampleTransport() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /bc/idp/token", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(api.TokenResponse{AccessToken: "eyJ...", TokenType: "bearer", ExpiresIn: 7200})
	})
	mux.HandleFunc("GET /api/2/clients/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("data center saw:", r.Header.Get("Authorization"))
		json.NewEncoder(w).Encode(api.Client{ClientID: r.PathValue("id"), Status: "enabled"})
	})
	dc := httptest.NewServer(mux)
	defer dc.Close()
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("elsewhere saw: %q\n", r.Header.Get("Authorization"))
	}))
	defer elsewhere.Close()

	fetcher, err := client.NewFetcher(client.Config{DatacenterURL: dc.URL, ClientID: "3663410d", ClientSecret: "the secret"})
	if err != nil {
		log.Fatal(err)
	}
	cache := client.NewCache(fetcher, 0, nil)
	hc := &http.Client{Transport: &client.Transport{Source: cache, Datacenter: dc.URL}}
	accounts, err := client.NewAccounts(dc.URL, hc)
	if err != nil {
		log.Fatal(err)
	}
	cl, err := accounts.Get(context.Background(), "3663410d")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cl.ClientID, cl.Status)
	resp, err := hc.Get(elsewhere.URL)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	// Output:
	// data center saw: Bearer eyJ...
	// 3663410d enabled
	// elsewhere saw: ""
}
