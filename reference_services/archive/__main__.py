"""Entry point: python -m reference_services.archive [altlas-archive arguments]"""

import sys

from reference_services.archive.app import build_app
from reference_services.archive.settings import ArchiveSettings
from reference_services.common.app import serve
from reference_services.common.logging import configure_logging


def serve_forever() -> None:
    settings = ArchiveSettings()
    configure_logging(settings.service_name, settings.log_level)
    serve(build_app(settings), settings)


def main() -> None:
    if len(sys.argv) > 1:
        from reference_services.archive.cli import main as cli

        sys.exit(cli())
    serve_forever()


if __name__ == "__main__":
    main()
