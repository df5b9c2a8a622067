package layering

import (
	"os/exec"
	"strings"
	"testing"
)

// heavy are the module paths no core package may depend on.
var heavy = []string{
	"github.com/redis/go-redis",
	"go.etcd.io/bbolt",
	"github.com/emersion/go-smtp",
	"github.com/emersion/go-sasl",
	"github.com/emersion/go-msgauth",
}

// core are the packages a sender imports to enforce MTA-STS and record
// TLS-RPT sessions.
var core = []string{
	"github.com/strictmx/strictmx/mtasts",
	"github.com/strictmx/strictmx/mtasts/resolver",
	"github.com/strictmx/strictmx/mtasts/dane",
	"github.com/strictmx/strictmx/tlsrpt",
	"github.com/strictmx/strictmx/cache",
}

// allowed lists, for the packages whose place in the layering is fixed,
// what they may import besides the standard library: import paths, or
// prefixes ending in "/".
var allowed = map[string][]string{
	// mtasts/dane sits between the resolver and mtasts: it must not import
	// mtasts.
	"github.com/strictmx/strictmx/mtasts/dane": {
		"github.com/strictmx/strictmx/tlsrpt",
		"github.com/strictmx/strictmx/mtasts/resolver",
		"github.com/strictmx/strictmx/internal/",
		"github.com/hashicorp/golang-lru/v2",
	},
}

func TestAllowedImports(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH to list imports with")
	}
	for pkg, ok := range allowed {
		out, err := exec.Command(gobin, "list", "-f", `{{join .Imports "\n"}}`, pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
	imports:
		for _, imp := range strings.Fields(string(out)) {
			first, _, _ := strings.Cut(imp, "/")
			if !strings.Contains(first, ".") {
				continue // the standard library
			}
			for _, a := range ok {
				if imp == a || strings.HasSuffix(a, "/") && strings.HasPrefix(imp, a) {
					continue imports
				}
			}
			t.Errorf("%s imports %s, which its layer does not allow", pkg, imp)
		}
	}
}

func TestCoreDependencies(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH to list dependencies with")
	}
	for _, pkg := range core {
		out, err := exec.Command(gobin, "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) == 0 {
			t.Fatalf("go list -deps %s listed nothing", pkg)
		}
		for _, d := range deps {
			for _, h := range heavy {
				if d == h || strings.HasPrefix(d, h+"/") {
					t.Errorf("%s depends on %s: move what needs it into a subpackage", pkg, d)
				}
			}
		}
	}
}
