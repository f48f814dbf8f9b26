"""The HTTP control plane: a JSON API (OpenAPI at /openapi.json), a live feed and a dashboard at /.

It drives the same machine API and QMP command handlers the monitors use; imported only when enabled.
"""
