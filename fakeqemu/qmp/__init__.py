"""The sans-IO QMP core: bytes in, requests out; replies and events to bytes. No trio here."""
