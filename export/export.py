"""Entry point of the export step: `python export/export.py [--int8] [--out PATH]`.

Exports ImageNet EfficientNet-Lite0 to ONNX (the one place torch is used);
all logic lives in clipwatch.export.
"""

import sys

from clipwatch.cli import main

if __name__ == "__main__":
    sys.argv = ["clipwatch", "export", *sys.argv[1:]]
    main()
