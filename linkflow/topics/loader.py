"""Load topic specs from a directory of YAML files and resolve them into `TopicSpec`s.

Layout of a spec directory (see `topics/` at the project root):

- `profiles.yaml`: replication settings per deployment profile (`dev`, `production`, ...)
  and the default profile. Optional; without it every topic states its own.
- every other `*.yaml`: a `topics:` list. Top-level `partitions`, `replication_factor`,
  `copartition_group` and `config` are defaults for the file's topics. A name containing
  `{queue}` is a template expanded once per entry of its `queues:` list.

Replication factor and min.insync.replicas resolve, strongest first: explicit override
(flag or environment), the topic, the file, the profile. A partitions override (flag or
environment) replaces the count of the keyed topics: those of a copartition group and the
task queues.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from linkflow.topics.configs import ConfigValueError, to_broker_value
from linkflow.topics.errors import SpecError
from linkflow.topics.fields import display, positive_int, read_yaml, unknown_keys
from linkflow.topics.model import MIN_INSYNC_REPLICAS, TopicSpec
from linkflow.topics.overrides import Overrides
from linkflow.topics.profiles import PROFILES_FILE, Profile, load_profile

QUEUE_PLACEHOLDER = "{queue}"
MAX_TOPIC_NAME = 249
_LEGAL_NAME = re.compile(r"[a-zA-Z0-9._-]+")

_FILE_KEYS = frozenset(
    {"topics", "partitions", "replication_factor", "copartition_group", "config"}
)
_TOPIC_KEYS = frozenset(
    {"name", "partitions", "replication_factor", "copartition_group", "config", "queues"}
)


def load_specs(specs_dir: Path, overrides: Overrides | None = None) -> list[TopicSpec]:
    """Every topic the specs declare, resolved; raises SpecError listing every problem."""
    overrides = overrides or Overrides()
    problems: list[str] = []
    if not specs_dir.is_dir():
        raise SpecError([f"{specs_dir}: topic spec directory not found"])
    overrides.validate(problems)
    before = len(problems)
    profile = load_profile(specs_dir, overrides.profile, problems)
    # A broken profile is reported once, not again as every topic's missing replication.
    profile_broken = len(problems) > before
    files = sorted(
        path
        for path in specs_dir.iterdir()
        if path.suffix in (".yaml", ".yml") and path.name != PROFILES_FILE and path.is_file()
    )
    if not files:
        problems.append(f"{display(specs_dir)}: no topic spec files (*.yaml)")
    loader = _FileLoader(profile, profile_broken, overrides, problems)
    specs = [spec for path in files for spec in loader.load(path)]
    _check_across_files(specs, overrides, loader.saw_template, problems)
    if problems:
        raise SpecError(problems)
    return specs


class _FileLoader:
    def __init__(
        self,
        profile: Profile | None,
        profile_broken: bool,
        overrides: Overrides,
        problems: list[str],
    ) -> None:
        self.profile = profile
        self.profile_broken = profile_broken
        self.overrides = overrides
        self.problems = problems
        self.saw_template = False

    def load(self, path: Path) -> list[TopicSpec]:
        shown = display(path)
        before = len(self.problems)
        data = read_yaml(path, self.problems)
        if data is None:
            if len(self.problems) == before:
                self.problems.append(f"{shown}: empty file; expected a 'topics' list")
            return []
        if not isinstance(data, dict):
            self.problems.append(f"{shown}: expected a mapping with a 'topics' list")
            return []
        unknown_keys(data, _FILE_KEYS, f"{shown}: ", self.problems)
        topics = data.get("topics")
        if not isinstance(topics, list) or not topics:
            self.problems.append(f"{shown}: topics: expected a non-empty list of topics")
            return []
        file_config = self._config(data.get("config", {}), f"{shown}: config")
        specs: list[TopicSpec] = []
        for index, entry in enumerate(topics):
            where = f"{shown}: topics[{index}]"
            if not isinstance(entry, dict):
                self.problems.append(f"{where}: expected a mapping with at least 'name'")
                continue
            specs.extend(self._topic(entry, data, file_config, where))
        return specs

    def _config(self, raw: Any, where: str) -> dict[str, str]:
        if not isinstance(raw, dict):
            self.problems.append(f"{where}: expected a mapping of Kafka topic configs")
            return {}
        config = {}
        for key, value in raw.items():
            try:
                config[str(key)] = to_broker_value(str(key), value)
            except ConfigValueError as exc:
                self.problems.append(f"{where}.{key}: {exc}")
        return config

    def _topic(
        self,
        entry: dict[str, Any],
        defaults: dict[str, Any],
        file_config: dict[str, str],
        where: str,
    ) -> list[TopicSpec]:
        problems = self.problems
        before = len(problems)
        unknown_keys(entry, _TOPIC_KEYS, f"{where}.", problems)

        name = entry.get("name")
        if not isinstance(name, str) or not name:
            problems.append(f"{where}.name: expected a topic name")
            return []
        where = f"{where} ({name})"
        template = QUEUE_PLACEHOLDER in name
        self.saw_template = self.saw_template or template
        if name.count(QUEUE_PLACEHOLDER) > 1:
            problems.append(f"{where}.name: {QUEUE_PLACEHOLDER} may appear only once")

        partitions_raw = entry.get("partitions", defaults.get("partitions"))
        partitions = None
        if partitions_raw is None:
            problems.append(f"{where}.partitions: required (here or at the top of the file)")
        else:
            partitions = positive_int(partitions_raw, f"{where}.partitions", problems)

        replication = self._replication_factor(entry, defaults, where)
        config = {**file_config, **self._config(entry.get("config", {}), f"{where}.config")}
        self._resolve_min_isr(config, replication, where)

        group = entry.get("copartition_group", defaults.get("copartition_group"))
        if group is not None and not isinstance(group, str):
            problems.append(f"{where}.copartition_group: expected a group name")
            group = None

        queues = self._queues(entry, template, where)
        if self.overrides.partitions is not None and (group is not None or template):
            partitions = self.overrides.partitions
        if len(problems) > before or partitions is None or replication is None:
            return []

        specs = []
        for queue in queues if template else [None]:
            full = self.overrides.prefix + (
                name.replace(QUEUE_PLACEHOLDER, queue) if queue is not None else name
            )
            origin = where if queue is None else f"{where[:-1]}, queue '{queue}')"
            if not _LEGAL_NAME.fullmatch(full) or full in (".", "..") or len(full) > MAX_TOPIC_NAME:
                problems.append(
                    f"{origin}: name {full!r} is not a legal Kafka topic name "
                    f"(letters, digits, '.', '_', '-'; at most {MAX_TOPIC_NAME} characters)"
                )
                continue
            specs.append(TopicSpec(full, partitions, replication, dict(config), group, origin))
        return specs

    def _replication_factor(
        self, entry: dict[str, Any], defaults: dict[str, Any], where: str
    ) -> int | None:
        if self.overrides.replication_factor is not None:
            return self.overrides.replication_factor
        raw = entry.get("replication_factor", defaults.get("replication_factor"))
        if raw is not None:
            return positive_int(raw, f"{where}.replication_factor", self.problems)
        if self.profile is not None:
            return self.profile.replication_factor
        if self.profile_broken:
            return None
        self.problems.append(
            f"{where}.replication_factor: not set here, at the top of the file, by a profile "
            f"({PROFILES_FILE}) or by --replication-factor"
        )
        return None

    def _resolve_min_isr(self, config: dict[str, str], replication: int | None, where: str) -> None:
        if self.overrides.min_insync_replicas is not None:
            config[MIN_INSYNC_REPLICAS] = str(self.overrides.min_insync_replicas)
        elif MIN_INSYNC_REPLICAS not in config and self.profile is not None:
            config[MIN_INSYNC_REPLICAS] = str(self.profile.min_insync_replicas)
        isr = config.get(MIN_INSYNC_REPLICAS)
        if replication is not None and isr is not None and int(isr) > replication:
            self.problems.append(
                f"{where}: min.insync.replicas {isr} exceeds replication_factor {replication}, "
                "so producers using acks=all could never write"
            )

    def _queues(self, entry: dict[str, Any], template: bool, where: str) -> list[str]:
        raw = entry.get("queues")
        if not template:
            if raw is not None:
                self.problems.append(
                    f"{where}.queues: only a name containing {QUEUE_PLACEHOLDER} takes queues"
                )
            return []
        if raw is None:
            raw = []
        if not isinstance(raw, list) or not all(isinstance(q, str) for q in raw):
            self.problems.append(f"{where}.queues: expected a list of queue names")
            return []
        queues = list(dict.fromkeys([*raw, *self.overrides.task_queues]))
        if not queues:
            self.problems.append(f"{where}.queues: a {QUEUE_PLACEHOLDER} template needs a queue")
        for queue in raw:
            if not _LEGAL_NAME.fullmatch(queue):
                self.problems.append(
                    f"{where}.queues: {queue!r} is not a legal queue name "
                    "(letters, digits, '.', '_', '-')"
                )
        return queues


def _check_across_files(
    specs: list[TopicSpec], overrides: Overrides, saw_template: bool, problems: list[str]
) -> None:
    origins: dict[str, list[str]] = {}
    for spec in specs:
        origins.setdefault(spec.name, []).append(spec.origin)
    for name, where in origins.items():
        if len(where) > 1:
            problems.append(f"topic {name} is declared more than once: {'; '.join(where)}")

    groups: dict[str, list[TopicSpec]] = {}
    for spec in specs:
        if spec.copartition_group is not None:
            groups.setdefault(spec.copartition_group, []).append(spec)
    for group, members in groups.items():
        if len({spec.partitions for spec in members}) > 1:
            counts = "; ".join(f"{spec.origin}: partitions={spec.partitions}" for spec in members)
            problems.append(
                f"co-partition group '{group}' declares unequal partition counts ({counts}); "
                "its topics must share one count"
            )

    if overrides.task_queues and not saw_template:
        problems.append(
            f"task queues {', '.join(overrides.task_queues)} were requested but no spec has "
            f"a {QUEUE_PLACEHOLDER} template"
        )
