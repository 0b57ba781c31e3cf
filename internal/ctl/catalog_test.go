package ctl

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

func globalCatalog(t *testing.T) *catalog {
	t.Helper()
	cat, err := loadCatalog(protoregistry.GlobalFiles, protoregistry.GlobalTypes, apiPackage)
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// Every RPC of every sinergi.v1 service, found by walking the registry on
// its own, is offered by the catalog under a command name that finds it
// again, with the generated request and response types.
func TestCatalogOffersEveryMethod(t *testing.T) {
	var want []string
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if fd.Package() != apiPackage {
			return true
		}
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				want = append(want, "/"+string(sd.FullName())+"/"+string(sd.Methods().Get(j).Name()))
			}
		}
		return true
	})
	if len(want) == 0 {
		t.Fatal("no sinergi.v1 method is registered: the generated package is not linked in")
	}

	cat := globalCatalog(t)
	var got []string
	for _, s := range cat.services {
		for _, m := range s.methods {
			got = append(got, m.fullMethod)
			t.Run(s.name+"/"+m.name, func(t *testing.T) {
				if found := cat.service(s.name).method(m.name); found != m {
					t.Errorf("sinergictl %s %s finds %v, want %s", s.name, m.name, found, m.fullMethod)
				}
				for _, mt := range []protoreflect.MessageType{m.request, m.response} {
					if _, dynamic := mt.New().Interface().(*dynamicpb.Message); dynamic {
						t.Errorf("%s is a dynamic message, want the generated type", mt.Descriptor().FullName())
					}
				}
			})
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("catalog methods (-registry +catalog):\n%s", diff)
	}
}

// The generated service descriptions are what the server registers; each of
// their methods must be callable from the command line.
func TestCatalogCoversGeneratedServices(t *testing.T) {
	cat := globalCatalog(t)
	for _, sd := range []grpc.ServiceDesc{
		sinergiv1.InstitutionService_ServiceDesc,
		sinergiv1.AgreementService_ServiceDesc,
		sinergiv1.AuditService_ServiceDesc,
	} {
		for _, md := range sd.Methods {
			full := "/" + sd.ServiceName + "/" + md.MethodName
			t.Run(full, func(t *testing.T) {
				for _, s := range cat.services {
					for _, m := range s.methods {
						if m.fullMethod == full {
							return
						}
					}
				}
				t.Errorf("%s is not in the catalog", full)
			})
		}
	}
}

func TestCommandNames(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ListInstitutions", "list-institutions"},
		{"CheckCoverage", "check-coverage"},
		{"GetNIKStatus", "get-nik-status"},
		{"StreamV2Events", "stream-v2-events"},
		{"Institution", "institution"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := kebab(tc.in); got != tc.want {
				t.Errorf("kebab(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestLookupAcceptsSpellings(t *testing.T) {
	cat := globalCatalog(t)
	for _, tc := range []struct{ service, method string }{
		{"institution", "list-institutions"},
		{"InstitutionService", "ListInstitutions"},
		{"Institution", "list_institutions"},
	} {
		t.Run(tc.service+" "+tc.method, func(t *testing.T) {
			_, m, err := lookup(cat, tc.service, []string{tc.method})
			if err != nil {
				t.Fatal(err)
			}
			if m.fullMethod != sinergiv1.InstitutionService_ListInstitutions_FullMethodName {
				t.Errorf("found %s", m.fullMethod)
			}
		})
	}
	for _, tc := range [][]string{{"institutions", "list-institutions"}, {"institution", "list"}, {"institution"}} {
		t.Run("refuses "+tc[0], func(t *testing.T) {
			if _, _, err := lookup(cat, tc[0], tc[1:]); err == nil {
				t.Errorf("lookup(%q) found a method", tc)
			}
		})
	}
}
