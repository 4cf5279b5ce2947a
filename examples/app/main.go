// Command app is the smallest Go app built on the Gatehouse SDK: it
// authenticates to a data center with API-client credentials and reads its
// own API client, GET /api/2/clients/{client_id}, printing the JSON.
//
//	export GATEHOUSE_DATACENTER_URL=http://127.0.0.1:8080
//	export GATEHOUSE_CLIENT_ID=... GATEHOUSE_CLIENT_SECRET=...
//	go run ./examples/app
//
// The request goes through Client.HTTPClient, an ordinary *http.Client
// whose transport fetches the access token on first use, caches and
// refreshes it, and adds "Authorization: Bearer ..." to each request sent
// to the data center. Any code that takes an *http.Client can use it.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/gatehouse-dev/gatehouse/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "app:", err)
		os.Exit(1)
	}
}

// maxBody bounds what the app reads of an answer.
const maxBody = 1 << 20

// run is the whole program, with its environment passed in so that tests
// can call it.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	dc := getenv("GATEHOUSE_DATACENTER_URL")
	id := getenv("GATEHOUSE_CLIENT_ID")
	secret := getenv("GATEHOUSE_CLIENT_SECRET")
	var missing []string
	for _, v := range [][2]string{{"GATEHOUSE_DATACENTER_URL", dc}, {"GATEHOUSE_CLIENT_ID", id}, {"GATEHOUSE_CLIENT_SECRET", secret}} {
		if v[1] == "" {
			missing = append(missing, v[0])
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing configuration: set %s", strings.Join(missing, ", "))
	}

	c, err := client.New(client.Config{DatacenterURL: dc, ClientID: id, ClientSecret: secret})
	if err != nil {
		return err
	}
	u := c.DatacenterURL() + "/api/2/clients/" + url.PathEscape(id)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.HTTPClient().Do(req)
	if err != nil {
		// A failed token request arrives as a *client.Error inside the
		// *url.Error that http.Client adds; its code says what went wrong.
		if e, ok := errors.AsType[*client.Error](err); ok {
			return fmt.Errorf("authenticating at %s: %w", c.DatacenterURL(), e)
		}
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", u, resp.Status, bytes.TrimSpace(body))
	}
	var out bytes.Buffer
	if err := json.Indent(&out, body, "", "  "); err != nil {
		return fmt.Errorf("GET %s: the answer is not JSON: %w", u, err)
	}
	out.WriteByte('\n')
	_, err = out.WriteTo(stdout)
	return err
}
