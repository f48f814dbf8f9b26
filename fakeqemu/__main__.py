"""``python -m fakeqemu``: the QEMU-compatible command line (same as fakeqemu-system-x86_64)."""

import gc
import sys

gc.disable()  # start-up only allocates what lives on: no collection until the VM is ready (main enables it)

from fakeqemu.cli.qemu import main  # noqa: E402

sys.exit(main())
