# The stateless services, each on Droplets of its own running the project's
# image through the compose file rendered for its role
# (templates/compose/<role>.yaml.tftpl): the same images, health checks,
# hardening and grace periods as docker-compose.yml, with production values.
# A changed template replaces these Droplets one at a time (README "Rolling
# upgrade"); the new one is created before the old one is shut down.

locals {
  cloud_init = "${path.module}/templates/cloud-init.yaml.tftpl"

  # The OpenSearch credentials (empty but for the managed service), on the
  # Droplets that use OpenSearch.
  opensearch_env_file = {
    path        = "/opt/evtrack/secrets/opensearch.env"
    permissions = "0600"
    content     = templatefile("${path.module}/templates/secrets/opensearch.env.tftpl", {
      username = local.opensearch_username, password = local.opensearch_password
    })
  }

  # The stateless roles: how many Droplets of which size each runs.
  services = {
    ingest     = { count = var.ingest_count, size = var.ingest_size }
    enrich     = { count = var.enrich_count, size = var.enrich_size }
    query      = { count = var.query_count, size = var.query_size }
    dashboards = { count = 1, size = var.dashboards_size }
  }

  # The files cloud-init writes on each role's Droplets: the compose file,
  # the role's secrets, the registry's pull credentials.
  service_files = {
    ingest = [
      {
        path        = "/opt/evtrack/compose.yaml"
        permissions = "0644"
        content     = templatefile("${path.module}/templates/compose/ingest.yaml.tftpl", {
          image            = local.images["ingest"], nats_url = local.nats_url, stream_replicas = local.stream_replicas,
          stream_max_bytes = local.stream_max_bytes, trusted_proxies = digitalocean_vpc.main.ip_range,
          otlp_endpoint    = var.otlp_endpoint, log_level = var.log_level,
        })
      },
      {
        path        = "/opt/evtrack/secrets/ingest.env"
        permissions = "0600"
        content     = templatefile("${path.module}/templates/secrets/ingest.env.tftpl", {
          write_keys = var.ingest_write_keys
        })
      },
      local.registry_auth_file,
    ]
    enrich = [
      {
        path        = "/opt/evtrack/compose.yaml"
        permissions = "0644"
        content     = templatefile("${path.module}/templates/compose/enrich.yaml.tftpl", {
          image          = local.images["enrich"], deadletters_image = local.images["deadletters"], nats_url = local.nats_url,
          opensearch_url = join(",", local.opensearch_urls), workers = var.enrich_workers, retention = var.enrich_retention,
          index_replicas = var.opensearch_index_replicas, otlp_endpoint = var.otlp_endpoint, log_level = var.log_level,
          ip_anonymisation = var.ip_anonymisation, pseudonymise_fields = var.pseudonymise_fields,
          suppression_replicas = local.stream_replicas,
        })
      },
      {
        path        = "/opt/evtrack/secrets/enrich.env"
        permissions = "0600"
        content     = templatefile("${path.module}/templates/secrets/enrich.env.tftpl", {
          pseudonym_key = var.pseudonym_key
        })
      },
      local.opensearch_env_file,
      local.registry_auth_file,
    ]
    query = [
      {
        path        = "/opt/evtrack/compose.yaml"
        permissions = "0644"
        content     = templatefile("${path.module}/templates/compose/query.yaml.tftpl", {
          image           = local.images["query"], opensearch_url = join(",", local.opensearch_urls),
          nats_url        = local.nats_url, suppression_replicas = local.stream_replicas,
          audit_retention = var.query_audit_retention, pseudonymise_fields = var.pseudonymise_fields,
          index_replicas  = var.opensearch_index_replicas, otlp_endpoint = var.otlp_endpoint, log_level = var.log_level,
        })
      },
      {
        path        = "/opt/evtrack/secrets/query.env"
        permissions = "0600"
        content     = templatefile("${path.module}/templates/secrets/query.env.tftpl", {
          tokens                   = var.query_tokens, page_token_key = var.query_page_token_key,
          page_token_previous_keys = var.query_page_token_previous_keys,
          pseudonym_key            = var.pseudonym_key, pseudonym_previous_keys = var.pseudonym_previous_keys,
        })
      },
      local.opensearch_env_file,
      local.registry_auth_file,
    ]
    dashboards = [
      {
        path        = "/opt/evtrack/compose.yaml"
        permissions = "0644"
        content     = templatefile("${path.module}/templates/compose/dashboards.yaml.tftpl", {
          dashboards_image = var.dashboards_image, oauth2_proxy_image = var.oauth2_proxy_image,
          init_image       = local.images["dashboards-init"], opensearch_urls = local.opensearch_urls,
          oidc_issuer_url  = var.oauth2_oidc_issuer_url, email_domains = var.oauth2_email_domains,
          public_url       = "https://${local.dashboards_fqdn}",
        })
      },
      {
        path        = "/opt/evtrack/secrets/oauth2-proxy.env"
        permissions = "0600"
        content     = templatefile("${path.module}/templates/secrets/oauth2-proxy.env.tftpl", {
          client_id = var.oauth2_client_id, client_secret = var.oauth2_client_secret, cookie_secret = var.oauth2_cookie_secret
        })
      },
      local.opensearch_env_file,
      local.registry_auth_file,
    ]
  }

  # Each role's cloud-init configuration (no volume: nothing to mount).
  user_data = {
    for role, files in local.service_files : role => templatefile(local.cloud_init, {
      role = role, volume_name = "", data_uid = 0, sysctls = [], files = files
    })
  }

  # Every Droplet by the name it is given after the prefix: <role>-1 … <role>-<count>,
  # and the one Dashboards Droplet by its role's name alone.
  service_droplets = merge([
    for role, s in local.services : {
      for i in range(s.count) : (role == "dashboards" ? role : "${role}-${i + 1}") => role
    }
  ]...)
}

# A changed user data replaces a Droplet; create_before_destroy brings the
# new one up before the old one is shut down (README "Rolling upgrade").
resource "digitalocean_droplet" "service" {
  for_each          = local.service_droplets
  name              = "${var.name_prefix}-${each.key}"
  region            = var.region
  size              = local.services[each.value].size
  image             = var.droplet_image
  vpc_uuid          = digitalocean_vpc.main.id
  ssh_keys          = var.ssh_key_fingerprints
  tags              = [digitalocean_tag.role[each.value].id, digitalocean_tag.all.id]
  user_data         = local.user_data[each.value]
  monitoring        = true
  graceful_shutdown = true

  lifecycle {
    create_before_destroy = true
  }
}
