package gatehouse

import (
	"strings"
	"testing"
)

func TestParseDatacenter(t *testing.T) {
	got, err := ParseDatacenter(" eu8 = https://eu8.example.com ")
	if err != nil || got != (Datacenter{ID: "eu8", URL: "https://eu8.example.com"}) {
		t.Errorf("ParseDatacenter = %+v, %v", got, err)
	}
	for _, bad := range []string{"eu8", "=https://x", "eu8=", ""} {
		if _, err := ParseDatacenter(bad); err == nil || !strings.Contains(err.Error(), "want ID=URL") {
			t.Errorf("ParseDatacenter(%q) = %v, want a want ID=URL error", bad, err)
		}
	}
}

func TestDatacenterValidate(t *testing.T) {
	if err := (Datacenter{ID: "eu8.a_b-1", URL: "http://[::1]:9000/dc/"}).Validate(); err != nil {
		t.Errorf("a good data center refused: %v", err)
	}
	for _, tc := range []struct {
		dc   Datacenter
		want string
	}{
		{Datacenter{ID: "", URL: "https://x"}, "data center id"},
		{Datacenter{ID: "us 5", URL: "https://x"}, "data center id"},
		{Datacenter{ID: "-x", URL: "https://x"}, "data center id"},
		{Datacenter{ID: strings.Repeat("a", 64), URL: "https://x"}, "data center id"},
		{Datacenter{ID: "eu8", URL: "eu8.example.com"}, "http or https"},
		{Datacenter{ID: "eu8", URL: "ftp://x"}, "http or https"},
		{Datacenter{ID: "eu8", URL: "https://x/?a=b"}, "query"},
		{Datacenter{ID: "eu8", URL: "https://u:p@x"}, "user info"},
	} {
		if err := tc.dc.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error saying %q", tc.dc, err, tc.want)
		}
	}
}
