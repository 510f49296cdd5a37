output "ingest_url" {
  description = "Where apps POST batches."
  value       = "https://${local.ingest_fqdn}/v1/track"
}

output "query_url" {
  description = "The query API's HTTP/JSON base URL."
  value       = "https://${local.query_fqdn}"
}

output "dashboards_url" {
  description = "OpenSearch Dashboards, after signing in with the identity provider."
  value       = "https://${local.dashboards_fqdn}"
}

output "load_balancer_ips" {
  description = "Public addresses of the load balancers (the DNS records point at them)."
  value       = {
    ingest     = digitalocean_loadbalancer.ingest.ip
    query      = digitalocean_loadbalancer.query.ip
    dashboards = digitalocean_loadbalancer.dashboards.ip
  }
}

output "registry" {
  description = "Where to push the images: docker push <registry>/<target>:<image_version>."
  value       = local.registry
}

output "nats_url" {
  description = "NATS_URL as the services get it (VPC addresses)."
  value       = local.nats_url
}

output "opensearch_urls" {
  description = "OpenSearch node URLs as the services get them (VPC addresses)."
  value       = local.opensearch_urls
}

output "droplets" {
  description = "VPC addresses of every Droplet by role, for the runbook's per-node steps."
  value = merge(
    { for role in keys(local.services) : role => [for name, d in digitalocean_droplet.service : d.ipv4_address_private if local.service_droplets[name] == role] },
    { nats = local.nats_ips, opensearch = local.opensearch_ips },
  )
}
