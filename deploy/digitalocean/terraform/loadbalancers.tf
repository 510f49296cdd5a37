# The only public entry points: one DigitalOcean Load Balancer per public
# service (a load balancer forwards by port, not by host name), each
# terminating TLS with a Let's Encrypt certificate and redirecting plain HTTP.
# They reach the Droplets over the VPC and select them by role tag, so a
# replaced Droplet joins once its /readyz answers.

resource "digitalocean_certificate" "public" {
  # The name changes with the host names: a new certificate is made before
  # the old one is removed (the provider's advice for certificates in use).
  name    = "${var.name_prefix}-${substr(sha256(join(",", [local.ingest_fqdn, local.query_fqdn, local.dashboards_fqdn])), 0, 8)}"
  type    = "lets_encrypt"
  domains = [local.ingest_fqdn, local.query_fqdn, local.dashboards_fqdn]

  lifecycle {
    create_before_destroy = true
  }
}

resource "digitalocean_loadbalancer" "ingest" {
  name                             = "${var.name_prefix}-ingest"
  region                           = var.region
  vpc_uuid                         = digitalocean_vpc.main.id
  size_unit                        = var.load_balancer_size_unit
  droplet_tag                      = digitalocean_tag.role["ingest"].name
  redirect_http_to_https           = true
  enable_backend_keepalive         = true
  http_idle_timeout_seconds        = 60 # below INGEST_IDLE_TIMEOUT (2m): the balancer closes idle connections first
  disable_lets_encrypt_dns_records = true

  forwarding_rule {
    entry_port       = 443
    entry_protocol   = "https"
    target_port      = 8080
    target_protocol  = "http"
    certificate_name = digitalocean_certificate.public.name
  }

  forwarding_rule {
    entry_port      = 80
    entry_protocol  = "http"
    target_port     = 8080
    target_protocol = "http"
  }

  # /readyz is 200 only while ingest can publish to JetStream.
  healthcheck {
    protocol                 = "http"
    port                     = 8080
    path                     = "/readyz"
    check_interval_seconds   = 5
    response_timeout_seconds = 3
    unhealthy_threshold      = 2
    healthy_threshold        = 2
  }
}

resource "digitalocean_loadbalancer" "query" {
  name                             = "${var.name_prefix}-query"
  region                           = var.region
  vpc_uuid                         = digitalocean_vpc.main.id
  size_unit                        = 1
  droplet_tag                      = digitalocean_tag.role["query"].name
  redirect_http_to_https           = true
  enable_backend_keepalive         = true
  http_idle_timeout_seconds        = 60 # below QUERY_HTTP_IDLE_TIMEOUT (2m on the Droplets): the balancer closes idle connections first
  disable_lets_encrypt_dns_records = true

  forwarding_rule {
    entry_port       = 443
    entry_protocol   = "https"
    target_port      = 8082
    target_protocol  = "http"
    certificate_name = digitalocean_certificate.public.name
  }

  forwarding_rule {
    entry_port      = 80
    entry_protocol  = "http"
    target_port     = 8082
    target_protocol = "http"
  }

  healthcheck {
    protocol                 = "http"
    port                     = 8082
    path                     = "/readyz"
    check_interval_seconds   = 5
    response_timeout_seconds = 3
    unhealthy_threshold      = 2
    healthy_threshold        = 2
  }
}

# Dashboards only through oauth2-proxy: the company's identity provider signs
# users in; nothing reaches Dashboards itself (it is not published on its
# Droplet, only on the compose network).
resource "digitalocean_loadbalancer" "dashboards" {
  name                             = "${var.name_prefix}-dashboards"
  region                           = var.region
  vpc_uuid                         = digitalocean_vpc.main.id
  size_unit                        = 1
  droplet_tag                      = digitalocean_tag.role["dashboards"].name
  redirect_http_to_https           = true
  disable_lets_encrypt_dns_records = true

  forwarding_rule {
    entry_port       = 443
    entry_protocol   = "https"
    target_port      = 4180
    target_protocol  = "http"
    certificate_name = digitalocean_certificate.public.name
  }

  forwarding_rule {
    entry_port      = 80
    entry_protocol  = "http"
    target_port     = 4180
    target_protocol = "http"
  }

  healthcheck {
    protocol                 = "http"
    port                     = 4180
    path                     = "/ping"
    check_interval_seconds   = 10
    response_timeout_seconds = 5
    unhealthy_threshold      = 3
    healthy_threshold        = 2
  }
}

resource "digitalocean_record" "ingest" {
  domain = data.digitalocean_domain.main.id
  type   = "A"
  name   = var.ingest_hostname
  value  = digitalocean_loadbalancer.ingest.ip
  ttl    = 300
}

resource "digitalocean_record" "query" {
  domain = data.digitalocean_domain.main.id
  type   = "A"
  name   = var.query_hostname
  value  = digitalocean_loadbalancer.query.ip
  ttl    = 300
}

resource "digitalocean_record" "dashboards" {
  domain = data.digitalocean_domain.main.id
  type   = "A"
  name   = var.dashboards_hostname
  value  = digitalocean_loadbalancer.dashboards.ip
  ttl    = 300
}
