"""The mapping YAML (config/dataset/<name>.yaml): which bag topic feeds which dataset feature.

A feature is one or more *sources* (topics) whose aligned vectors are concatenated, or one image
topic. See docs/bag_to_dataset.md for the file format.

Mappings are robot-agnostic and namespace-agnostic: `joints: robot|arm|gripper` and relative topic
names are resolved per episode by `Mapping.bind(robot, namespace)`, with the robot and the
namespace the recorder stored in episode.yaml (or given on the command line). Binding also takes
each joint's limits from the robot's spec, for the range check at conversion.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import yaml

from robot_common.conversions import POSE_NAMES
from robot_common.paths import find_config, list_configs

# source type -> ROS message types it accepts
SOURCE_TYPES = {
    "joint_state": ("sensor_msgs/msg/JointState",),
    "trajectory": ("trajectory_msgs/msg/JointTrajectory",),
    "float_array": ("std_msgs/msg/Float64MultiArray", "std_msgs/msg/Float32MultiArray"),
    "scalar": ("std_msgs/msg/Float32", "std_msgs/msg/Float64"),
    "wrench": ("geometry_msgs/msg/WrenchStamped",),
    "pose": ("geometry_msgs/msg/PoseStamped",),
    "image": ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage"),
}
HEADERLESS = ("float_array", "scalar")
POLICIES = ("hold", "tolerance", "drop")
TIME_SOURCES = ("header", "receive")
CODECS = {"libsvtav1": "av1", "av1": "av1", "libx264": "h264", "h264": "h264"}
WRENCH_NAMES = ["force.x", "force.y", "force.z", "torque.x", "torque.y", "torque.z"]
JOINT_GROUPS = ("robot", "arm", "gripper")
OUT_OF_RANGE = ("fail", "keep")
POSITION_TYPES = ("joint_state", "trajectory", "float_array")   # values in joint units, checked against limits


class MappingError(ValueError):
    """A mapping YAML that is missing fields or inconsistent."""


@dataclass(frozen=True)
class Source:
    topic: str                        # relative (resolved in the recording's namespace) or absolute
    type: str
    names: tuple[str, ...] = ()      # vector element names (joint names for joint_state/trajectory)
    field: str = "position"           # joint_state: position | velocity | effort
    time: str = "header"              # header | receive
    policy: str = "hold"              # hold | tolerance | drop
    tolerance: float = 0.1            # seconds; stale beyond this is a gap
    joints: str | None = None         # robot | arm | gripper: names from the robot's spec when bound
    limits: tuple[tuple[float, float] | None, ...] = ()   # per name, from the robot's spec (bound)

    @property
    def is_image(self) -> bool:
        return self.type == "image"

    @property
    def checks_limits(self) -> bool:
        return self.type in POSITION_TYPES and self.field == "position"


@dataclass(frozen=True)
class Feature:
    name: str
    sources: tuple[Source, ...]

    @property
    def is_video(self) -> bool:
        return self.sources[0].is_image

    @property
    def names(self) -> list[str]:
        return [n for s in self.sources for n in s.names]


@dataclass(frozen=True)
class VideoSettings:
    codec: str = "libsvtav1"
    crf: int = 30
    preset: int | str = 12
    g: int = 2
    pix_fmt: str = "yuv420p"


@dataclass(frozen=True)
class Mapping:
    fps: int
    features: tuple[Feature, ...]
    robot_type: str | None = None
    task: str | None = None
    video: VideoSettings = field(default_factory=VideoSettings)
    chunks_size: int = 1000
    data_files_size_in_mb: float = 100
    video_files_size_in_mb: float = 200
    image_stats_frames: int = 100
    trim_idle_start: float = 0.0      # drop leading frames until an action value moves more than this
    robot: str | None = None          # default robot; bound: the robot the names and limits came from
    namespace: str = "/"              # bound: the namespace relative topics were resolved in
    out_of_range: str = "fail"        # a joint value beyond its limit: fail the episode, or keep it (flagged)
    range_margin: float = 0.05        # tolerated excess beyond a limit, as a fraction of the joint's range
    bound: bool = False
    source: str = ""

    @property
    def topics(self) -> list[str]:
        return sorted({s.topic for f in self.features for s in f.sources})

    @property
    def video_features(self) -> list[Feature]:
        return [f for f in self.features if f.is_video]

    @property
    def vector_features(self) -> list[Feature]:
        return [f for f in self.features if not f.is_video]

    def digest(self) -> str:
        """Stable hash of everything that changes the converted output."""
        data = asdict(self)
        data.pop("source")
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def replace(self, **changes) -> Mapping:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data.update({k: v for k, v in changes.items() if v is not None})
        return Mapping(**data)

    @property
    def needs_robot(self) -> bool:
        return any(s.joints for f in self.features for s in f.sources)

    def signature(self) -> tuple:
        """What episodes must share to go into one dataset: features, their sources' kinds and names."""
        return tuple((f.name, tuple((s.type, s.names) for s in f.sources)) for f in self.features)

    def bind(self, robot: str | None = None, namespace: str | None = None) -> Mapping:
        """This mapping for one recording: joint names and limits from `robot`'s spec (default: the
        mapping's own `robot`), relative topics resolved in `namespace` (default /)."""
        robot = robot or self.robot
        ns = normalize_namespace(namespace or "/")
        spec = None
        if robot:
            from robot_common.spec import RobotSpecError, load_robot_spec

            try:
                spec = load_robot_spec(robot)
            except (RobotSpecError, FileNotFoundError) as err:
                raise MappingError(f"{self.source}: robot '{robot}': {err}") from None
        elif self.needs_robot:
            uses = sorted({f"{f.name} (joints: {s.joints})" for f in self.features for s in f.sources if s.joints})
            raise MappingError(f"{self.source}: {', '.join(uses)} need a robot, and the recording does not name "
                               f"one: pass --robot (config/robots/<robot>.yaml)")
        limits = _spec_limits(spec) if spec else {}
        features = []
        for f in self.features:
            sources = []
            for s in f.sources:
                names = tuple(_robot_joint_names(spec, s.joints)) if s.joints else s.names
                lim = tuple(limits.get(n) for n in names) if s.checks_limits else ()
                sources.append(replace(s, topic=resolve_topic(s.topic, ns), names=names, limits=lim))
            features.append(Feature(f.name, tuple(sources)))
        return Mapping(**{**{k: getattr(self, k) for k in self.__dataclass_fields__}, "features": tuple(features),
                          "robot": robot, "namespace": ns, "bound": True})


def normalize_namespace(ns: str) -> str:
    ns = "/" + str(ns).strip().strip("/")
    return ns


def resolve_topic(topic: str, namespace: str) -> str:
    """A mapping's topic as the bag names it: absolute as is, relative below the namespace."""
    if topic.startswith("/"):
        return topic
    return f"{namespace.rstrip('/')}/{topic}"


def _spec_limits(spec) -> dict[str, tuple[float, float]]:
    out = {j.name: (float(j.lower), float(j.upper)) for j in spec.joints}
    if spec.gripper:
        out[spec.gripper.joint] = (float(spec.gripper.lower), float(spec.gripper.upper))
    return out


def _robot_joint_names(spec, which: str) -> list[str]:
    arm = spec.joint_names
    grip = [spec.gripper.joint] if spec.gripper else []
    return {"robot": arm + grip, "arm": arm, "gripper": grip}[which]


def _parse_source(raw: dict, where: str) -> Source:
    if not isinstance(raw, dict) or "topic" not in raw:
        raise MappingError(f"{where}: each source needs a 'topic'")
    stype = raw.get("type", "joint_state")
    if stype not in SOURCE_TYPES:
        raise MappingError(f"{where}: unknown type '{stype}'; known: {sorted(SOURCE_TYPES)}")
    names = raw.get("names", raw.get("joints"))
    joints = None
    if isinstance(names, str):
        if names not in JOINT_GROUPS:
            raise MappingError(f"{where}: joints '{names}' must be a list or one of robot, arm, gripper")
        joints, names = names, []
    elif names is None:
        if stype == "wrench":
            names = WRENCH_NAMES
        elif stype == "pose":
            names = POSE_NAMES
        elif stype == "scalar":
            names = [raw["topic"].rstrip("/").split("/")[-1]]
        elif stype != "image":
            raise MappingError(f"{where}: type {stype} needs 'joints' or 'names'")
        else:
            names = []
    time = raw.get("time", "receive" if stype in HEADERLESS else "header")
    if time not in TIME_SOURCES:
        raise MappingError(f"{where}: time must be one of {TIME_SOURCES}, got '{time}'")
    if time == "header" and stype in HEADERLESS:
        raise MappingError(f"{where}: {stype} messages have no header; use time: receive")
    policy = raw.get("policy", "hold")
    if policy not in POLICIES:
        raise MappingError(f"{where}: policy must be one of {POLICIES}, got '{policy}'")
    tolerance = float(raw.get("tolerance", 0.1))
    if tolerance <= 0:
        raise MappingError(f"{where}: tolerance must be > 0 s")
    fld = raw.get("field", "position")
    if fld not in ("position", "velocity", "effort"):
        raise MappingError(f"{where}: field must be position, velocity or effort")
    topic = str(raw["topic"])
    if not topic or topic.startswith("~") or "//" in topic or " " in topic:
        raise MappingError(f"{where}: topic '{topic}' is not a topic name like joint_states (relative: resolved in "
                           f"the recording's namespace) or /joint_states")
    return Source(topic=topic, type=stype, names=tuple(str(n) for n in names), field=fld,
                  time=time, policy=policy, tolerance=tolerance, joints=joints)


def parse_mapping(data: dict, where: str = "<mapping>") -> Mapping:
    if not isinstance(data, dict):
        raise MappingError(f"{where}: not a mapping YAML")
    robot = data.get("robot")
    if robot is not None and not isinstance(robot, str):
        raise MappingError(f"{where}: robot must be a robot name (config/robots/<robot>.yaml), got {robot!r}")
    fps = data.get("fps", 30)
    if not isinstance(fps, int) or fps <= 0:
        raise MappingError(f"{where}: fps must be a positive integer, got {fps!r}")
    feats_raw = data.get("features")
    if not isinstance(feats_raw, dict) or not feats_raw:
        raise MappingError(f"{where}: 'features' must map feature names to sources")
    features = []
    for name, spec in feats_raw.items():
        fw = f"{where}: features.{name}"
        raw_sources = spec.get("sources", [spec]) if isinstance(spec, dict) else spec
        if not isinstance(raw_sources, list) or not raw_sources:
            raise MappingError(f"{fw}: needs a topic or a list of sources")
        sources = tuple(_parse_source(s, f"{fw}.sources[{i}]") for i, s in enumerate(raw_sources))
        images = [s.is_image for s in sources]
        if any(images) and (len(sources) > 1 or not name.startswith(("observation.images.", "observation.tactile."))):
            raise MappingError(f"{fw}: an image topic must be the only source of an observation.images.<camera> "
                               f"(or observation.tactile.<name>) feature")
        if not any(images) and name.startswith("observation.images."):
            raise MappingError(f"{fw}: observation.images.* features must come from an image topic")
        features.append(Feature(name=str(name), sources=sources))
    names = [f.name for f in features]
    for required in ("observation.state", "action"):
        if required not in names:
            raise MappingError(f"{where}: features must include '{required}' (the policy trainer reads it)")
    video = dict(data.get("video") or {})
    codec = video.get("codec", "libsvtav1")
    if codec not in CODECS:
        raise MappingError(f"{where}: video.codec must be one of {sorted(CODECS)}")
    video["codec"] = "libsvtav1" if CODECS[codec] == "av1" else "libx264"
    if video["codec"] == "libx264" and "crf" not in video:
        video["crf"] = 23
    if video["codec"] == "libx264" and "preset" not in video:
        video["preset"] = "veryfast"
    files = dict(data.get("files") or {})
    return Mapping(
        fps=fps,
        features=tuple(features),
        robot_type=data.get("robot_type", robot),
        task=data.get("task"),
        video=VideoSettings(**video),
        chunks_size=int(files.get("chunks_size", 1000)),
        data_files_size_in_mb=float(files.get("data_files_size_in_mb", 100)),
        video_files_size_in_mb=float(files.get("video_files_size_in_mb", 200)),
        image_stats_frames=int(data.get("image_stats_frames", 100)),
        trim_idle_start=_non_negative(data.get("trim_idle_start", 0.0), f"{where}: trim_idle_start"),
        robot=robot,
        out_of_range=_choice(data.get("out_of_range", "fail"), OUT_OF_RANGE, f"{where}: out_of_range"),
        range_margin=_non_negative(data.get("range_margin", 0.05), f"{where}: range_margin"),
        source=where,
    )


def _choice(value, choices: tuple[str, ...], what: str) -> str:
    if value not in choices:
        raise MappingError(f"{what} must be one of {list(choices)}, got {value!r}")
    return value


def _non_negative(value, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise MappingError(f"{what} must be a number, got {value!r}") from None
    if not v >= 0:
        raise MappingError(f"{what} must be >= 0, got {value!r}")
    return v


KNOWN_KEYS = {"robot", "robot_type", "fps", "task", "video", "files", "image_stats_frames", "trim_idle_start",
              "features", "out_of_range", "range_margin"}


def load_mapping(name_or_path: str | Path) -> Mapping:
    """A mapping by name ('sim', 'real', 'demo' in config/dataset, found through robot_common.paths)
    or by YAML path. Every problem is a one-line MappingError naming the file."""
    try:
        path = find_config("dataset", name_or_path)
    except FileNotFoundError:
        text = str(name_or_path)
        if "/" in text:
            raise MappingError(f"mapping file {text} does not exist") from None
        raise MappingError(f"unknown dataset mapping '{text}'; known: {list_configs('dataset')}") from None
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as err:
        from .bagio import yaml_problem

        raise MappingError(f"{path}: not valid YAML: {yaml_problem(err)}") from None
    except OSError as err:
        raise MappingError(f"{path}: cannot read: {err.strerror}") from None
    if isinstance(data, dict) and set(data) - KNOWN_KEYS:
        raise MappingError(f"{path}: unknown keys {sorted(set(data) - KNOWN_KEYS)}; known: {sorted(KNOWN_KEYS)}")
    return parse_mapping(data, where=str(path))
