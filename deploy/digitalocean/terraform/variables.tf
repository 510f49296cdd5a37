# Inputs. Secrets (sensitive, no defaults) come from the operator's secret
# store as TF_VAR_<name> in the environment of `terraform apply`, never from
# a file in the repository: README "Secrets".

# --- Where ---------------------------------------------------------------

variable "name_prefix" {
  description = "Prefix of every resource name (Droplets, volumes, tags, load balancers, firewalls)."
  type        = string
  default     = "evtrack"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name_prefix))
    error_message = "name_prefix: lower-case letters, digits and dashes, 2-21 characters, starting with a letter."
  }
}

variable "region" {
  description = "DigitalOcean region slug for everything (one region: the VPC, the load balancers and the volumes are regional)."
  type        = string
  default     = "fra1"
}

variable "vpc_ip_range" {
  description = "The VPC's private range (CIDR); must not overlap other VPCs of the team."
  type        = string
  default     = "10.110.0.0/20"
}

variable "domain" {
  description = "A domain whose DNS is hosted by DigitalOcean (Networking > Domains): the Let's Encrypt certificate and the A records of the load balancers are made in it."
  type        = string
}

variable "ingest_hostname" {
  description = "Host name in var.domain of the ingest endpoint (apps POST https://<this>.<domain>/v1/track)."
  type        = string
  default     = "ingest"
}

variable "query_hostname" {
  description = "Host name in var.domain of the query API (HTTP/JSON)."
  type        = string
  default     = "query"
}

variable "dashboards_hostname" {
  description = "Host name in var.domain of OpenSearch Dashboards, behind oauth2-proxy."
  type        = string
  default     = "dashboards"
}

variable "ssh_key_fingerprints" {
  description = "Fingerprints of the operators' SSH keys (already in the team's account) installed on every Droplet."
  type        = list(string)
  validation {
    condition     = length(var.ssh_key_fingerprints) > 0
    error_message = "ssh_key_fingerprints: at least one key (without one, DigitalOcean mails a root password)."
  }
}

variable "admin_cidrs" {
  description = "Addresses (CIDRs) allowed to SSH into the Droplets: the company VPN's egress or a bastion. Empty: no SSH from anywhere."
  type        = list(string)
  default     = []
}

variable "monitoring_tag" {
  description = "Droplets with this tag (a Prometheus server in the VPC) may scrape /metrics of the services and the NATS and OpenSearch monitoring ports."
  type        = string
  default     = "evtrack-monitoring"
}

variable "droplet_image" {
  description = "Base image of every Droplet; cloud-init installs Docker and Compose from its packages."
  type        = string
  default     = "ubuntu-24-04-x64"
}

# --- Images --------------------------------------------------------------

variable "registry_name" {
  description = "Name of the DigitalOcean Container Registry (one per team) the images are pushed to: registry.digitalocean.com/<name>/<target>:<image_version>."
  type        = string
}

variable "registry_tier" {
  description = "Container Registry plan: basic holds the 5 repositories (ingest, enrich, query, deadletters, dashboards-init); starter holds only 1."
  type        = string
  default     = "basic"
  validation {
    condition     = contains(["basic", "professional"], var.registry_tier)
    error_message = "registry_tier: basic or professional."
  }
}

variable "image_version" {
  description = "Tag of the project's images in the registry (the VERSION they were built with, e.g. 1.4.0); never latest."
  type        = string
  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_version)) && var.image_version != "latest"
    error_message = "image_version: a Docker tag, not latest (a rollout must name what it runs)."
  }
}

variable "nats_image" {
  description = "NATS server image; the version the tests run (scripts/versions.env)."
  type        = string
  default     = "nats:2.12.15-alpine"
}

variable "opensearch_image" {
  description = "OpenSearch image; the version the tests run (scripts/versions.env)."
  type        = string
  default     = "opensearchproject/opensearch:2.19.6"
}

variable "dashboards_image" {
  description = "OpenSearch Dashboards image, the same version as OpenSearch."
  type        = string
  default     = "opensearchproject/opensearch-dashboards:2.19.6"
}

variable "oauth2_proxy_image" {
  description = "oauth2-proxy image in front of Dashboards."
  type        = string
  default     = "quay.io/oauth2-proxy/oauth2-proxy:v7.8.1"
}

# --- Sizes (README "Sizing") ----------------------------------------------

variable "ingest_count" {
  description = "Ingest Droplets behind the ingest load balancer (at least 2: one can be rolled while the other serves)."
  type        = number
  default     = 2
  validation {
    condition     = var.ingest_count >= 2
    error_message = "ingest_count: at least 2."
  }
}

variable "ingest_size" {
  description = "Droplet size of ingest."
  type        = string
  default     = "c-2"
}

variable "query_count" {
  description = "Query Droplets behind the query load balancer (at least 2)."
  type        = number
  default     = 2
  validation {
    condition     = var.query_count >= 2
    error_message = "query_count: at least 2."
  }
}

variable "query_size" {
  description = "Droplet size of query."
  type        = string
  default     = "s-2vcpu-4gb"
}

variable "enrich_count" {
  description = "Enrich Droplets; they share one durable consumer, so adding one adds drain capacity (README \"Scaling enrich\")."
  type        = number
  default     = 2
  validation {
    condition     = var.enrich_count >= 1
    error_message = "enrich_count: at least 1."
  }
}

variable "enrich_size" {
  description = "Droplet size of enrich."
  type        = string
  default     = "s-2vcpu-4gb"
}

variable "enrich_workers" {
  description = "ENRICH_WORKERS of each enrich instance (concurrent fetch-index-ack loops)."
  type        = number
  default     = 3
}

variable "nats_size" {
  description = "Droplet size of each of the 3 NATS nodes."
  type        = string
  default     = "s-2vcpu-4gb"
}

variable "nats_volume_gib" {
  description = "Block-storage volume of each NATS node (every node holds a full copy of the stream, 3 replicas). The stream's byte limit is 80% of it."
  type        = number
  default     = 100
}

variable "opensearch_mode" {
  description = "droplets: OpenSearch self-hosted on 3 Droplets with volumes (the supported mode); managed: DigitalOcean's managed OpenSearch (README \"Managed OpenSearch\")."
  type        = string
  default     = "droplets"
  validation {
    condition     = contains(["droplets", "managed"], var.opensearch_mode)
    error_message = "opensearch_mode: droplets or managed."
  }
}

variable "opensearch_size" {
  description = "Droplet size of each OpenSearch node (the heap is half its memory, at most 31g)."
  type        = string
  default     = "g-2vcpu-8gb"
}

variable "opensearch_heap" {
  description = "JVM heap of each OpenSearch node: half the Droplet's memory, at most 31g."
  type        = string
  default     = "4g"
  validation {
    condition     = can(regex("^[0-9]+[mg]$", var.opensearch_heap))
    error_message = "opensearch_heap: a JVM size such as 4g or 512m."
  }
}

variable "opensearch_volume_gib" {
  description = "Block-storage volume of each OpenSearch node (README \"Sizing\": bytes per event x events x retention x copies / nodes, plus headroom)."
  type        = number
  default     = 500
}

variable "opensearch_extra_data_nodes" {
  description = "Data-only OpenSearch nodes beyond the 3 cluster-manager-eligible ones (scale-out for the larger rows of README \"Sizing\")."
  type        = number
  default     = 0
}

variable "opensearch_index_replicas" {
  description = "Replicas of every daily index (OPENSEARCH_INDEX_REPLICAS): 1 keeps each document on two nodes."
  type        = number
  default     = 1
}

variable "managed_opensearch_size" {
  description = "opensearch_mode = managed: the node size slug of the managed cluster."
  type        = string
  default     = "db-s-2vcpu-4gb"
}

variable "managed_opensearch_nodes" {
  description = "opensearch_mode = managed: nodes of the managed cluster."
  type        = number
  default     = 3
}

variable "dashboards_size" {
  description = "Droplet size of OpenSearch Dashboards with oauth2-proxy."
  type        = string
  default     = "s-2vcpu-4gb"
}

variable "load_balancer_size_unit" {
  description = "Size units of the ingest load balancer (each unit adds connection and request capacity; README \"Sizing\")."
  type        = number
  default     = 1
}

# --- Service settings -----------------------------------------------------

variable "enrich_retention" {
  description = "ENRICH_RETENTION: how long daily event indices are kept."
  type        = string
  default     = "720h"
}

variable "ip_anonymisation" {
  description = "ENRICH_IP_ANONYMISATION: what event documents keep of the client address: drop (nothing), truncate (IPv4 /24, IPv6 /48) or none (all of it)."
  type        = string
  default     = "drop"
  validation {
    condition     = contains(["drop", "truncate", "none"], var.ip_anonymisation)
    error_message = "ip_anonymisation: drop, truncate or none."
  }
}

variable "pseudonymise_fields" {
  description = "ENRICH_PSEUDONYMISE_FIELDS and QUERY_PSEUDONYMISE_FIELDS: identifiers stored as a keyed hash, comma-separated, of user_id, anonymous_id, session_id; empty: none. Needs pseudonym_key."
  type        = string
  default     = ""
  validation {
    condition     = can(regex("^((user_id|anonymous_id|session_id)(,(user_id|anonymous_id|session_id))*)?$", var.pseudonymise_fields))
    error_message = "pseudonymise_fields: empty, or comma-separated user_id, anonymous_id, session_id."
  }
}

variable "pseudonym_key" {
  description = "ENRICH_PSEUDONYM_KEY and QUERY_PSEUDONYM_KEY: hex of at least 32 random bytes (openssl rand -hex 32); required with pseudonymise_fields (the services refuse to start without it)."
  type        = string
  sensitive   = true
  default     = ""
  validation {
    condition     = can(regex("^(([0-9a-fA-F]{2}){32,})?$", var.pseudonym_key))
    error_message = "pseudonym_key: empty, or hex of at least 32 bytes."
  }
}

variable "pseudonym_previous_keys" {
  description = "QUERY_PSEUDONYM_PREVIOUS_KEYS: comma-separated hex keys enrich used before a rotation; searches match their pseudonyms too."
  type        = string
  sensitive   = true
  default     = ""
  validation {
    condition     = can(regex("^(([0-9a-fA-F]{2}){32,}(,([0-9a-fA-F]{2}){32,})*)?$", var.pseudonym_previous_keys))
    error_message = "pseudonym_previous_keys: empty, or comma-separated hex keys of at least 32 bytes."
  }
}

variable "query_audit_retention" {
  description = "QUERY_AUDIT_RETENTION: how long the query audit trail is kept."
  type        = string
  default     = "2160h"
}

variable "otlp_endpoint" {
  description = "OTEL_EXPORTER_OTLP_ENDPOINT of every service (an OTLP/HTTP collector reachable from the VPC); empty: no trace export."
  type        = string
  default     = ""
}

variable "log_level" {
  description = "LOG_LEVEL of every service."
  type        = string
  default     = "info"
}

# --- Secrets (TF_VAR_* from the secret store; no defaults) ----------------

variable "ingest_write_keys" {
  description = "INGEST_WRITE_KEYS: comma-separated key:app_id pairs (keys of 16+ characters); several keys per app during a rotation."
  type        = string
  sensitive   = true
  validation {
    condition     = can(regex("^[^\\s$\"'#\\\\]+$", var.ingest_write_keys))
    error_message = "ingest_write_keys: no spaces, quotes, $, # or backslashes (the value lands in an env file)."
  }
}

variable "query_tokens" {
  description = "QUERY_TOKENS: comma-separated token:app_id|app_id2 or token:* entries."
  type        = string
  sensitive   = true
  validation {
    condition     = can(regex("^[^\\s$\"'#\\\\]+$", var.query_tokens))
    error_message = "query_tokens: no spaces, quotes, $, # or backslashes (the value lands in an env file)."
  }
}

variable "query_page_token_key" {
  description = "QUERY_PAGE_TOKEN_KEY: hex of at least 32 random bytes (openssl rand -hex 32)."
  type        = string
  sensitive   = true
  validation {
    condition     = can(regex("^([0-9a-fA-F]{2}){32,}$", var.query_page_token_key))
    error_message = "query_page_token_key: hex of at least 32 bytes."
  }
}

variable "query_page_token_previous_keys" {
  description = "QUERY_PAGE_TOKEN_PREVIOUS_KEYS: comma-separated hex keys still accepted after a rotation; empty outside one."
  type        = string
  sensitive   = true
  default     = ""
  validation {
    condition     = can(regex("^(([0-9a-fA-F]{2}){32,}(,([0-9a-fA-F]{2}){32,})*)?$", var.query_page_token_previous_keys))
    error_message = "query_page_token_previous_keys: empty, or comma-separated hex keys of at least 32 bytes."
  }
}

variable "oauth2_oidc_issuer_url" {
  description = "OIDC issuer of the company's identity provider (Google Workspace, Okta, Entra ID, Keycloak…) that oauth2-proxy signs Dashboards users in with."
  type        = string
}

variable "oauth2_client_id" {
  description = "OIDC client id registered for https://<dashboards_hostname>.<domain>/oauth2/callback."
  type        = string
}

variable "oauth2_client_secret" {
  description = "OIDC client secret of that client."
  type        = string
  sensitive   = true
}

variable "oauth2_cookie_secret" {
  description = "oauth2-proxy cookie secret: 32 random bytes, base64url (openssl rand -base64 32 | tr -- '+/' '-_')."
  type        = string
  sensitive   = true
  validation {
    condition     = length(var.oauth2_cookie_secret) >= 32
    error_message = "oauth2_cookie_secret: 32 random bytes, base64url-encoded."
  }
}

variable "oauth2_email_domains" {
  description = "E-mail domains whose users may open Dashboards (oauth2-proxy --email-domain), e.g. [\"example.com\"]."
  type        = list(string)
  validation {
    condition     = length(var.oauth2_email_domains) > 0 && !contains(var.oauth2_email_domains, "*")
    error_message = "oauth2_email_domains: at least one domain, and not \"*\" (anyone with an account at the provider)."
  }
}
