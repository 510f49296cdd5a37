# OpenSearch: three cluster-manager-eligible data nodes on Droplets with
# volumes (opensearch_mode = "droplets", the default), the image
# docker-compose.yml runs; optional data-only nodes for the larger sizes.
# Seeding follows the NATS routes: node k names nodes 1..k-1; a restarted
# node also finds its peers in the cluster state on its volume.
#
# opensearch_mode = "managed" creates DigitalOcean's managed OpenSearch
# instead (README "Managed OpenSearch") and none of the Droplets.

locals {
  opensearch_cluster  = "${var.name_prefix}-opensearch"
  opensearch_managers = [for i in [1, 2, 3] : "${var.name_prefix}-opensearch-${i}"]
  opensearch_count    = local.managed_opensearch ? 0 : 1
  opensearch_node = {
    region               = var.region
    size                 = var.opensearch_size
    image                = var.droplet_image
    vpc_uuid             = digitalocean_vpc.main.id
    ssh_key_fingerprints = var.ssh_key_fingerprints
    tags                 = [digitalocean_tag.role["opensearch"].id, digitalocean_tag.all.id]
    volume_gib           = var.opensearch_volume_gib
    role                 = "opensearch"
    data_uid             = 1000
    # The kernel setting OpenSearch needs for its memory-mapped files.
    sysctls = ["vm.max_map_count=262144"]
  }
}

# Each node's one file is its compose file: its name, roles and seeds. Three
# calls, not one with count, for the reason nats.tf gives.
module "opensearch_1" {
  source = "./modules/node"
  count  = local.opensearch_count
  name   = local.opensearch_managers[0]
  spec   = local.opensearch_node
  files = [{
    path = "/opt/evtrack/compose.yaml", permissions = "0644"
    content = templatefile("${path.module}/templates/compose/opensearch.yaml.tftpl", {
      node_name = local.opensearch_managers[0], node_roles = "cluster_manager,data,ingest",
      image     = var.opensearch_image, cluster_name = local.opensearch_cluster, heap = var.opensearch_heap,
      seed_hosts = [],
      initial_managers = local.opensearch_managers,
    })
  }]
}

module "opensearch_2" {
  source = "./modules/node"
  count  = local.opensearch_count
  name   = local.opensearch_managers[1]
  spec   = local.opensearch_node
  files = [{
    path = "/opt/evtrack/compose.yaml", permissions = "0644"
    content = templatefile("${path.module}/templates/compose/opensearch.yaml.tftpl", {
      node_name = local.opensearch_managers[1], node_roles = "cluster_manager,data,ingest",
      image     = var.opensearch_image, cluster_name = local.opensearch_cluster, heap = var.opensearch_heap,
      seed_hosts = module.opensearch_1[*].private_ip,
      initial_managers = local.opensearch_managers,
    })
  }]
}

module "opensearch_3" {
  source = "./modules/node"
  count  = local.opensearch_count
  name   = local.opensearch_managers[2]
  spec   = local.opensearch_node
  files = [{
    path = "/opt/evtrack/compose.yaml", permissions = "0644"
    content = templatefile("${path.module}/templates/compose/opensearch.yaml.tftpl", {
      node_name = local.opensearch_managers[2], node_roles = "cluster_manager,data,ingest",
      image     = var.opensearch_image, cluster_name = local.opensearch_cluster, heap = var.opensearch_heap,
      seed_hosts = concat(module.opensearch_1[*].private_ip, module.opensearch_2[*].private_ip),
      initial_managers = local.opensearch_managers,
    })
  }]
}

# Data-only nodes: they seed from the three above and never vote.
module "opensearch_data" {
  source = "./modules/node"
  count  = local.managed_opensearch ? 0 : var.opensearch_extra_data_nodes
  name   = "${var.name_prefix}-opensearch-${count.index + 4}"
  spec   = local.opensearch_node
  files = [{
    path = "/opt/evtrack/compose.yaml", permissions = "0644"
    content = templatefile("${path.module}/templates/compose/opensearch.yaml.tftpl", {
      node_name = "${var.name_prefix}-opensearch-${count.index + 4}", node_roles = "data,ingest",
      image     = var.opensearch_image, cluster_name = local.opensearch_cluster, heap = var.opensearch_heap,
      seed_hosts = concat(module.opensearch_1[*].private_ip, module.opensearch_2[*].private_ip, module.opensearch_3[*].private_ip),
      initial_managers = [],
    })
  }]
}

# --- opensearch_mode = "managed" -------------------------------------------

resource "digitalocean_database_cluster" "opensearch" {
  count                = local.managed_opensearch ? 1 : 0
  name                 = local.opensearch_cluster
  engine               = "opensearch"
  version              = "2"
  size                 = var.managed_opensearch_size
  region               = var.region
  node_count           = var.managed_opensearch_nodes
  private_network_uuid = digitalocean_vpc.main.id
  tags                 = [digitalocean_tag.all.id]
}

# Only the Droplets that use OpenSearch reach the managed cluster.
resource "digitalocean_database_firewall" "opensearch" {
  count      = local.managed_opensearch ? 1 : 0
  cluster_id = digitalocean_database_cluster.opensearch[0].id

  dynamic "rule" {
    for_each = ["enrich", "query", "dashboards"]
    content {
      type  = "tag"
      value = digitalocean_tag.role[rule.value].name
    }
  }
}
