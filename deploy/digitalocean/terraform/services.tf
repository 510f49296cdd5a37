# The stateless services, each on Droplets of its own running the project's
# image through the compose file rendered for its role
# (templates/compose/<role>.yaml.tftpl): the same images, health checks,
# hardening and grace periods as docker-compose.yml, with production values.
# A changed template replaces these Droplets one at a time (README "Rolling
# upgrade"); the new one is created before the old one is shut down.

locals {
  cloud_init = "${path.module}/templates/cloud-init.yaml.tftpl"

  user_data_ingest = templatefile(local.cloud_init, {
    role        = "ingest"
    volume_name = ""
    data_uid    = 0
    sysctls     = []
    files       = [
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
  })

  user_data_enrich = templatefile(local.cloud_init, {
    role        = "enrich"
    volume_name = ""
    data_uid    = 0
    sysctls     = []
    files       = [
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
      {
        path        = "/opt/evtrack/secrets/opensearch.env"
        permissions = "0600"
        content     = templatefile("${path.module}/templates/secrets/opensearch.env.tftpl", {
          username = local.opensearch_username, password = local.opensearch_password
        })
      },
      local.registry_auth_file,
    ]
  })

  user_data_query = templatefile(local.cloud_init, {
    role        = "query"
    volume_name = ""
    data_uid    = 0
    sysctls     = []
    files       = [
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
      {
        path        = "/opt/evtrack/secrets/opensearch.env"
        permissions = "0600"
        content     = templatefile("${path.module}/templates/secrets/opensearch.env.tftpl", {
          username = local.opensearch_username, password = local.opensearch_password
        })
      },
      local.registry_auth_file,
    ]
  })

  user_data_dashboards = templatefile(local.cloud_init, {
    role        = "dashboards"
    volume_name = ""
    data_uid    = 0
    sysctls     = []
    files       = [
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
      {
        path        = "/opt/evtrack/secrets/opensearch.env"
        permissions = "0600"
        content     = templatefile("${path.module}/templates/secrets/opensearch.env.tftpl", {
          username = local.opensearch_username, password = local.opensearch_password
        })
      },
      local.registry_auth_file,
    ]
  })
}

resource "digitalocean_droplet" "ingest" {
  count             = var.ingest_count
  name              = "${var.name_prefix}-ingest-${count.index + 1}"
  region            = var.region
  size              = var.ingest_size
  image             = var.droplet_image
  vpc_uuid          = digitalocean_vpc.main.id
  ssh_keys          = var.ssh_key_fingerprints
  tags              = [digitalocean_tag.role["ingest"].id, digitalocean_tag.all.id]
  user_data         = local.user_data_ingest
  monitoring        = true
  graceful_shutdown = true

  lifecycle {
    create_before_destroy = true
  }
}

resource "digitalocean_droplet" "enrich" {
  count             = var.enrich_count
  name              = "${var.name_prefix}-enrich-${count.index + 1}"
  region            = var.region
  size              = var.enrich_size
  image             = var.droplet_image
  vpc_uuid          = digitalocean_vpc.main.id
  ssh_keys          = var.ssh_key_fingerprints
  tags              = [digitalocean_tag.role["enrich"].id, digitalocean_tag.all.id]
  user_data         = local.user_data_enrich
  monitoring        = true
  graceful_shutdown = true

  lifecycle {
    create_before_destroy = true
  }
}

resource "digitalocean_droplet" "query" {
  count             = var.query_count
  name              = "${var.name_prefix}-query-${count.index + 1}"
  region            = var.region
  size              = var.query_size
  image             = var.droplet_image
  vpc_uuid          = digitalocean_vpc.main.id
  ssh_keys          = var.ssh_key_fingerprints
  tags              = [digitalocean_tag.role["query"].id, digitalocean_tag.all.id]
  user_data         = local.user_data_query
  monitoring        = true
  graceful_shutdown = true

  lifecycle {
    create_before_destroy = true
  }
}

resource "digitalocean_droplet" "dashboards" {
  name              = "${var.name_prefix}-dashboards"
  region            = var.region
  size              = var.dashboards_size
  image             = var.droplet_image
  vpc_uuid          = digitalocean_vpc.main.id
  ssh_keys          = var.ssh_key_fingerprints
  tags              = [digitalocean_tag.role["dashboards"].id, digitalocean_tag.all.id]
  user_data         = local.user_data_dashboards
  monitoring        = true
  graceful_shutdown = true

  lifecycle {
    create_before_destroy = true
  }
}
