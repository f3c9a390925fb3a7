"""Entry point: python -m reference_services.runner"""

from reference_services.common.app import serve
from reference_services.common.logging import configure_logging
from reference_services.runner.app import build_app
from reference_services.runner.settings import RunnerSettings


def main() -> None:
    settings = RunnerSettings()
    configure_logging(settings.service_name, settings.log_level)
    serve(build_app(settings), settings)


if __name__ == "__main__":
    main()
