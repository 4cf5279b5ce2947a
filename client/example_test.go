package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

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
	list, err := c.ListClients(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, cl := range list.Items {
		fmt.Println(cl.ClientID, cl.Status)
	}
	// Output: 3663410d enabled
}
