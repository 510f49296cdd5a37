package digitalocean

import (
	"fmt"
	"slices"
	"testing"

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
	for _, role := range []string{"ingest", "query", "dashboards"} {
		lb := m.Resources["digitalocean_loadbalancer."+role]
		fw := m.Resources["digitalocean_firewall."+role]
		if lb == nil || fw == nil {
			t.Fatalf("%s: want a load balancer and a firewall", role)
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
		// The firewall's rule for the balancer names that port.
		allowed := false
		for _, b := range fw.Body.Blocks {
			if _, fromLB := b.Body.Attributes["source_load_balancer_uids"]; b.Type == "inbound_rule" && fromLB {
				v, diags := b.Body.Attributes["port_range"].Expr.Value(nil)
				allowed = allowed || (!diags.HasErrors() && slices.Contains(ports, v.AsString()))
			}
			if _, fromAnywhere := b.Body.Attributes["source_addresses"]; b.Type == "inbound_rule" && fromAnywhere {
				t.Errorf("%s: an inbound rule open to addresses: only the load balancer faces the internet", role)
			}
		}
		if !allowed {
			t.Errorf("%s: the firewall does not let its load balancer reach port %v", role, ports)
		}
	}
}
