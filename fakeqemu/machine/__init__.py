"""The machine model: QOM tree, qdev buses and devices, the pcihp register block, the deferred finalize
queue and the event bus. Synchronous and trio-free, so every QMP command runs atomically."""
