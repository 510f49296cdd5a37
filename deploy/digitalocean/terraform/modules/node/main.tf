# One node of a stateful cluster (NATS or OpenSearch): a Droplet with a
# block-storage volume attached at creation, which cloud-init mounts at
# /mnt/data. The volume outlives the Droplet: rebuilding a node keeps its
# data (README "Replacing a NATS or OpenSearch node").

variable "name" {
  description = "Droplet name; the volume is <name>-data."
  type        = string
}

variable "region" {
  description = "Region of the Droplet and its volume."
  type        = string
}

variable "size" {
  description = "Droplet size slug."
  type        = string
}

variable "image" {
  description = "Droplet base image."
  type        = string
}

variable "vpc_uuid" {
  description = "VPC the Droplet is placed in."
  type        = string
}

variable "ssh_key_fingerprints" {
  description = "Fingerprints of the SSH keys installed for root (public keys, not secrets)."
  type        = list(string)
}

variable "tags" {
  description = "Tags (the role's tag selects the firewall)."
  type        = list(string)
}

variable "volume_gib" {
  description = "Size of the data volume in GiB."
  type        = number
}

variable "user_data" {
  description = "The cloud-init configuration (templates/cloud-init.yaml.tftpl, rendered)."
  type        = string
  sensitive   = true
}

resource "digitalocean_volume" "data" {
  name                    = "${var.name}-data"
  region                  = var.region
  size                    = var.volume_gib
  initial_filesystem_type = "ext4"
  description             = "data of ${var.name}"
  tags                    = var.tags

  lifecycle {
    prevent_destroy = true
  }
}

resource "digitalocean_droplet" "node" {
  name              = var.name
  region            = var.region
  size              = var.size
  image             = var.image
  vpc_uuid          = var.vpc_uuid
  ssh_keys          = var.ssh_key_fingerprints
  tags              = var.tags
  volume_ids        = [digitalocean_volume.data.id]
  user_data         = var.user_data
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
