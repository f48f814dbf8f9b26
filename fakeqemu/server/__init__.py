"""The trio runtime: sockets, monitor connections, qtest, timers and signals around the sans-IO core."""
