package digitalocean

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/evtrack/telemetry/tools/servers"
)

// terraformDir is deploy/digitalocean/terraform (this package is
// integration/digitalocean).
func terraformDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "deploy", "digitalocean", "terraform"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "main.tf")); err != nil {
		t.Fatalf("terraform directory: %v", err)
	}
	return dir
}

func loadModule(t *testing.T, dir string) *Module {
	t.Helper()
	m, err := LoadModule(dir)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return m
}

func TestTerraformReferencesResolve(t *testing.T) {
	m := loadModule(t, terraformDir(t))
	for _, err := range m.Check() {
		t.Error(err)
	}
	if _, err := m.TemplateCalls(); err != nil {
		t.Error(err)
	}
	// What the deployment is made of, as the issue asks for it.
	for _, want := range []string{
		"digitalocean_vpc.main", "digitalocean_container_registry.main", "digitalocean_loadbalancer.ingest",
		"digitalocean_loadbalancer.query", "digitalocean_loadbalancer.dashboards", "digitalocean_certificate.public",
		"digitalocean_droplet.service", "digitalocean_firewall.role", "digitalocean_database_cluster.opensearch",
	} {
		if _, ok := m.Resources[want]; !ok {
			t.Errorf("no resource %s", want)
		}
	}
	// The Droplets of every stateless role, and a firewall for every role
	// (OpenSearch's while it runs on Droplets), keyed by role.
	for local, roles := range map[string][]string{
		"services":       {"ingest", "query", "enrich", "dashboards"},
		"service_files":  {"ingest", "query", "enrich", "dashboards"},
		"firewall_rules": {"ingest", "query", "enrich", "dashboards", "nats", "opensearch"},
	} {
		keys := objectKeys(t, m, local)
		for _, role := range roles {
			if !slices.Contains(keys, role) {
				t.Errorf("local %s: no %s (has %v)", local, role, keys)
			}
		}
	}
	for _, want := range []string{"nats_1", "nats_2", "nats_3", "opensearch_1", "opensearch_2", "opensearch_3"} {
		if _, ok := m.Calls[want]; !ok {
			t.Errorf("no module %s", want)
		}
	}
}

// The checker itself: each broken configuration must be reported, with the
// reason.
func TestCheckerCatchesBrokenReferences(t *testing.T) {
	src := terraformDir(t)
	for _, tc := range []struct{ name, hcl, want string }{
		{"undeclared variable", `output "broken" { value = var.nope }`, "var.nope is not declared"},
		{"undeclared local", `output "broken" { value = local.nope }`, "local.nope is not declared"},
		{"undeclared module", `output "broken" { value = module.nope.private_ip }`, "module.nope is not declared"},
		{"missing module output", `output "broken" { value = module.nats_1.nope }`, `module "nats_1" has no output "nope"`},
		{"missing module output under a splat", `output "broken" { value = module.opensearch_1[*].nope }`, `module "opensearch_1" has no output "nope"`},
		{"undeclared resource", `output "broken" { value = digitalocean_droplet.nope.id }`, "digitalocean_droplet.nope is not a declared resource"},
		{"undeclared data source", `output "broken" { value = data.digitalocean_domain.nope.id }`, "data.digitalocean_domain.nope is not declared"},
		{"count outside count", `output "broken" { value = count.index }`, "count.index outside a block with count"},
		{"each outside for_each", `output "broken" { value = each.key }`, "each.key outside a block with for_each"},
		{"unknown function", `output "broken" { value = nope(1) }`, "unknown function nope()"},
		{"unknown root", `output "broken" { value = nope.x }`, "nope: not a reference Terraform knows"},
		{"template missing a variable", `output "broken" { value = templatefile("${path.module}/templates/secrets/ingest.env.tftpl", {}) }`, "passes [], the template uses [write_keys]"},
		{"template given an extra variable", `output "broken" { value = templatefile("${path.module}/templates/secrets/ingest.env.tftpl", { write_keys = "k", nope = 1 }) }`, "passes [nope write_keys]"},
		{"missing template", `output "broken" { value = templatefile("${path.module}/templates/nope.tftpl", {}) }`, "nope.tftpl: no such file"},
		{"unknown module input, required input missing", `module "broken" {
  source = "./modules/node"
  nope   = 1
}`, `module "broken": nope is not a variable of`},
		{"required module input missing", `module "broken" { source = "./modules/node" }`, `module "broken": required variable name not given`},
		{"unused variable", `variable "unused" {
  description = "never used"
  type        = string
}`, `variable "unused" is never used`},
		{"dynamic iterator outside its block", `output "broken" { value = inbound_rule.value }`, "inbound_rule.value is not a declared resource"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyTree(t, src)
			if err := os.WriteFile(filepath.Join(dir, "broken.tf"), []byte(tc.hcl+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			m := loadModule(t, dir)
			var all []string
			for _, err := range m.Check() {
				all = append(all, err.Error())
			}
			if _, err := m.TemplateCalls(); err != nil {
				all = append(all, err.Error())
			}
			if !slices.ContainsFunc(all, func(s string) bool { return strings.Contains(s, tc.want) }) {
				t.Errorf("want an error containing %q, got %d:\n%s", tc.want, len(all), strings.Join(all, "\n"))
			}
		})
	}
}

func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

var secretName = regexp.MustCompile(`(key|token|secret|password)s?$`)

func TestVariables(t *testing.T) {
	root := terraformDir(t)
	m := loadModule(t, root)
	all := map[string]*Module{m.Dir: m}
	for _, c := range m.Children {
		all[c.Dir] = c
	}
	for _, mod := range all {
		for name, v := range mod.Variables {
			if strings.TrimSpace(v.Description) == "" || !v.HasType {
				t.Errorf("%s: variable %s: want a description and a type", mod.Dir, name)
			}
			if secretName.MatchString(name) && !v.Sensitive {
				t.Errorf("variable %s: its name says secret, but it is not sensitive = true", name)
			}
			if v.Sensitive && v.Default != nil && !(v.Default.Type() == cty.String && v.Default.AsString() == "") {
				t.Errorf("variable %s: a sensitive variable with a default (secrets come from TF_VAR_%s only)", name, name)
			}
		}
	}
	for _, s := range []string{"ingest_write_keys", "query_tokens", "query_page_token_key", "oauth2_client_secret", "oauth2_cookie_secret"} {
		if v := m.Variables[s]; v == nil || !v.Sensitive || v.Default != nil {
			t.Errorf("variable %s: want a sensitive variable without a default", s)
		}
	}
	// The servers are the versions the tests run.
	versions, err := servers.LoadVersions(filepath.Join(root, "..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"nats_image":       "nats:" + strings.TrimPrefix(versions["NATS_SERVER_VERSION"], "v") + "-alpine",
		"opensearch_image": "opensearchproject/opensearch:" + versions["OPENSEARCH_VERSION"],
		"dashboards_image": "opensearchproject/opensearch-dashboards:" + versions["OPENSEARCH_VERSION"],
	} {
		v := m.Variables[name]
		if v == nil || v.Default == nil || v.Default.AsString() != want {
			t.Errorf("variable %s: want the default %s (scripts/versions.env)", name, want)
		}
	}
	// Nothing secret is committed: no tfvars, state or backend settings
	// beside the example.
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".tfvars") || strings.Contains(n, ".tfstate") || n == "backend.hcl" {
			t.Errorf("%s must never be in the repository", n)
		}
	}
}

// Every template is used by the Terraform and rendered by the tests with
// exactly the names the Terraform passes it.
func TestTemplatesMatchFixtures(t *testing.T) {
	root := terraformDir(t)
	m := loadModule(t, root)
	calls, err := m.TemplateCalls()
	if err != nil {
		t.Fatal(err)
	}
	called := map[string]bool{}
	for _, c := range calls {
		rel, _ := filepath.Rel(root, c.Path)
		called[rel] = true
	}
	fixtures := map[string][]map[string]cty.Value{}
	for _, md := range modes {
		for _, n := range nodes(md) {
			fixtures["templates/cloud-init.yaml.tftpl"] = append(fixtures["templates/cloud-init.yaml.tftpl"], n.cloudInitVars())
			for _, f := range n.files {
				if f.template != "" {
					fixtures[f.template] = append(fixtures[f.template], f.vars)
				}
			}
		}
	}
	templates, _ := filepath.Glob(filepath.Join(root, "templates", "*", "*.tftpl"))
	top, _ := filepath.Glob(filepath.Join(root, "templates", "*.tftpl"))
	for _, p := range append(top, templates...) {
		rel, _ := filepath.Rel(root, p)
		if !called[rel] {
			t.Errorf("%s: no templatefile() call uses it", rel)
		}
		if len(fixtures[rel]) == 0 {
			t.Errorf("%s: no test renders it", rel)
		}
		uses, err := TemplateVariables(p)
		if err != nil {
			t.Error(err)
			continue
		}
		for _, vars := range fixtures[rel] {
			if got := slices.Sorted(maps.Keys(vars)); !slices.Equal(got, uses) {
				t.Errorf("%s: the test passes %v, the template (and so the Terraform) %v", rel, got, uses)
			}
		}
	}
	for rel := range called {
		if len(fixtures[rel]) == 0 {
			t.Errorf("%s: called by the Terraform, rendered by no test", rel)
		}
	}
}

// objectKeys are the keys of the local name, an object written out.
func objectKeys(t *testing.T, m *Module, name string) []string {
	t.Helper()
	a := m.Locals[name]
	if a == nil {
		t.Fatalf("no local %s", name)
	}
	obj, ok := a.Expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		t.Fatalf("%s: local %s: want an object", a.SrcRange, name)
	}
	var keys []string
	for _, item := range obj.Items {
		keys = append(keys, hcl.ExprAsKeyword(item.KeyExpr))
	}
	return keys
}
