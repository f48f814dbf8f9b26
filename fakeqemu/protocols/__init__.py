"""Sans-IO wire protocols other than QMP (which lives in fakeqemu.qmp): HMP readline, qtest; next the guest
agent, RFB and the migration stream. Bytes in, bytes and actions out; no trio here."""
