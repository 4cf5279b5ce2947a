package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/gatehouse-dev/gatehouse/api"
)

// Output formats of the commands that print API objects.
const (
	outputText = "text"
	outputJSON = "json"
)

func checkOutput(format string) error {
	switch format {
	case outputText, outputJSON:
		return nil
	}
	return fmt.Errorf("--output %q: want %s or %s", format, outputText, outputJSON)
}

// writeJSON prints v as indented JSON. HTML escaping is off because the
// reader is a person or a script, never a browser, and \u0026 in a URL
// or a name only gets in their way.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// field is one line of a key/value block.
type field struct{ key, value string }

// writeFields prints an aligned key/value block.
func writeFields(w io.Writer, fields []field) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range fields {
		fmt.Fprintf(tw, "%s:\t%s\n", f.key, f.value)
	}
	return tw.Flush()
}

// clientFields describes a client for writeFields. The secret, present
// only in the answer to a create, comes right after the ID.
func clientFields(c *api.Client) []field {
	fs := []field{{"Client ID", printable(c.ClientID)}}
	if c.ClientSecret != "" {
		fs = append(fs, field{"Client secret", printable(c.ClientSecret)})
	}
	lastAccess := "never"
	if c.LastAccessAt != nil {
		lastAccess = formatTime(*c.LastAccessAt)
		if c.LastAccessFromIP != nil && *c.LastAccessFromIP != "" {
			lastAccess += " from " + printable(*c.LastAccessFromIP)
		}
	}
	return append(fs,
		field{"Name", orDash(clientName(c.Data))},
		field{"Status", orDash(printable(c.Status))},
		field{"Role", roleText(c.Role)},
		field{"Tenant ID", orDash(printable(c.TenantID))},
		field{"Auth method", orDash(printable(c.TokenEndpointAuthMethod))},
		field{"Created", formatTime(c.CreatedAt)},
		field{"Created by", orDash(printable(c.CreatedBy))},
		field{"Last access", lastAccess},
	)
}

// writeClientTable prints clients as a table, one per line.
func writeClientTable(w io.Writer, clients []api.Client) error {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "CLIENT ID\tNAME\tSTATUS\tROLE\tCREATED\tLAST ACCESS")
	for _, c := range clients {
		lastAccess := "never"
		if c.LastAccessAt != nil {
			lastAccess = formatTime(*c.LastAccessAt)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n",
			printable(c.ClientID), orDash(clientName(c.Data)), orDash(printable(c.Status)),
			roleText(c.Role), formatTime(c.CreatedAt), lastAccess)
	}
	return tw.Flush()
}

// clientName is data.client_name, or "" when the data holds none.
func clientName(data json.RawMessage) string {
	var d struct {
		ClientName string `json:"client_name"`
	}
	if len(data) == 0 || json.Unmarshal(data, &d) != nil {
		return ""
	}
	return printable(d.ClientName)
}

func roleText(role string) string {
	if role == "" {
		return "none"
	}
	return printable(role)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printable quotes a server-supplied string that holds control
// characters, so that a client name cannot move the cursor, recolour the
// terminal or break the alignment of a table.
func printable(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	return strconv.Quote(s)
}
