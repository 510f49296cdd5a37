# Cloud firewalls: from the internet only the load balancers are reachable.
# Each role's Droplets accept what their clients in the VPC need and nothing
# else; SSH only from var.admin_cidrs (none by default).

locals {
  ssh_rules = length(var.admin_cidrs) > 0 ? [var.admin_cidrs] : []
  # Outbound: package mirrors, the registries, Let's Encrypt is the
  # balancer's business; DNS and NTP over UDP.
  egress = [
    { protocol = "tcp", port_range = "1-65535" },
    { protocol = "udp", port_range = "1-65535" },
    { protocol = "icmp", port_range = "" },
  ]

  # What each role's Droplets accept besides SSH, all over TCP: a port, and
  # who may reach it — its load balancer (load_balancers) or Droplets by
  # tag (tags).
  firewall_rules = {
    # ingest and query serve /metrics on 9464 (INGEST_METRICS_ADDR,
    # QUERY_METRICS_ADDR), a port their load balancer does not forward:
    # the internet reaches 8080 and 8082 only, through the balancer.
    ingest = [
      { port = "8080", load_balancers = [digitalocean_loadbalancer.ingest.id] },
      { port = "9464", tags = [digitalocean_tag.monitoring.id] },
    ]
    query = [
      { port = "8082", load_balancers = [digitalocean_loadbalancer.query.id] },
      { port = "9464", tags = [digitalocean_tag.monitoring.id] },
    ]
    enrich = [
      { port = "8081", tags = [digitalocean_tag.monitoring.id] },
    ]
    dashboards = [
      { port = "4180", load_balancers = [digitalocean_loadbalancer.dashboards.id] },
    ]
    # NATS: clients on 4222 (query too: the suppression list of user
    # deletions lives in a NATS KV bucket), the other nodes on 6222
    # (routes), monitoring on 8222.
    nats = [
      { port = "4222", tags = [for r in ["ingest", "enrich", "query"] : digitalocean_tag.role[r].id] },
      { port = "6222", tags = [digitalocean_tag.role["nats"].id] },
      { port = "8222", tags = [digitalocean_tag.monitoring.id] },
    ]
    # OpenSearch (self-hosted): HTTP from its users and monitoring, transport
    # between the nodes only. It runs without its security plugin, as in
    # docker-compose.yml: this firewall and the VPC are its only gate (README
    # "Security notes").
    opensearch = [
      {
        port = "9200"
        tags = concat([for r in ["enrich", "query", "dashboards", "opensearch"] : digitalocean_tag.role[r].id], [digitalocean_tag.monitoring.id])
      },
      { port = "9300", tags = [digitalocean_tag.role["opensearch"].id] },
    ]
  }
}

# One firewall a role, selecting its Droplets by the role's tag; none for
# OpenSearch when it is the managed service (its own firewall is in
# opensearch.tf).
resource "digitalocean_firewall" "role" {
  for_each = {
    for role, rules in local.firewall_rules : role => rules if !(role == "opensearch" && local.managed_opensearch)
  }
  name = "${var.name_prefix}-${each.key}"
  tags = [digitalocean_tag.role[each.key].id]

  dynamic "inbound_rule" {
    for_each = each.value
    content {
      protocol                  = "tcp"
      port_range                = inbound_rule.value.port
      source_load_balancer_uids = try(inbound_rule.value.load_balancers, null)
      source_tags               = try(inbound_rule.value.tags, null)
    }
  }
  dynamic "inbound_rule" {
    for_each = local.ssh_rules
    content {
      protocol         = "tcp"
      port_range       = "22"
      source_addresses = inbound_rule.value
    }
  }
  dynamic "outbound_rule" {
    for_each = local.egress
    content {
      protocol              = outbound_rule.value.protocol
      port_range            = outbound_rule.value.port_range
      destination_addresses = ["0.0.0.0/0", "::/0"]
    }
  }
}
