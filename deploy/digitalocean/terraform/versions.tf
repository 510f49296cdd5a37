# Terraform 1.10+ (for the state lock file of backend.hcl.example) with the
# DigitalOcean provider. State holds secrets (the services' keys are in the
# Droplets' user data, the registry credentials are an attribute): keep it in
# an encrypted remote backend, never on a laptop or in the repository. `terraform init -backend-config=backend.hcl` with a copy
# of backend.hcl.example (a Spaces bucket; README "First deploy").
terraform {
  required_version = ">= 1.10.0"

  required_providers {
    digitalocean = {
      source  = "digitalocean/digitalocean"
      version = "~> 2.68"
    }
  }

  backend "s3" {}
}

# The API token comes from DIGITALOCEAN_TOKEN in the operator's environment
# (from the company's secret store), never from a file here.
provider "digitalocean" {}
