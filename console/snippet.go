package console

import (
	"strings"

	"github.com/gatehouse-dev/gatehouse"
)

// snippets returns the seed's token request for a new secret, ready to
// paste: curl, and Python requests as the platform's guide writes it, each
// with the client's own authentication method and this data center's URL.
// The id and secret are URL-unreserved; the data center URL is the
// operator's, so it is quoted properly for each language all the same.
func snippets(dcURL, clientID, secret string, method gatehouse.AuthMethod) (curl, python string) {
	tokenURL := dcURL + "/bc/idp/token"
	var c strings.Builder
	if method == gatehouse.AuthSecretPost {
		c.WriteString("curl -s \\\n")
		c.WriteString("  -d grant_type=client_credentials \\\n")
		c.WriteString("  -d client_id=" + shellQuote(clientID) + " \\\n")
		c.WriteString("  -d client_secret=" + shellQuote(secret) + " \\\n")
	} else {
		c.WriteString("curl -s -u " + shellQuote(clientID+":"+secret) + " \\\n")
		c.WriteString("  -d grant_type=client_credentials \\\n")
	}
	c.WriteString("  " + shellQuote(tokenURL))

	var p strings.Builder
	p.WriteString("import requests\n")
	if method != gatehouse.AuthSecretPost {
		p.WriteString("from base64 import b64encode\n")
	}
	p.WriteString("\nclient_id = " + pyQuote(clientID) + "\n")
	p.WriteString("client_secret = " + pyQuote(secret) + "\n")
	p.WriteString("datacenter_url = " + pyQuote(dcURL) + "\n\n")
	if method == gatehouse.AuthSecretPost {
		p.WriteString("response = requests.post(\n")
		p.WriteString("    f'{datacenter_url}/bc/idp/token',\n")
		p.WriteString("    headers={'Content-Type': 'application/x-www-form-urlencoded'},\n")
		p.WriteString("    data={'grant_type': 'client_credentials', 'client_id': client_id, 'client_secret': client_secret},\n")
		p.WriteString(")\n")
	} else {
		p.WriteString("encoded_client_creds = b64encode(f'{client_id}:{client_secret}'.encode('ascii'))\n")
		p.WriteString("basic_auth = {'Authorization': 'Basic ' + encoded_client_creds.decode('ascii')}\n\n")
		p.WriteString("response = requests.post(\n")
		p.WriteString("    f'{datacenter_url}/bc/idp/token',\n")
		p.WriteString("    headers={'Content-Type': 'application/x-www-form-urlencoded', **basic_auth},\n")
		p.WriteString("    data={'grant_type': 'client_credentials'},\n")
		p.WriteString(")\n")
	}
	p.WriteString("token_info = response.json()\n")
	p.WriteString("access_token = token_info['access_token']")
	return c.String(), p.String()
}

// shellQuote quotes s for a POSIX shell: in single quotes, each single
// quote inside closed, escaped and reopened.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// pyQuote writes s as a single-quoted Python string literal.
func pyQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\r", `\r`)
	return "'" + r.Replace(s) + "'"
}
