# Three NATS JetStream nodes, each on its own Droplet with a volume, running
# the image docker-compose.yml runs (templates/compose/nats.yaml.tftpl).
#
# Routes: node k names nodes 1..k-1 (their addresses exist before it does),
# so every pair of nodes has one side that dials the other and keeps
# redialling it: the full mesh re-forms whichever node restarts. Node 1 is
# named by the others and names only itself (templates/nats.conf.tftpl: a
# clustered JetStream does not start on a node with no route configured). So the nodes are three module calls,
# not one with count: a node's configuration names the addresses of the
# nodes before it, and the instances of one call cannot refer to each other.

locals {
  nats_cluster = "${var.name_prefix}-nats"
  nats_names   = [for i in [1, 2, 3] : "${var.name_prefix}-nats-${i}"]
  nats_node = {
    region               = var.region
    size                 = var.nats_size
    image                = var.droplet_image
    vpc_uuid             = digitalocean_vpc.main.id
    ssh_key_fingerprints = var.ssh_key_fingerprints
    tags                 = [digitalocean_tag.role["nats"].id, digitalocean_tag.all.id]
    volume_gib           = var.nats_volume_gib
    role                 = "nats"
    data_uid             = 0
    sysctls              = []
  }
  nats_compose_file = {
    path        = "/opt/evtrack/compose.yaml"
    permissions = "0644"
    content     = templatefile("${path.module}/templates/compose/nats.yaml.tftpl", { image = var.nats_image })
  }
}

# Each node's own file is its nats.conf: its name and its routes.
module "nats_1" {
  source = "./modules/node"
  name   = local.nats_names[0]
  spec   = local.nats_node
  files = [local.nats_compose_file, {
    path = "/opt/evtrack/nats.conf", permissions = "0644"
    content = templatefile("${path.module}/templates/nats.conf.tftpl", {
      server_name = local.nats_names[0], routes = [],
      cluster_name = local.nats_cluster, max_file_store = local.nats_max_store,
    })
  }]
}

module "nats_2" {
  source = "./modules/node"
  name   = local.nats_names[1]
  spec   = local.nats_node
  files = [local.nats_compose_file, {
    path = "/opt/evtrack/nats.conf", permissions = "0644"
    content = templatefile("${path.module}/templates/nats.conf.tftpl", {
      server_name = local.nats_names[1], routes = [module.nats_1.private_ip],
      cluster_name = local.nats_cluster, max_file_store = local.nats_max_store,
    })
  }]
}

module "nats_3" {
  source = "./modules/node"
  name   = local.nats_names[2]
  spec   = local.nats_node
  files = [local.nats_compose_file, {
    path = "/opt/evtrack/nats.conf", permissions = "0644"
    content = templatefile("${path.module}/templates/nats.conf.tftpl", {
      server_name = local.nats_names[2], routes = [module.nats_1.private_ip, module.nats_2.private_ip],
      cluster_name = local.nats_cluster, max_file_store = local.nats_max_store,
    })
  }]
}
