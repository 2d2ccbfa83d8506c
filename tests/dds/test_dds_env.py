"""The workspace's DDS rule (robot_common.dds), its profile, and scripts/env.sh agreeing with it."""
from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET

import pytest

from robot_common import dds
from robot_common.paths import source_root

NS = {"f": "http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles"}
ROOT = source_root()
PROFILE = ROOT / "config/dds/fastdds_localhost.xml"


def base(**extra: str) -> dict[str, str]:
    """A user's shell: no profile, no RMW choice, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if k not in (*dds.PROFILE_VARS, dds.RANGE_VAR, dds.LOCALHOST_ONLY_VAR, dds.INTERFACES_VAR,
                        dds.SWITCH_VAR, "RMW_IMPLEMENTATION")}
    env.update(extra)
    return env


def test_the_profile_binds_udp_to_loopback_without_multicast_and_keeps_large_shared_memory():
    root = ET.parse(PROFILE).getroot()
    udp = [t for t in root.iterfind(".//f:transport_descriptor", NS) if t.findtext("f:type", namespaces=NS) == "UDPv4"]
    assert len(udp) == 1
    assert [a.text for a in udp[0].iterfind("f:interfaceWhiteList/f:address", NS)] == ["127.0.0.1"]
    assert root.findtext(".//f:segment_size", namespaces=NS) == "16777216"    # a 640x480 rgb8 image fits
    participant = root.find("f:participant", NS)
    assert participant.get("is_default_profile") == "true"
    rtps = participant.find("f:rtps", NS)
    assert rtps.findtext("f:useBuiltinTransports", namespaces=NS) == "false"
    assert [t.text for t in rtps.iterfind("f:userTransports/f:transport_id", NS)] == \
        [t.findtext("f:transport_id", namespaces=NS) for t in root.iterfind(".//f:transport_descriptor", NS)]
    builtin = rtps.find("f:builtin", NS)
    assert builtin.find("f:metatrafficMulticastLocatorList", NS) is None
    for tag in ("metatrafficUnicastLocatorList", "initialPeersList"):
        assert [a.text for a in builtin.iterfind(f"f:{tag}//f:address", NS)] == ["127.0.0.1"], tag


def test_localhost_gets_the_profile_and_system_default_and_applying_twice_changes_nothing():
    env = base(ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    changes = dds.apply(env)
    assert changes == {dds.PROFILE_VAR: str(PROFILE), dds.RANGE_VAR: "SYSTEM_DEFAULT"}
    assert dds.requested_range(env) == "LOCALHOST"
    assert dds.apply(env) == {}
    env[dds.RANGE_VAR] = "LOCALHOST"            # ros_env() forces LOCALHOST again: the same result
    assert dds.apply(env) == {dds.RANGE_VAR: "SYSTEM_DEFAULT"}


def test_ros_localhost_only_counts_as_localhost_and_is_cleared():
    env = base(ROS_LOCALHOST_ONLY="1")
    assert dds.requested_range(env) == "LOCALHOST"
    assert dds.apply(env) == {dds.PROFILE_VAR: str(PROFILE), dds.RANGE_VAR: "SYSTEM_DEFAULT",
                              dds.LOCALHOST_ONLY_VAR: ""}


@pytest.mark.parametrize("var", dds.PROFILE_VARS)
def test_a_profile_of_the_users_own_is_kept(var, tmp_path):
    mine = tmp_path / "mine.xml"
    env = base(ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", **{var: str(mine)})
    assert dds.dds_environment(env) == {}


def test_another_rmw_is_left_alone():
    env = base(ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", RMW_IMPLEMENTATION="rmw_cyclonedds_cpp")
    assert dds.dds_environment(env) == {}
    env["RMW_IMPLEMENTATION"] = "rmw_fastrtps_dynamic_cpp"
    assert dds.dds_environment(env)[dds.PROFILE_VAR] == str(PROFILE)


def test_robot_ws_dds_off_leaves_dds_alone():
    assert dds.dds_environment(base(ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", ROBOT_WS_DDS="off")) == {}


def test_subnet_without_interfaces_is_fast_dds_default():
    assert dds.dds_environment(base(ROS_AUTOMATIC_DISCOVERY_RANGE="SUBNET")) == {}
    assert dds.dds_environment(base()) == {}                 # unset: rcl's default, SUBNET


def test_named_interfaces_get_a_generated_profile_with_their_addresses(tmp_path):
    have = dds.local_ipv4()
    name, address = next(((n, a) for n, a in sorted(have.items()) if a != "127.0.0.1"), ("lo", "127.0.0.1"))
    env = base(ROS_AUTOMATIC_DISCOVERY_RANGE="SUBNET", ROS_HOME=str(tmp_path), ROBOT_WS_DDS_INTERFACES=f"{name}, lo")
    changes = dds.apply(env)
    path = changes[dds.PROFILE_VAR]
    assert path.startswith(str(tmp_path / "robot_ws_dds")) and dds.is_workspace_profile(path, env)
    root = ET.parse(path).getroot()
    assert [a.text for a in root.iterfind(".//f:interfaceWhiteList/f:address", NS)] == \
        list(dict.fromkeys(["127.0.0.1", address]))
    assert root.find(".//f:initialPeersList", NS) is None           # Fast DDS's own discovery on them
    assert root.findtext(".//f:segment_size", namespaces=NS) == "16777216"
    assert dds.apply(env) == {}                                     # idempotent, the file is reused
    # LOCALHOST wins over named interfaces
    env[dds.RANGE_VAR] = "LOCALHOST"
    assert dds.apply(env) == {dds.PROFILE_VAR: str(PROFILE), dds.RANGE_VAR: "SYSTEM_DEFAULT"}


def test_an_unknown_interface_or_range_is_a_one_line_error(tmp_path):
    env = base(ROS_AUTOMATIC_DISCOVERY_RANGE="SUBNET", ROS_HOME=str(tmp_path), ROBOT_WS_DDS_INTERFACES="eth0,nosuch9")
    with pytest.raises(dds.DdsConfigError, match=r"ROBOT_WS_DDS_INTERFACES: 'nosuch9' is not an interface") as err:
        dds.dds_environment(env)
    assert "\n" not in str(err.value) and "lo 127.0.0.1" in str(err.value)
    with pytest.raises(dds.DdsConfigError, match="not an interface or IPv4 address"):
        dds.dds_environment(base(ROS_AUTOMATIC_DISCOVERY_RANGE="SUBNET", ROBOT_WS_DDS_INTERFACES="203.0.113.77"))
    with pytest.raises(dds.DdsConfigError, match="ROS_AUTOMATIC_DISCOVERY_RANGE='LOCAL': expected one of"):
        dds.dds_environment(base(ROS_AUTOMATIC_DISCOVERY_RANGE="LOCAL"))


def test_a_node_exits_2_on_a_bad_dds_setting():
    from robot_common.testing import python_module_cmd, ros_env

    env = ros_env()
    for name in dds.PROFILE_VARS:
        env.pop(name, None)
    env.update(ROS_AUTOMATIC_DISCOVERY_RANGE="SUBNET", ROBOT_WS_DDS_INTERFACES="nosuch9")
    out = subprocess.run(python_module_cmd("sim.sim_node"), env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "'nosuch9' is not an interface" in lines[0], out.stderr


def _env_sh(env: dict[str, str]) -> dict[str, str]:
    """What scripts/env.sh exports, sourced in bash from `env`."""
    script = f"source {ROOT / 'scripts/env.sh'} && env -0"
    out = subprocess.run(["bash", "-c", script], env=env, capture_output=True, check=True, timeout=30).stdout
    return dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)


@pytest.mark.parametrize("extra", [{}, {"ROS_LOCALHOST_ONLY": "1"}, {"FASTRTPS_DEFAULT_PROFILES_FILE": "/mine.xml"},
                                   {"FASTDDS_DEFAULT_PROFILES_FILE": "/mine.xml"},
                                   {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"},
                                   {"RMW_IMPLEMENTATION": "rmw_fastrtps_cpp"}, {"ROBOT_WS_DDS": "off"}],
                         ids=["plain", "localhost_only", "own_profile", "own_profile_fastdds3", "cyclone", "fastrtps",
                              "off"])
def test_env_sh_applies_the_same_rule(extra):
    """The Makefile's environment equals robot_common.dds applied to env.sh's LOCALHOST (the only
    range env.sh sets); env.sh is bash and cannot import it before the workspace is built."""
    shell = _env_sh(base(**extra))
    expected = base(**extra, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    dds.apply(expected)
    for name in dds.MANAGED_VARS:
        assert shell.get(name) == expected.get(name), name
