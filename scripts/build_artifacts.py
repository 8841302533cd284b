"""Build whatever is missing (backbone, default dataset, ref_data.csv, model): `clipwatch bootstrap`."""

import sys

from clipwatch.cli import main

if __name__ == "__main__":
    sys.argv = ["clipwatch", "bootstrap", *sys.argv[1:]]
    main()
