package digitalocean

import (
	"fmt"
	"slices"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// literalNumber is a block attribute's value when it is a constant number.
func literalNumber(t *testing.T, b *hclsyntax.Block, name string) string {
	t.Helper()
	a, ok := b.Body.Attributes[name]
	if !ok {
		t.Fatalf("%s: no %s", b.DefRange(), name)
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() || v.Type() != cty.Number {
		t.Fatalf("%s: %s is not a constant number", a.SrcRange, name)
	}
	return v.AsBigFloat().Text('f', 0)
}

// Each load balancer forwards to, and checks the health of, a port the
// role's compose file publishes, and the role's firewall lets that balancer
// (and only a balancer or the VPC's tags) reach it.
func TestLoadBalancersReachTheServices(t *testing.T) {
	m := loadModule(t, terraformDir(t))
	published := map[string][]string{}
	for _, n := range renderedNodes(t)["droplets"] {
		if _, ok := published[n.role]; ok {
			continue
		}
		project := loadProject(t, writeFiles(t, n), "compose.yaml")
		for _, svc := range project.Services {
			for _, p := range svc.Ports {
				published[n.role] = append(published[n.role], fmt.Sprint(p.Target))
			}
		}
	}
	rules := firewallRules(t, m)
	fw := m.Resources["digitalocean_firewall.role"]
	if fw == nil {
		t.Fatal("no digitalocean_firewall.role")
	}
	checkFirewallMapsRules(t, fw)
	for _, role := range []string{"ingest", "query", "dashboards"} {
		lb := m.Resources["digitalocean_loadbalancer."+role]
		if lb == nil || rules[role] == nil {
			t.Fatalf("%s: want a load balancer and firewall rules", role)
		}
		var ports []string
		for _, b := range lb.Body.Blocks {
			switch b.Type {
			case "forwarding_rule":
				ports = append(ports, literalNumber(t, b, "target_port"))
			case "healthcheck":
				ports = append(ports, literalNumber(t, b, "port"))
			}
		}
		for _, p := range ports {
			if !slices.Contains(published[role], p) {
				t.Errorf("%s: the load balancer uses port %s, the compose file publishes %v", role, p, published[role])
			}
		}
		// The firewall's rule for the balancer names that port and that
		// balancer.
		allowed := false
		for _, r := range rules[role] {
			if lbs, fromLB := r["load_balancers"]; fromLB && refersTo(lbs, "digitalocean_loadbalancer", role) {
				v, diags := r["port"].Value(nil)
				allowed = allowed || (!diags.HasErrors() && v.Type() == cty.String && slices.Contains(ports, v.AsString()))
			}
		}
		if !allowed {
			t.Errorf("%s: the firewall does not let its load balancer reach port %v", role, ports)
		}
	}
}

// firewallRules reads local.firewall_rules: by role, each inbound rule's
// attributes (port, load_balancers, tags) as written. Any other attribute —
// addresses, which would open a role to the internet — fails the test.
func firewallRules(t *testing.T, m *Module) map[string][]map[string]hclsyntax.Expression {
	t.Helper()
	a := m.Locals["firewall_rules"]
	if a == nil {
		t.Fatal("no local firewall_rules")
	}
	roles, ok := a.Expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		t.Fatalf("%s: local firewall_rules: want an object of roles", a.SrcRange)
	}
	out := map[string][]map[string]hclsyntax.Expression{}
	for _, item := range roles.Items {
		role := hcl.ExprAsKeyword(item.KeyExpr)
		list, ok := item.ValueExpr.(*hclsyntax.TupleConsExpr)
		if !ok {
			t.Fatalf("%s: firewall rules of %s: want a list", item.ValueExpr.Range(), role)
		}
		for _, e := range list.Exprs {
			obj, ok := e.(*hclsyntax.ObjectConsExpr)
			if !ok {
				t.Fatalf("%s: a firewall rule of %s: want an object", e.Range(), role)
			}
			rule := map[string]hclsyntax.Expression{}
			for _, kv := range obj.Items {
				k := hcl.ExprAsKeyword(kv.KeyExpr)
				if !slices.Contains([]string{"port", "load_balancers", "tags"}, k) {
					t.Errorf("%s: %s: a rule may name a port, load_balancers and tags, not %q: only the load balancers face the internet", kv.KeyExpr.Range(), role, k)
				}
				rule[k] = kv.ValueExpr
			}
			out[role] = append(out[role], rule)
		}
	}
	return out
}

// checkFirewallMapsRules checks that the firewall resource turns each rule
// of its role into an inbound rule of the same port and sources, and that
// the only inbound rule open to addresses is SSH (from var.admin_cidrs).
func checkFirewallMapsRules(t *testing.T, fw *hclsyntax.Block) {
	t.Helper()
	want := map[string]string{"port_range": "port", "source_load_balancer_uids": "load_balancers", "source_tags": "tags"}
	mapped := false
	for _, b := range fw.Body.Blocks {
		if b.Type == "inbound_rule" {
			t.Errorf("%s: a literal inbound rule: the rules are local.firewall_rules", b.DefRange())
		}
		if b.Type != "dynamic" || b.Labels[0] != "inbound_rule" || len(b.Body.Blocks) != 1 {
			continue
		}
		content := b.Body.Blocks[0].Body
		if _, ok := content.Attributes["source_addresses"]; ok {
			if p, _ := literalString(content.Attributes["port_range"]); p != "22" || !refersTo(b.Body.Attributes["for_each"].Expr, "local", "ssh_rules") {
				t.Errorf("%s: an inbound rule open to addresses other than SSH from var.admin_cidrs", b.DefRange())
			}
			continue
		}
		if !refersTo(b.Body.Attributes["for_each"].Expr, "each", "value") {
			t.Errorf("%s: want the role's rules (each.value)", b.DefRange())
			continue
		}
		mapped = true
		for attr, key := range want {
			if a := content.Attributes[attr]; a == nil || !refersTo(a.Expr, "inbound_rule", "value", key) {
				t.Errorf("%s: %s must be the rule's %s", b.DefRange(), attr, key)
			}
		}
	}
	if !mapped {
		t.Errorf("%s: no dynamic inbound_rule over the role's rules", fw.DefRange())
	}
}

// refersTo reports whether e refers to root.names… (a traversal starting
// with those attribute names).
func refersTo(e hclsyntax.Expression, root string, names ...string) bool {
	for _, tr := range hclsyntax.Variables(e) {
		if tr.RootName() != root || len(tr) < len(names)+1 {
			continue
		}
		match := true
		for i, n := range names {
			if a, ok := tr[i+1].(hcl.TraverseAttr); !ok || a.Name != n {
				match = false
			}
		}
		if match {
			return true
		}
	}
	return false
}
