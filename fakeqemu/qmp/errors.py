"""Errors that become QMP error replies.

    QMPError                 -- any failure a command reports; carries QEMU's error class and desc
     +-- GenericError         -- class "GenericError", QEMU's most common one
     +-- CommandNotFound      -- class "CommandNotFound"
     +-- DeviceNotFound       -- class "DeviceNotFound"
     +-- DeviceNotActive      -- class "DeviceNotActive"

A command raises one of these; the session turns it into {"error": {"class": ..., "desc": ...}}.
"""

from __future__ import annotations


class QMPError(Exception):
    """A QMP error reply: ``cls`` is QEMU's ErrorClass name, ``desc`` its human text, byte for byte."""

    cls = "GenericError"

    def __init__(self, desc: str, cls: str | None = None) -> None:
        super().__init__(desc)
        self.desc = desc
        if cls is not None:
            self.cls = cls


class GenericError(QMPError):
    cls = "GenericError"


class CommandNotFound(QMPError):
    cls = "CommandNotFound"


class DeviceNotFound(QMPError):
    cls = "DeviceNotFound"


class DeviceNotActive(QMPError):
    cls = "DeviceNotActive"
