"""``python -m fakeqemu``: the QEMU-compatible command line (same as fakeqemu-system-x86_64)."""

import sys

from fakeqemu.cli.qemu import main

sys.exit(main())
