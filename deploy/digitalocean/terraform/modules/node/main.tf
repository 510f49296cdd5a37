# One node of a stateful cluster (NATS or OpenSearch): a Droplet with a
# block-storage volume attached at creation, which cloud-init mounts at
# /mnt/data. The volume outlives the Droplet: rebuilding a node keeps its
# data (README "Replacing a NATS or OpenSearch node").

# The root's provider (without this, Terraform would look for
# hashicorp/digitalocean for this module's resources).
terraform {
  required_providers {
    digitalocean = {
      source = "digitalocean/digitalocean"
    }
  }
}

variable "name" {
  description = "Droplet name; the volume is <name>-data."
  type        = string
}

variable "spec" {
  description = <<-EOT
    What every node of the cluster shares: the Droplet's region, size slug,
    base image and VPC, the fingerprints of the SSH keys installed for root
    (public keys, not secrets), its tags (the role's tag selects the
    firewall), the data volume's size in GiB, and for cloud-init
    (templates/cloud-init.yaml.tftpl) the role, the owner of the volume's
    root and the kernel settings.
  EOT
  type = object({
    region               = string
    size                 = string
    image                = string
    vpc_uuid             = string
    ssh_key_fingerprints = list(string)
    tags                 = list(string)
    volume_gib           = number
    role                 = string
    data_uid             = number
    sysctls              = list(string)
  })
}

variable "files" {
  description = "The files cloud-init writes on the node: path, permissions and content each."
  type        = list(object({ path = string, permissions = string, content = string }))
  sensitive   = true
}

locals {
  volume_name = "${var.name}-data"
}

resource "digitalocean_volume" "data" {
  name                    = local.volume_name
  region                  = var.spec.region
  size                    = var.spec.volume_gib
  initial_filesystem_type = "ext4"
  description             = "data of ${var.name}"
  tags                    = var.spec.tags

  lifecycle {
    prevent_destroy = true
  }
}

resource "digitalocean_droplet" "node" {
  name              = var.name
  region            = var.spec.region
  size              = var.spec.size
  image             = var.spec.image
  vpc_uuid          = var.spec.vpc_uuid
  ssh_keys          = var.spec.ssh_key_fingerprints
  tags              = var.spec.tags
  volume_ids        = [digitalocean_volume.data.id]
  user_data         = templatefile("${path.module}/../../templates/cloud-init.yaml.tftpl", {
    role    = var.spec.role, volume_name = local.volume_name, data_uid = var.spec.data_uid,
    sysctls = var.spec.sysctls, files = var.files,
  })
  monitoring        = true
  graceful_shutdown = true

  # A stateful node is upgraded in place, one at a time (README "Rolling
  # upgrade"): a changed template must never replace all three at once.
  lifecycle {
    ignore_changes = [user_data, image]
  }
}

output "private_ip" {
  description = "The node's VPC address."
  value       = digitalocean_droplet.node.ipv4_address_private
}

output "urn" {
  description = "The Droplet's URN (for the project)."
  value       = digitalocean_droplet.node.urn
}

output "volume_urn" {
  description = "The volume's URN (for the project)."
  value       = digitalocean_volume.data.urn
}
