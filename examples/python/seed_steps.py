#!/usr/bin/env python3
"""The platform guide's Python steps ("API Authentication", step by step),
run against a Gatehouse data center.

It authenticates with API-client credentials (client_credentials grant,
HTTP Basic) at {datacenter_url}/bc/idp/token, then calls
GET {datacenter_url}/api/2/clients/{client_id} with the access token as a
Bearer token and prints the answer.

Credentials come from the environment, as for the gatehouse CLI and the Go
example:

    GATEHOUSE_DATACENTER_URL=http://127.0.0.1:8080 \\
    GATEHOUSE_CLIENT_ID=... GATEHOUSE_CLIENT_SECRET=... \\
    python3 seed_steps.py

or from a bootstrap file written by `gatehouse serve` (the data center URL
still comes from GATEHOUSE_DATACENTER_URL, default http://127.0.0.1:8080):

    python3 seed_steps.py <data-dir>/bootstrap-client.json

It exits 0 on success and 1, with a message on stderr, on any failure.
Needs the `requests` package, as the guide does.
"""

import json
import os
import pprint
import sys
from base64 import b64encode  # Used for encoding to Base64
from urllib.parse import quote, quote_plus

try:
    import requests
except ImportError:
    sys.exit("seed_steps.py: the 'requests' package is needed: pip install requests")

DEFAULT_DATACENTER_URL = "http://127.0.0.1:8080"
TIMEOUT = 30  # seconds per request; requests waits forever without one


def fail(message):
    sys.exit(f"seed_steps.py: {message}")


def load_credentials(argv):
    """Returns (datacenter_url, client_id, client_secret)."""
    if len(argv) == 2 and argv[1] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0)
    if len(argv) > 2:
        fail("usage: seed_steps.py [BOOTSTRAP_FILE]")
    datacenter_url = os.environ.get("GATEHOUSE_DATACENTER_URL", "")
    if len(argv) == 2:
        path = argv[1]
        try:
            with open(path, encoding="utf-8") as f:
                boot = json.load(f)
        except OSError as e:
            fail(f"cannot read bootstrap file {path}: {e.strerror}")
        except ValueError as e:
            fail(f"bootstrap file {path} is not JSON: {e}")
        if not isinstance(boot, dict):
            fail(f"bootstrap file {path} is not a JSON object")
        client_id, client_secret = boot.get("client_id"), boot.get("client_secret")
        if not client_id or not client_secret:
            fail(f"bootstrap file {path} lacks client_id or client_secret")
        datacenter_url = datacenter_url or DEFAULT_DATACENTER_URL
    else:
        client_id = os.environ.get("GATEHOUSE_CLIENT_ID", "")
        client_secret = os.environ.get("GATEHOUSE_CLIENT_SECRET", "")
        missing = [name for name, value in (
            ("GATEHOUSE_DATACENTER_URL", datacenter_url),
            ("GATEHOUSE_CLIENT_ID", client_id),
            ("GATEHOUSE_CLIENT_SECRET", client_secret),
        ) if not value]
        if missing:
            fail("set " + ", ".join(missing) + " (or pass a bootstrap file)")
    return datacenter_url.rstrip("/"), client_id, client_secret


def error_text(response):
    """One line about a failed answer: its status and the server's error
    code and message, from either error shape the platform uses."""
    text = f"{response.status_code} {response.reason}"
    try:
        body = response.json()
    except ValueError:
        return text
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, str):  # RFC 6749 5.2, from the token endpoint
        return f"{text}: {err}: {body.get('error_description', '')}".rstrip(": ")
    if isinstance(err, dict):  # the account API's {"error":{"code":...}}
        return f"{text}: {err.get('code', '')}: {err.get('message', '')}".rstrip(": ")
    return text


def main(argv):
    # Store the API client credentials and the data center URL.
    datacenter_url, client_id, client_secret = load_credentials(argv)

    # Encode the client ID and client secret using Base64. RFC 6749 2.3.1
    # form-urlencodes each first; for the platform's credentials (a UUID
    # and a URL-safe secret) that changes nothing, and it keeps any other
    # id or secret intact.
    encoded_client_creds = b64encode(
        f"{quote_plus(client_id)}:{quote_plus(client_secret)}".encode("ascii"))
    basic_auth = {"Authorization": "Basic " + encoded_client_creds.decode("ascii")}

    # POST to /bc/idp/token with the Basic header and
    # grant_type=client_credentials in the form body.
    try:
        response = requests.post(
            f"{datacenter_url}/bc/idp/token",
            headers={"Content-Type": "application/x-www-form-urlencoded", **basic_auth},
            data={"grant_type": "client_credentials"},
            timeout=TIMEOUT,
        )
    except requests.RequestException as e:
        fail(f"token request to {datacenter_url}/bc/idp/token failed: {e}")

    # Status 200 means the API client is authenticated and holds an
    # access token.
    if response.status_code != 200:
        fail(f"token request refused: {error_text(response)}")
    try:
        token_info = response.json()
    except ValueError:
        fail("token response is not JSON")
    if not isinstance(token_info, dict) or not token_info.get("access_token"):
        fail("token response has no access_token")
    print("token_type:", token_info.get("token_type"),
          "expires_in:", token_info.get("expires_in"),
          "expires_on:", token_info.get("expires_on"))

    # Send the access token as a Bearer token with every API request.
    auth = {"Authorization": "Bearer " + token_info["access_token"]}
    url = f"{datacenter_url}/api/2/clients/{quote(client_id, safe='')}"
    try:
        response = requests.get(url, headers=auth, timeout=TIMEOUT)
    except requests.RequestException as e:
        fail(f"GET {url} failed: {e}")
    if response.status_code != 200:
        fail(f"GET {url} refused: {error_text(response)}")
    try:
        client = response.json()
    except ValueError:
        fail(f"GET {url}: the answer is not JSON")
    pprint.pprint(client)
    if not isinstance(client, dict) or client.get("client_id") != client_id:
        fail(f"GET {url}: the answer is not client {client_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
