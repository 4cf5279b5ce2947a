package guard_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/datacenter"
	"github.com/gatehouse-dev/gatehouse/guard"
	"github.com/gatehouse-dev/gatehouse/service"
)

// A resource server accepts the access tokens of one data center and
// greets the API client that called it. The data center runs in-process
// here, standing in for one such as https://eu8-cloud.acronis.com.
func Example() {
	const appID = "example-app"
	appSecret := gatehouse.NewSecret()
	dcURL, stop := startDataCenter(appID, appSecret)
	defer stop()

	g, err := guard.New(guard.Config{
		Issuers: []guard.Issuer{{
			URL:      dcURL + "/bc",
			Audience: strings.TrimPrefix(dcURL, "http://"), // the data center's host
			// Introspection accepts any enabled client of the data center;
			// a real resource server has an API client of its own.
			ClientID:     appID,
			ClientSecret: appSecret,
		}},
		Leeway: 30 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()

	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := guard.ClaimsFrom(r.Context())
		// The claims' times are time.Time values.
		fmt.Fprintf(w, "hello, %s; your token lives %s\n", claims.ClientID, claims.Expiry.Sub(claims.IssuedAt))
	})
	rs := httptest.NewServer(g.Middleware(hello))
	defer rs.Close()

	// The app authenticates at its data center and calls the resource
	// server with the access token.
	app, err := client.New(client.Config{DatacenterURL: dcURL, ClientID: appID, ClientSecret: appSecret})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := app.Token(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, rs.URL+"/hello", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	show(req)

	req, _ = http.NewRequest(http.MethodGet, rs.URL+"/hello", nil) // no token
	show(req)
	// Output:
	// 200 hello, example-app; your token lives 2h0m0s
	// 401 Bearer realm="gatehouse" {"error":{"code":"bearerTokenMissing","message":"Authorization bearer token is missing.","domain":"AccountServer"}}
}

func show(req *http.Request) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if c := resp.Header.Get("WWW-Authenticate"); c != "" {
		fmt.Print(resp.StatusCode, " ", c, " ", string(body))
		return
	}
	fmt.Print(resp.StatusCode, " ", string(body))
}

// Outside HTTP, Verify tells a token that is refused (a *guard.Error
// with the platform's code) from one that could not be checked at the
// moment. A malformed token is refused before any data center is asked.
func ExampleGuard_Verify() {
	g, err := guard.New(guard.Config{Issuers: []guard.Issuer{{
		URL:          "https://eu8-cloud.acronis.com/bc",
		Audience:     "eu8-cloud.acronis.com",
		ClientID:     "3663410d-4b70-4860-860c-8db82bffab8e",
		ClientSecret: "the secret shown when the client was created",
	}}})
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()

	_, err = g.Verify(context.Background(), "not-a-jwt")
	var refused *guard.Error
	switch {
	case errors.As(err, &refused):
		fmt.Println("refused:", refused.Code)
	case err != nil:
		fmt.Println("cannot check it now; retry later:", err)
	default:
		fmt.Println("accepted")
	}
	// Output: refused: tokenMalformed
}

// startDataCenter runs a Gatehouse data center on a temporary SQLite file,
// with one admin API client, and returns its URL.
func startDataCenter(adminID, adminSecret string) (url string, stop func()) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "gatehouse-example")
	if err != nil {
		log.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(nil)
	url = "http://" + hs.Listener.Addr().String()
	cfg := datacenter.Defaults()
	cfg.URL, cfg.DataDir = url, dir
	cfg.LocalMasterKey = true // generated into dir, thrown away with it
	cfg.Bootstrap = &service.BootstrapCredentials{ClientID: adminID, ClientSecret: adminSecret}
	dc, err := datacenter.Open(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	hs.Config.Handler = dc.Handler()
	hs.Start()
	return url, func() {
		hs.Close()
		dc.Close(ctx)
		os.RemoveAll(dir)
	}
}
