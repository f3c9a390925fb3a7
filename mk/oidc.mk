# The OpenID provider the local stack starts (harness/infra/oidc.py): oidc-provider from npm,
# installed from tools/oidc/package-lock.json into .tools/oidc with the provider's script.
# Node.js and npm come from Debian when missing (apt-get, first run only).
.PHONY: oidc-provider
OIDC_DIR := $(TOOLS)/oidc
OIDC_SOURCES := tools/oidc/package.json tools/oidc/package-lock.json tools/oidc/provider.mjs

$(OIDC_DIR)/.installed: $(OIDC_SOURCES)
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
		echo "installing nodejs and npm with apt-get (first run only)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; \
	fi
	@mkdir -p $(OIDC_DIR) && cp $(OIDC_SOURCES) $(OIDC_DIR)/
	@cd $(OIDC_DIR) && npm ci --no-audit --no-fund --loglevel=error >/dev/null
	@touch $@

oidc-provider: $(OIDC_DIR)/.installed  ## install the OpenID provider (oidc-provider, npm) the local stack starts

setup: oidc-provider
