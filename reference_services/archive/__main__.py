"""Entry point: python -m reference_services.archive"""

from reference_services.archive.app import build_app
from reference_services.archive.settings import ArchiveSettings
from reference_services.common.app import serve
from reference_services.common.logging import configure_logging


def main() -> None:
    settings = ArchiveSettings()
    configure_logging(settings.service_name, settings.log_level)
    serve(build_app(settings), settings)


if __name__ == "__main__":
    main()
