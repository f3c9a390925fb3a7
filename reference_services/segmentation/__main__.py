"""Entry point: python -m reference_services.segmentation"""

from reference_services.common.app import serve
from reference_services.common.logging import configure_logging
from reference_services.segmentation.app import build_app
from reference_services.segmentation.settings import SegmentationSettings


def main() -> None:
    settings = SegmentationSettings()
    configure_logging(settings.service_name, settings.log_level)
    serve(build_app(settings), settings)


if __name__ == "__main__":
    main()
