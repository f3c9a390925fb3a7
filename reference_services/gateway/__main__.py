"""Entry point: python -m reference_services.gateway"""

from reference_services.common.app import serve
from reference_services.common.logging import configure_logging
from reference_services.gateway.app import build_app
from reference_services.gateway.settings import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    configure_logging(settings.service_name, settings.log_level)
    serve(build_app(settings), settings)


if __name__ == "__main__":
    main()
