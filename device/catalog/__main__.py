"""`python -m device.catalog --config cutbox.toml`: the same as `cutbox catalog`."""

import sys

from device.catalog.receiver import main

sys.exit(main())
