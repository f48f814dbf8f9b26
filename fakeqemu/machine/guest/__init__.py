"""The guest model: what the guest OS does on its side (the hotplug responder today; agent, balloon
driver, console and power next)."""
