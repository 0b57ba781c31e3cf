package ctl

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/reflect/protoregistry"
)

func TestTargetAndHost(t *testing.T) {
	for _, tc := range []struct{ addr, target, host string }{
		{"127.0.0.1:7443", "127.0.0.1:7443", "127.0.0.1"},
		{"localhost", "localhost:7443", "localhost"},
		{"[::1]:9000", "[::1]:9000", "::1"},
		{"dns:///sinergi.example.go.id:443", "dns:///sinergi.example.go.id:443", "sinergi.example.go.id"},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			target, host := targetAndHost(tc.addr)
			if target != tc.target || host != tc.host {
				t.Errorf("targetAndHost(%q) = %q, %q; want %q, %q", tc.addr, target, host, tc.target, tc.host)
			}
		})
	}
}

// Defaults, then the environment, then flags before the service, then flags
// after the method.
func TestGlobalOptions(t *testing.T) {
	cat, err := loadCatalog(protoregistry.GlobalFiles, protoregistry.GlobalTypes, apiPackage)
	if err != nil {
		t.Fatal(err)
	}
	_, m, err := lookup(cat, "institution", []string{"list-institutions"})
	if err != nil {
		t.Fatal(err)
	}
	type opts struct {
		Addr, CA, Cert, Key, As, PKIDir, Output, RequestID string
		Timeout                                            time.Duration
		TimeoutSet                                         bool
	}
	for _, tc := range []struct {
		name          string
		env           map[string]string
		before, after []string
		want          opts
	}{
		{
			name: "defaults",
			want: opts{Addr: defaultAddr, PKIDir: defaultPKIDir, Output: outputTable},
		},
		{
			name: "environment",
			env: map[string]string{
				"SINERGI_ADDR": "sinergi:443", "SINERGI_CA": "ca.pem", "SINERGI_CERT": "c.pem", "SINERGI_KEY": "k.pem",
				"SINERGI_AS": "lapas-metro", "SINERGI_PKI_DIR": "/pki", "SINERGI_OUTPUT": "json",
				"SINERGI_REQUEST_ID": "r1", "SINERGI_TIMEOUT": "5s",
			},
			want: opts{Addr: "sinergi:443", CA: "ca.pem", Cert: "c.pem", Key: "k.pem", As: "lapas-metro", PKIDir: "/pki",
				Output: outputJSON, RequestID: "r1", Timeout: 5 * time.Second, TimeoutSet: true},
		},
		{
			name:   "flags override the environment, the later flag wins",
			env:    map[string]string{"SINERGI_AS": "lapas-metro", "SINERGI_OUTPUT": "json"},
			before: []string{"--as", "polres-metro", "--timeout", "0"},
			after:  []string{"-o", "table", "--request-id", "r2"},
			want: opts{Addr: defaultAddr, As: "polres-metro", PKIDir: defaultPKIDir, Output: outputTable, RequestID: "r2",
				TimeoutSet: true},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, globals, err := loadOptions(lookupEnv(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			fs := newFlagSet("sinergictl")
			registerGlobals(fs, globals, nil)
			if err := fs.Parse(tc.before); err != nil {
				t.Fatal(err)
			}
			if _, _, err := parseMethod(m, tc.after, globals, nil); err != nil {
				t.Fatal(err)
			}
			got := opts{o.addr, o.ca, o.cert, o.key, o.as, o.pkiDir, o.output, o.requestID, o.timeout.d, o.timeout.set}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}
