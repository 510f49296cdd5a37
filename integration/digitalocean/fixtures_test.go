package digitalocean

import (
	"path/filepath"
	"strings"

	"github.com/zclconf/go-cty/cty"
)

// Test values for everything the Terraform passes its templates: what a
// production apply would render, with recognisable stand-ins for the
// secrets (so a test can tell where each one ends up).
const (
	testVersion      = "1.4.0"
	testRegistry     = "registry.digitalocean.com/evtrack-test"
	testVPC          = "10.110.0.0/20"
	testPrivateIP    = "10.110.0.9"
	testWriteKeys    = "test-write-key-0123456789:app-one,test-write-key-9876543210:app-two"
	testReadTokens   = "test-read-token-0123456789:app-one|app-two,test-admin-token-0123456789:*"
	testPageKey      = "7465737470616765746f6b656e6b65797465737470616765746f6b656e6b6579"
	testPrevPageKey  = "70726576696f75737061676520746f6b656e206b657920666f722074657374ff"
	testClientSecret = "test-oidc-client-secret-0123456789"
	testCookieSecret = "dGVzdC1jb29raWUtc2VjcmV0LTAxMjM0NTY3ODlhYg"
	testOSPassword   = "test-managed-opensearch-password"
	testPseudonymKey = "7465737470736575646f6e796d6b65797465737470736575646f6e796d6b6579"
	testPrevPseudKey = "70726576696f7573207073657564306e796d206b657920666f7220746573747f"
	testRegistryAuth = `{"auths":{"registry.digitalocean.com":{"auth":"dGVzdC1yZWdpc3RyeS10b2tlbjp0ZXN0"}}}`
)

// secretValues are the stand-ins above that are secrets: each may appear
// only in a file of mode 0600.
var secretValues = []string{testWriteKeys, testReadTokens, testPageKey, testPrevPageKey, testPseudonymKey, testPrevPseudKey,
	testClientSecret, testCookieSecret, testOSPassword, "dGVzdC1yZWdpc3RyeS10b2tlbjp0ZXN0"}

var (
	testNATSIPs       = []string{"10.110.0.2", "10.110.0.3", "10.110.0.4"}
	testOpenSearchIPs = []string{"10.110.0.5", "10.110.0.6", "10.110.0.7"}
)

// file is one file a Droplet's cloud-init writes, rendered from a template
// of the Terraform (or, like the registry credentials, taken as is).
type file struct {
	path, permissions string
	template          string // relative to the terraform directory; "" for literal content
	vars              map[string]cty.Value
	content           string // the literal content, or the rendering
}

// node is one Droplet as the Terraform describes it: its role and the
// cloud-init template's other variables.
type node struct {
	name, role, volume string
	dataUID            int
	sysctls            []string
	files              []*file
}

// mode is one way of running OpenSearch (var.opensearch_mode).
type mode struct {
	name           string
	opensearchURLs []string
	username       string
	password       string
}

var modes = []mode{
	{name: "droplets", opensearchURLs: urls("http", testOpenSearchIPs, 9200)},
	{name: "managed", opensearchURLs: []string{"https://private-evtrack-opensearch-do-user-1.db.ondigitalocean.com:25060"}, username: "doadmin", password: testOSPassword},
}

func urls(scheme string, ips []string, port int) []string {
	var out []string
	for _, ip := range ips {
		out = append(out, scheme+"://"+ip+":"+itoa(port))
	}
	return out
}

func itoa(n int) string { return cty.NumberIntVal(int64(n)).AsBigFloat().Text('f', 0) }

func str(s string) cty.Value { return cty.StringVal(s) }

func strs(ss []string) cty.Value {
	if len(ss) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vals := make([]cty.Value, len(ss))
	for i, s := range ss {
		vals[i] = cty.StringVal(s)
	}
	return cty.ListVal(vals)
}

func num(n int64) cty.Value { return cty.NumberIntVal(n) }

func image(target string) string { return testRegistry + "/" + target + ":" + testVersion }

// nodes are the Droplets of one apply in mode m: 3 NATS nodes (routes as
// the chain in nats.tf), 3 OpenSearch nodes and a data-only one (droplets
// mode), and the stateless roles.
func nodes(m mode) []*node {
	natsURL := strings.Join(urls("nats", testNATSIPs, 4222), ",")
	osURL := strings.Join(m.opensearchURLs, ",")
	const maxStore = int64(100 * 0.9 * (1 << 30))
	registryAuth := &file{path: "/root/.docker/config.json", permissions: "0600", content: testRegistryAuth}
	opensearchEnv := &file{path: "/opt/evtrack/secrets/opensearch.env", permissions: "0600", template: "templates/secrets/opensearch.env.tftpl",
		vars: map[string]cty.Value{"username": str(m.username), "password": str(m.password)}}
	var out []*node
	if m.name == "droplets" {
		for i := range 3 {
			name := "evtrack-nats-" + itoa(i+1)
			out = append(out, &node{name: name, role: "nats", volume: name + "-data", files: []*file{
				{path: "/opt/evtrack/compose.yaml", permissions: "0644", template: "templates/compose/nats.yaml.tftpl",
					vars: map[string]cty.Value{"image": str("nats:2.12.15-alpine")}},
				{path: "/opt/evtrack/nats.conf", permissions: "0644", template: "templates/nats.conf.tftpl", vars: map[string]cty.Value{
					"server_name": str(name), "cluster_name": str("evtrack-nats"), "routes": strs(testNATSIPs[:i]), "max_file_store": num(maxStore)}},
			}})
		}
		managers := []string{"evtrack-opensearch-1", "evtrack-opensearch-2", "evtrack-opensearch-3"}
		for i := range 4 {
			name, roles, seeds, initial := "evtrack-opensearch-"+itoa(i+1), "cluster_manager,data,ingest", testOpenSearchIPs[:min(i, 3)], managers
			if i == 3 { // a data-only node (opensearch_extra_data_nodes)
				roles, initial = "data,ingest", nil
			}
			out = append(out, &node{name: name, role: "opensearch", volume: name + "-data", dataUID: 1000, sysctls: []string{"vm.max_map_count=262144"}, files: []*file{
				{path: "/opt/evtrack/compose.yaml", permissions: "0644", template: "templates/compose/opensearch.yaml.tftpl", vars: map[string]cty.Value{
					"image": str("opensearchproject/opensearch:2.19.6"), "cluster_name": str("evtrack-opensearch"), "node_name": str(name),
					"node_roles": str(roles), "seed_hosts": strs(seeds), "initial_managers": strs(initial), "heap": str("4g")}},
			}})
		}
	}
	common := func(extra map[string]cty.Value) map[string]cty.Value {
		v := map[string]cty.Value{"otlp_endpoint": str("http://10.110.0.20:4318"), "log_level": str("info")}
		for k, x := range extra {
			v[k] = x
		}
		return v
	}
	out = append(out,
		&node{name: "evtrack-ingest-1", role: "ingest", files: []*file{
			{path: "/opt/evtrack/compose.yaml", permissions: "0644", template: "templates/compose/ingest.yaml.tftpl", vars: common(map[string]cty.Value{
				"image": str(image("ingest")), "nats_url": str(natsURL), "stream_replicas": num(3),
				"stream_max_bytes": num(int64(100 * 0.8 * (1 << 30))), "trusted_proxies": str(testVPC)})},
			{path: "/opt/evtrack/secrets/ingest.env", permissions: "0600", template: "templates/secrets/ingest.env.tftpl",
				vars: map[string]cty.Value{"write_keys": str(testWriteKeys)}},
			registryAuth,
		}},
		&node{name: "evtrack-enrich-1", role: "enrich", files: []*file{
			{path: "/opt/evtrack/compose.yaml", permissions: "0644", template: "templates/compose/enrich.yaml.tftpl", vars: common(map[string]cty.Value{
				"image": str(image("enrich")), "deadletters_image": str(image("deadletters")), "nats_url": str(natsURL),
				"opensearch_url": str(osURL), "workers": num(3), "retention": str("720h"), "index_replicas": num(1), "suppression_replicas": num(3),
				"ip_anonymisation": str("truncate"), "pseudonymise_fields": str("user_id,anonymous_id")})},
			{path: "/opt/evtrack/secrets/enrich.env", permissions: "0600", template: "templates/secrets/enrich.env.tftpl",
				vars: map[string]cty.Value{"pseudonym_key": str(testPseudonymKey)}},
			opensearchEnv, registryAuth,
		}},
		&node{name: "evtrack-query-1", role: "query", files: []*file{
			{path: "/opt/evtrack/compose.yaml", permissions: "0644", template: "templates/compose/query.yaml.tftpl", vars: common(map[string]cty.Value{
				"image": str(image("query")), "opensearch_url": str(osURL), "audit_retention": str("2160h"), "index_replicas": num(1),
				"nats_url": str(natsURL), "suppression_replicas": num(3),
				"pseudonymise_fields": str("user_id,anonymous_id")})},
			{path: "/opt/evtrack/secrets/query.env", permissions: "0600", template: "templates/secrets/query.env.tftpl", vars: map[string]cty.Value{
				"tokens": str(testReadTokens), "page_token_key": str(testPageKey), "page_token_previous_keys": str(testPrevPageKey),
				"pseudonym_key": str(testPseudonymKey), "pseudonym_previous_keys": str(testPrevPseudKey)}},
			opensearchEnv, registryAuth,
		}},
		&node{name: "evtrack-dashboards", role: "dashboards", files: []*file{
			{path: "/opt/evtrack/compose.yaml", permissions: "0644", template: "templates/compose/dashboards.yaml.tftpl", vars: map[string]cty.Value{
				"dashboards_image": str("opensearchproject/opensearch-dashboards:2.19.6"), "oauth2_proxy_image": str("quay.io/oauth2-proxy/oauth2-proxy:v7.8.1"),
				"init_image": str(image("dashboards-init")), "opensearch_urls": strs(m.opensearchURLs),
				"oidc_issuer_url": str("https://accounts.example.com"), "email_domains": strs([]string{"example.com", "example.org"}),
				"public_url": str("https://dashboards.example.com")}},
			{path: "/opt/evtrack/secrets/oauth2-proxy.env", permissions: "0600", template: "templates/secrets/oauth2-proxy.env.tftpl", vars: map[string]cty.Value{
				"client_id": str("evtrack-dashboards"), "client_secret": str(testClientSecret), "cookie_secret": str(testCookieSecret)}},
			opensearchEnv, registryAuth,
		}},
	)
	return out
}

// cloudInitVars are the cloud-init template's variables for n.
func (n *node) cloudInitVars() map[string]cty.Value {
	var files []cty.Value
	for _, f := range n.files {
		files = append(files, cty.ObjectVal(map[string]cty.Value{
			"path": str(f.path), "permissions": str(f.permissions), "content": str(f.content)}))
	}
	return map[string]cty.Value{
		"role": str(n.role), "volume_name": str(n.volume), "data_uid": num(int64(n.dataUID)),
		"sysctls": strs(n.sysctls), "files": cty.TupleVal(files),
	}
}

// render renders every file of n from its template under dir.
func (n *node) render(dir string) error {
	for _, f := range n.files {
		if f.template == "" {
			continue
		}
		out, err := Render(filepath.Join(dir, f.template), f.vars)
		if err != nil {
			return err
		}
		f.content = out
	}
	return nil
}
