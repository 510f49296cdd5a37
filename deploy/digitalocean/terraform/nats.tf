# Three NATS JetStream nodes, each on its own Droplet with a volume, running
# the image docker-compose.yml runs (templates/compose/nats.yaml.tftpl).
#
# Routes: node k names nodes 1..k-1 (their addresses exist before it does),
# so every pair of nodes has one side that dials the other and keeps
# redialling it: the full mesh re-forms whichever node restarts. Node 1 is
# named by the others and names no one.

locals {
  nats_cluster = "${var.name_prefix}-nats"
  nats_compose = templatefile("${path.module}/templates/compose/nats.yaml.tftpl", {
    image = var.nats_image
  })
  nats_node = {
    region     = var.region
    size       = var.nats_size
    image      = var.droplet_image
    vpc_uuid   = digitalocean_vpc.main.id
    ssh_keys   = var.ssh_key_fingerprints
    tags       = [digitalocean_tag.role["nats"].id, digitalocean_tag.all.id]
    volume_gib = var.nats_volume_gib
  }
}

module "nats_1" {
  source               = "./modules/node"
  name                 = "${var.name_prefix}-nats-1"
  region               = local.nats_node.region
  size                 = local.nats_node.size
  image                = local.nats_node.image
  vpc_uuid             = local.nats_node.vpc_uuid
  ssh_key_fingerprints = local.nats_node.ssh_keys
  tags                 = local.nats_node.tags
  volume_gib           = local.nats_node.volume_gib
  user_data            = templatefile("${path.module}/templates/cloud-init.yaml.tftpl", {
    role        = "nats"
    volume_name = "${var.name_prefix}-nats-1-data"
    data_uid    = 0
    sysctls     = []
    files       = [
      { path = "/opt/evtrack/compose.yaml", permissions = "0644", content = local.nats_compose },
      {
        path        = "/opt/evtrack/nats.conf"
        permissions = "0644"
        content     = templatefile("${path.module}/templates/nats.conf.tftpl", {
          server_name = "${var.name_prefix}-nats-1", cluster_name = local.nats_cluster,
          routes      = [], max_file_store = local.nats_max_store,
        })
      },
    ]
  })
}

module "nats_2" {
  source               = "./modules/node"
  name                 = "${var.name_prefix}-nats-2"
  region               = local.nats_node.region
  size                 = local.nats_node.size
  image                = local.nats_node.image
  vpc_uuid             = local.nats_node.vpc_uuid
  ssh_key_fingerprints = local.nats_node.ssh_keys
  tags                 = local.nats_node.tags
  volume_gib           = local.nats_node.volume_gib
  user_data            = templatefile("${path.module}/templates/cloud-init.yaml.tftpl", {
    role        = "nats"
    volume_name = "${var.name_prefix}-nats-2-data"
    data_uid    = 0
    sysctls     = []
    files       = [
      { path = "/opt/evtrack/compose.yaml", permissions = "0644", content = local.nats_compose },
      {
        path        = "/opt/evtrack/nats.conf"
        permissions = "0644"
        content     = templatefile("${path.module}/templates/nats.conf.tftpl", {
          server_name = "${var.name_prefix}-nats-2", cluster_name = local.nats_cluster,
          routes      = [module.nats_1.private_ip], max_file_store = local.nats_max_store,
        })
      },
    ]
  })
}

module "nats_3" {
  source               = "./modules/node"
  name                 = "${var.name_prefix}-nats-3"
  region               = local.nats_node.region
  size                 = local.nats_node.size
  image                = local.nats_node.image
  vpc_uuid             = local.nats_node.vpc_uuid
  ssh_key_fingerprints = local.nats_node.ssh_keys
  tags                 = local.nats_node.tags
  volume_gib           = local.nats_node.volume_gib
  user_data            = templatefile("${path.module}/templates/cloud-init.yaml.tftpl", {
    role        = "nats"
    volume_name = "${var.name_prefix}-nats-3-data"
    data_uid    = 0
    sysctls     = []
    files       = [
      { path = "/opt/evtrack/compose.yaml", permissions = "0644", content = local.nats_compose },
      {
        path        = "/opt/evtrack/nats.conf"
        permissions = "0644"
        content     = templatefile("${path.module}/templates/nats.conf.tftpl", {
          server_name = "${var.name_prefix}-nats-3", cluster_name = local.nats_cluster,
          routes      = [module.nats_1.private_ip, module.nats_2.private_ip], max_file_store = local.nats_max_store,
        })
      },
    ]
  })
}
