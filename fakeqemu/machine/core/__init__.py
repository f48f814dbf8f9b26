"""The QOM/qdev core: objects, properties, buses and devices, the event bus, the RCU-like finalize queue,
timers and port I/O. Nothing here knows a board or a device family."""
