"""The pytest plugin, run on example test files with pytester: sync, pytest-trio, pytest-asyncio and
anyio tests; the marker; reset between tests; the traffic record in a failure's report."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

pytest_plugins = ["pytester"]

INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""

CLIENT = '''
import socket

def qmp(path, *commands):
    """Send QMP commands on a new connection; the replies, as bytes lines."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        f = s.makefile("rb")
        f.readline()
        out = []
        for c in ('{"execute": "qmp_capabilities"}', *commands):
            s.sendall(c.encode())
            out.append(f.readline().rstrip())
        f.close()
        return out[1:]
'''


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.makepyfile(qmpclient=CLIENT)
    return pytester


def test_sync_tests_share_one_vm_reset_between_them(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_sync="""
        import os
        from qmpclient import qmp
        PIDS = []

        def test_add(fakeqemu_vm):
            add = '{"execute": "device_add", "arguments": {"driver": "e1000", "id": "n1"}}'
            assert qmp(fakeqemu_vm.qmp_path, add) == [b'{"return": {}}']
            PIDS.append(fakeqemu_vm.qmp_path)

        def test_gone_in_the_next_test(fakeqemu_vm):
            reply = qmp(fakeqemu_vm.qmp_path, '{"execute": "device_del", "arguments": {"id": "n1"}}')
            assert b"DeviceNotFound" in reply[0]
            assert fakeqemu_vm.commands() == ["qmp_capabilities", "device_del"]  # this test's only
            assert PIDS == [fakeqemu_vm.qmp_path]  # the same VM, not a new one
        """
    )
    suite.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_marker_configures_the_vm(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_marker="""
        import pytest

        pytestmark = pytest.mark.fakeqemu(machine="q35")

        @pytest.mark.fakeqemu(guest="never", faults={"fail": {"device_add": {"desc": "no room"}}})
        def test_configured(fakeqemu_vm):
            assert fakeqemu_vm.machine == "q35"
            assert fakeqemu_vm.qmp("x-fakeqemu-query-guest")["policy"] == "never"
            assert fakeqemu_vm.faults.get()["fail"]["device_add"]["desc"] == "no room"

        def test_module_marker_only(fakeqemu_vm):
            assert fakeqemu_vm.machine == "q35"
            assert fakeqemu_vm.qmp("x-fakeqemu-query-guest")["policy"] == "auto"

        @pytest.mark.fakeqemu(vms=3)
        def test_fleet(fakeqemu_fleet):
            assert [v.name for v in fakeqemu_fleet.vms] == ["vm0-0", "vm0-1", "vm0-2"]

        @pytest.mark.fakeqemu(vms=3)
        def test_fleet_kill(fakeqemu_fleet):
            fakeqemu_fleet.vm("vm0-1").kill()

        @pytest.mark.fakeqemu(vms=3)
        def test_fleet_whole_again(fakeqemu_fleet):
            assert all(vm.alive() for vm in fakeqemu_fleet.vms)
            assert fakeqemu_fleet.vm("vm0-1").qmp("query-name") == {"name": "vm0-1"}

        def test_factory(fakeqemu_factory):
            a = fakeqemu_factory(name="a")
            b = fakeqemu_factory(name="b", machine="pc")
            assert (a.name, a.machine, b.machine) == ("a", "pc", "pc") and a.qmp_path != b.qmp_path
        """
    )
    suite.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=6)


def test_trio_asyncio_and_anyio_tests(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_async="""
        import pytest
        import trio
        from qemu.qmp import QMPClient

        @pytest.mark.trio
        async def test_trio(fakeqemu_vm):
            stream = await trio.open_unix_socket(fakeqemu_vm.qmp_path)
            async with stream:
                await stream.receive_some(4096)
                await stream.send_all(b'{"execute": "qmp_capabilities"}{"execute": "stop"}')
                assert (await fakeqemu_vm.event("STOP"))["event"] == "STOP"

        @pytest.mark.asyncio
        async def test_asyncio(fakeqemu_vm):
            qmp = QMPClient("t")
            await qmp.connect(fakeqemu_vm.qmp_path)
            await qmp.execute("device_add", {"driver": "virtio-net-pci", "id": "net0"})
            await qmp.execute("device_del", {"id": "net0"})
            event = await fakeqemu_vm.event("DEVICE_DELETED", device="net0")
            await qmp.disconnect()
            assert event["data"]["device"] == "net0"

        @pytest.fixture(params=["asyncio", "trio"])
        def anyio_backend(request):
            return request.param

        @pytest.mark.anyio
        async def test_anyio(fakeqemu_vm):
            fakeqemu_vm.qmp("system_powerdown")
            assert (await fakeqemu_vm.event("POWERDOWN"))["event"] == "POWERDOWN"
        """
    )
    suite.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=4)


def test_traffic_is_attached_to_a_failure(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_fails="""
        from qmpclient import qmp

        def test_fails(fakeqemu_vm):
            qmp(fakeqemu_vm.qmp_path, '{"execute": "query-status", "id": "marker-42"}')
            assert False, "the orchestrator did the wrong thing"

        def test_passes(fakeqemu_vm):
            qmp(fakeqemu_vm.qmp_path, '{"execute": "query-name"}')
        """
    )
    result = suite.runpytest("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*- fakeqemu traffic vm0 -*", '* in   {"execute": "query-status", "id": "marker-42"}'])
    assert '"query-name"' not in result.stdout.str()  # no record attached to the test that passed


def test_the_plugin_is_registered_and_loads_nothing_of_fakeqemu() -> None:
    """Installed as pytest11 ``fakeqemu``; importing it (as pytest does at start-up) loads nothing of
    fakeqemu's runtime, so suites that do not use it are not changed by it."""
    (entry,) = [e for e in importlib.metadata.entry_points(group="pytest11") if e.name == "fakeqemu"]
    assert entry.value == "fakeqemu.pytest_plugin"
    code = f"import sys, {entry.value}; print(sorted(m for m in sys.modules if m.startswith('fakeqemu')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['fakeqemu', 'fakeqemu.pytest_plugin']"
