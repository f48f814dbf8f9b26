"""The host side of a VM's network: socket netdevs that hold their real socket (sockets.py) and the
self-announce timers that send RARP frames through them (announce.py)."""
