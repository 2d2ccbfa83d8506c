"""Every launch file starts every process in the workspace's DDS environment (robot_common.dds), run
under the launch model of tests/static (Humble and Jazzy launch): each node, and each launch file of
another package it includes, gets the loopback profile when the launch runs with LOCALHOST; a
profile the user set is never replaced; named interfaces reach the processes as their profile."""
from __future__ import annotations

import pytest

from robot_common import dds
from tests.static import launch_model as lm
from tests.static.launch_check import all_launch_files, argument_sets, evaluate, resolve

LAUNCH_FILES = all_launch_files()


def user_shell(monkeypatch, **values: str) -> None:
    """The launch process's environment as a user's shell gives it."""
    for name in (*dds.PROFILE_VARS, dds.RANGE_VAR, dds.LOCALHOST_ONLY_VAR, dds.INTERFACES_VAR, "RMW_IMPLEMENTATION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def started(path, args: dict) -> list[tuple[str, dict]]:
    """(what, the variables the launch set for it) for every process and include of one launch."""
    with lm.installed():
        ev = evaluate(path, args)
    assert ev.failure is None, ev.failure
    out = [(f"{p.package}/{p.executable}", p.environment) for p in ev.record.processes]
    # another package's launch file (ours set the environment themselves, in their own groups)
    out += [(f"include {inc}", env) for inc, env in ev.record.include_environments if resolve(inc)[1] is None]
    return out


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_process_of_every_launch_file_gets_the_loopback_profile(path, monkeypatch):
    user_shell(monkeypatch, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    want = {dds.PROFILE_VAR: str(dds.localhost_profile()), dds.RANGE_VAR: "SYSTEM_DEFAULT"}
    seen = 0
    for args in argument_sets(path):
        for what, env in started(path, args):
            assert {k: env.get(k) for k in want} == want, f"{path.name} {args}: {what} gets {env}"
            seen += 1
    assert seen, f"{path.name} started no process in any argument set"


def test_a_profile_the_user_set_is_not_replaced(monkeypatch, tmp_path):
    mine = str(tmp_path / "mine.xml")
    user_shell(monkeypatch, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", FASTRTPS_DEFAULT_PROFILES_FILE=mine)
    for path in LAUNCH_FILES:
        for what, env in started(path, argument_sets(path)[0]):
            assert not set(env) & set(dds.MANAGED_VARS), f"{path.name}: {what} gets {env}"


def test_named_interfaces_reach_every_process(monkeypatch, tmp_path):
    user_shell(monkeypatch, ROS_AUTOMATIC_DISCOVERY_RANGE="SUBNET", ROBOT_WS_DDS_INTERFACES="lo",
               ROS_HOME=str(tmp_path))
    path = next(p for p in LAUNCH_FILES if p.name == "teleop.launch.py")
    processes = started(path, argument_sets(path)[0])
    assert processes
    for what, env in processes:
        assert env == {dds.PROFILE_VAR: str(tmp_path / "robot_ws_dds" / "fastdds_127.0.0.1.xml")}, what


def test_an_unknown_interface_stops_the_launch_with_its_name(monkeypatch, tmp_path):
    user_shell(monkeypatch, ROS_AUTOMATIC_DISCOVERY_RANGE="SUBNET", ROBOT_WS_DDS_INTERFACES="nosuch9",
               ROS_HOME=str(tmp_path))
    path = next(p for p in LAUNCH_FILES if p.name == "sim.launch.py")
    with lm.installed():
        ev = evaluate(path, {})
    assert ev.refused and "'nosuch9' is not an interface" in ev.refused, (ev.refused, ev.failure)
