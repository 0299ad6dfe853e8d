"""A desktop notification daemon (freedesktop org.freedesktop.Notifications over D-Bus) for the
browser tests: Chromium on Linux shows a web notification through it, as on a desktop, and a click
on it comes back the same way (the `ActionInvoked` signal with the "default" action), so Chromium
itself fires the service worker's `notificationclick`.

Run by Debian's python3 (python3-dbus, python3-gi) on the session bus of DBUS_SESSION_BUS_ADDRESS.
Writes one JSON line per notification shown ({"notify": id, "summary", "body"}) or closed, and reads
one JSON line per click to make ({"click": id}); exits when its stdin closes."""

import json
import os
import sys

import dbus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

IFACE = "org.freedesktop.Notifications"


def say(**line: object) -> None:
    print(json.dumps(line), flush=True)


class Daemon(dbus.service.Object):
    def __init__(self, bus: dbus.Bus) -> None:
        super().__init__(bus, "/org/freedesktop/Notifications")
        self.next_id = 1

    @dbus.service.method(IFACE, in_signature="", out_signature="as")
    def GetCapabilities(self) -> list[str]:
        return ["actions", "body", "persistence"]

    @dbus.service.method(IFACE, in_signature="", out_signature="ssss")
    def GetServerInformation(self) -> tuple[str, str, str, str]:
        return ("tigapilar-test", "tigapilar", "1", "1.2")

    @dbus.service.method(IFACE, in_signature="susssasa{sv}i", out_signature="u")
    def Notify(self, app, replaces, icon, summary, body, actions, hints, timeout) -> int:
        notification_id = int(replaces) or self.next_id
        self.next_id += 1
        say(notify=notification_id, summary=str(summary), body=str(body), actions=[str(a) for a in actions])
        return notification_id

    @dbus.service.method(IFACE, in_signature="u", out_signature="")
    def CloseNotification(self, notification_id) -> None:
        say(closed=int(notification_id))

    @dbus.service.signal(IFACE, signature="us")
    def ActionInvoked(self, notification_id, action_key) -> None:
        pass


def main() -> None:
    DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    name = dbus.service.BusName(IFACE, bus, do_not_queue=True)  # noqa: F841 (held while running)
    daemon = Daemon(bus)

    def command(source: object, condition: object) -> bool:
        line = sys.stdin.readline()
        if not line:
            os._exit(0)  # the test ended
        daemon.ActionInvoked(dbus.UInt32(json.loads(line)["click"]), "default")
        return True

    GLib.io_add_watch(sys.stdin, GLib.IO_IN | GLib.IO_HUP, command)
    say(ready=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
