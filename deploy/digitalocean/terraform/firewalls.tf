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
}

resource "digitalocean_firewall" "ingest" {
  name = "${var.name_prefix}-ingest"
  tags = [digitalocean_tag.role["ingest"].id]

  inbound_rule {
    protocol                  = "tcp"
    port_range                = "8080"
    source_load_balancer_uids = [digitalocean_loadbalancer.ingest.id]
  }
  inbound_rule {
    protocol    = "tcp"
    port_range  = "8080"
    source_tags = [var.monitoring_tag]
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

resource "digitalocean_firewall" "query" {
  name = "${var.name_prefix}-query"
  tags = [digitalocean_tag.role["query"].id]

  inbound_rule {
    protocol                  = "tcp"
    port_range                = "8082"
    source_load_balancer_uids = [digitalocean_loadbalancer.query.id]
  }
  inbound_rule {
    protocol    = "tcp"
    port_range  = "8082"
    source_tags = [var.monitoring_tag]
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

resource "digitalocean_firewall" "enrich" {
  name = "${var.name_prefix}-enrich"
  tags = [digitalocean_tag.role["enrich"].id]

  inbound_rule {
    protocol    = "tcp"
    port_range  = "8081"
    source_tags = [var.monitoring_tag]
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

resource "digitalocean_firewall" "dashboards" {
  name = "${var.name_prefix}-dashboards"
  tags = [digitalocean_tag.role["dashboards"].id]

  inbound_rule {
    protocol                  = "tcp"
    port_range                = "4180"
    source_load_balancer_uids = [digitalocean_loadbalancer.dashboards.id]
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

# NATS: clients (ingest, enrich) on 4222, the other nodes on 6222 (routes),
# monitoring on 8222.
resource "digitalocean_firewall" "nats" {
  name = "${var.name_prefix}-nats"
  tags = [digitalocean_tag.role["nats"].id]

  inbound_rule {
    protocol    = "tcp"
    port_range  = "4222"
    # query: the suppression list of user deletions lives in a NATS KV bucket.
    source_tags = [digitalocean_tag.role["ingest"].id, digitalocean_tag.role["enrich"].id, digitalocean_tag.role["query"].id]
  }
  inbound_rule {
    protocol    = "tcp"
    port_range  = "6222"
    source_tags = [digitalocean_tag.role["nats"].id]
  }
  inbound_rule {
    protocol    = "tcp"
    port_range  = "8222"
    source_tags = [var.monitoring_tag]
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

# OpenSearch (self-hosted): HTTP from its users and monitoring, transport
# between the nodes only. It runs without its security plugin, as in
# docker-compose.yml: this firewall and the VPC are its only gate (README
# "Security notes").
resource "digitalocean_firewall" "opensearch" {
  count = local.managed_opensearch ? 0 : 1
  name  = "${var.name_prefix}-opensearch"
  tags  = [digitalocean_tag.role["opensearch"].id]

  inbound_rule {
    protocol    = "tcp"
    port_range  = "9200"
    source_tags = [
      digitalocean_tag.role["enrich"].id, digitalocean_tag.role["query"].id,
      digitalocean_tag.role["dashboards"].id, digitalocean_tag.role["opensearch"].id, var.monitoring_tag,
    ]
  }
  inbound_rule {
    protocol    = "tcp"
    port_range  = "9300"
    source_tags = [digitalocean_tag.role["opensearch"].id]
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
