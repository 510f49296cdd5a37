# The network, the tags every firewall and load balancer selects Droplets by,
# the registry, and the values every role's configuration shares.

locals {
  roles = toset(["nats", "opensearch", "ingest", "enrich", "query", "dashboards"])

  ingest_fqdn     = "${var.ingest_hostname}.${var.domain}"
  query_fqdn      = "${var.query_hostname}.${var.domain}"
  dashboards_fqdn = "${var.dashboards_hostname}.${var.domain}"

  # The project's images, as `docker build --target <name>` makes them and
  # README "First deploy" pushes them.
  registry = "registry.digitalocean.com/${digitalocean_container_registry.main.name}"
  images   = {
    for target in ["ingest", "enrich", "query", "deadletters", "dashboards-init"] :
    target => "${local.registry}/${target}:${var.image_version}"
  }

  # Every client is given all three NATS nodes (NATS_URL is a comma-separated
  # list of seeds) and every OpenSearch node (OPENSEARCH_URL likewise).
  nats_ips = [module.nats_1.private_ip, module.nats_2.private_ip, module.nats_3.private_ip]
  nats_url = join(",", [for ip in local.nats_ips : "nats://${ip}:4222"])

  managed_opensearch = var.opensearch_mode == "managed"
  opensearch_ips     = concat(
    module.opensearch_1[*].private_ip, module.opensearch_2[*].private_ip,
    module.opensearch_3[*].private_ip, module.opensearch_data[*].private_ip,
  )
  opensearch_urls = (local.managed_opensearch
    ? [for c in digitalocean_database_cluster.opensearch : "https://${c.private_host}:${c.port}"]
    : [for ip in local.opensearch_ips : "http://${ip}:9200"]
  )
  opensearch_username = local.managed_opensearch ? one(digitalocean_database_cluster.opensearch[*].user) : ""
  opensearch_password = local.managed_opensearch ? one(digitalocean_database_cluster.opensearch[*].password) : ""

  # The stream is replicated on all three nodes and refuses new batches
  # (503 stream_full) at 80% of a node's volume, before the disk is full.
  stream_replicas  = 3
  stream_max_bytes = floor(var.nats_volume_gib * 0.8 * 1073741824)
  nats_max_store   = floor(var.nats_volume_gib * 0.9 * 1073741824)

  # Pull credentials for the registry (read-only), on the Droplets that run
  # the project's images.
  registry_auth_file = {
    path        = "/root/.docker/config.json"
    permissions = "0600"
    content     = digitalocean_container_registry_docker_credentials.pull.docker_credentials
  }
}

resource "digitalocean_vpc" "main" {
  name        = "${var.name_prefix}-vpc"
  region      = var.region
  ip_range    = var.vpc_ip_range
  description = "evtrack telemetry: every Droplet, the load balancers and a managed OpenSearch talk over this network only"
}

resource "digitalocean_tag" "role" {
  for_each = local.roles
  name     = "${var.name_prefix}-${each.key}"
}

resource "digitalocean_tag" "all" {
  name = var.name_prefix
}

# The tag a Prometheus Droplet carries to scrape the nodes: the firewalls
# name it, and a firewall naming a tag that does not exist yet fails to
# apply. Creating a tag that exists adopts it.
resource "digitalocean_tag" "monitoring" {
  name = var.monitoring_tag
}

resource "digitalocean_container_registry" "main" {
  name                   = var.registry_name
  subscription_tier_slug = var.registry_tier
  region                 = var.region
}

# Read-only pull credentials, written to the Droplets that run the project's
# images. Replace yearly (README "Rotating secrets").
resource "digitalocean_container_registry_docker_credentials" "pull" {
  registry_name  = digitalocean_container_registry.main.name
  write          = false
  expiry_seconds = 31536000
}

# The DNS zone must already be hosted by DigitalOcean: Let's Encrypt
# certificates of load balancers are issued through it.
data "digitalocean_domain" "main" {
  name = var.domain
}

resource "digitalocean_project" "main" {
  name        = var.name_prefix
  description = "evtrack telemetry pipeline"
  purpose     = "Service or API"
  environment = "Production"
  resources   = concat(
    [digitalocean_loadbalancer.ingest.urn, digitalocean_loadbalancer.query.urn, digitalocean_loadbalancer.dashboards.urn],
    [for d in digitalocean_droplet.service : d.urn],
    [module.nats_1.urn, module.nats_2.urn, module.nats_3.urn],
    [module.nats_1.volume_urn, module.nats_2.volume_urn, module.nats_3.volume_urn],
    module.opensearch_1[*].urn, module.opensearch_2[*].urn, module.opensearch_3[*].urn, module.opensearch_data[*].urn,
    module.opensearch_1[*].volume_urn, module.opensearch_2[*].volume_urn, module.opensearch_3[*].volume_urn,
    module.opensearch_data[*].volume_urn,
  )
}
