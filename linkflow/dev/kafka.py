"""A single-node KRaft Kafka broker from the official jars on Maven Central.

The jars are resolved once with the machine's Maven into the cache under the state
directory; the broker runs as a detached java process bound to 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from linkflow.dev.procs import (
    StackError,
    alive_as,
    port_free,
    port_open,
    read_pid,
    tail,
    terminate,
    wait_until,
)

# 4.4.0 is tagged on Maven Central but its kafka-tools-api artifact is missing there, so
# the broker cannot be resolved; 4.3.1 is the newest complete release (checked 2026-11-22)
# and both confluent-kafka and aiokafka 0.14 talk to it (tests/integration/test_clients.py).
KAFKA_VERSION = "4.3.1"
LOG4J_VERSION = "2.25.4"
HEAP = "768m"  # the issue caps the broker at 1 GiB: it shares 2 cores with the tests
START_TIMEOUT = 120.0

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.linkflow.dev</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""

_LOG4J = """Configuration:
  Appenders:
    RollingFile:
      name: file
      fileName: "{log}"
      filePattern: "{log}.%i"
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
      Policies:
        SizeBasedTriggeringPolicy:
          size: 20MB
      DefaultRolloverStrategy:
        max: 3
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: file
    Logger:
      - name: kafka.request.logger
        level: WARN
      - name: state.change.logger
        level: WARN
"""


@dataclass(frozen=True)
class KafkaPaths:
    root: Path
    cache: Path

    @property
    def lib(self) -> Path:
        return self.cache / f"kafka-{KAFKA_VERSION}" / "lib"

    @property
    def m2(self) -> Path:
        return self.cache / "m2"

    @property
    def config(self) -> Path:
        return self.root / "server.properties"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "broker.log"

    @property
    def pid(self) -> Path:
        return self.root / "broker.pid"

    @property
    def cluster_id(self) -> Path:
        return self.root / "cluster.id"


def resolve_jars(paths: KafkaPaths) -> Path:
    """Download the broker's jars with Maven unless the cache already holds them."""
    marker = paths.lib / ".complete"
    if marker.exists():
        return paths.lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("Maven (mvn) is not installed; it resolves the Kafka broker jars")
    work = paths.lib.parent
    work.mkdir(parents=True, exist_ok=True)
    (work / "pom.xml").write_text(_POM.format(kafka=KAFKA_VERSION, log4j=LOG4J_VERSION))
    staging = work / "lib.partial"
    shutil.rmtree(staging, ignore_errors=True)
    print(
        f"Resolving Apache Kafka {KAFKA_VERSION} broker jars from Maven Central "
        f"(first run only) into {paths.lib} ...",
        file=sys.stderr,
        flush=True,
    )
    result = subprocess.run(
        [
            mvn,
            "-B",
            "-q",
            f"-Dmaven.repo.local={paths.m2}",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}",
            "-DincludeScope=runtime",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise StackError(
            f"Maven could not resolve Kafka {KAFKA_VERSION}:\n"
            f"{(result.stdout + result.stderr)[-3000:]}"
        )
    shutil.rmtree(paths.lib, ignore_errors=True)
    staging.rename(paths.lib)
    marker.write_text(KAFKA_VERSION)
    return paths.lib


# The local broker's second listener, SASL_PLAINTEXT with the PLAIN mechanism on the broker
# port + 2, lets a user (and tests/integration/test_kafka_sasl.py) try LinkFlow's Kafka
# security settings without a secured cluster. One user, for local use only.
SASL_USERNAME = "linkflow"
SASL_PASSWORD = "linkflow-secret"
SASL_PORT_OFFSET = 2


def _server_properties(paths: KafkaPaths, port: int, controller_port: int) -> str:
    sasl = port + SASL_PORT_OFFSET
    plain = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="{SASL_USERNAME}" password="{SASL_PASSWORD}" '
        f'user_{SASL_USERNAME}="{SASL_PASSWORD}";'
    )
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port},"
            f"SASL_PLAINTEXT://127.0.0.1:{sasl}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
            "SASL_PLAINTEXT:SASL_PLAINTEXT",
            "sasl.enabled.mechanisms=PLAIN",
            f"listener.name.sasl_plaintext.plain.sasl.jaas.config={plain}",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={paths.data}",
            "num.partitions=1",
            "num.network.threads=2",
            "num.io.threads=4",
            # Topics come from topics/ specs; auto-creation would hide a missing spec.
            "auto.create.topics.enable=false",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=10",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=5",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            # A single-member dev group should not wait 3 s before its first assignment.
            "group.initial.rebalance.delay.ms=0",
            "",
        ]
    )


class KafkaBroker:
    marker = "kafka.Kafka"

    def __init__(self, state: Path, cache: Path, port: int, controller_port: int) -> None:
        self.paths = KafkaPaths(state / "kafka", cache)
        self.port = port
        self.controller_port = controller_port

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _ours(self) -> int | None:
        pid = read_pid(self.paths.pid)
        # The config path in the command line tells our broker from any other java.
        return pid if alive_as(pid, str(self.paths.config)) else None

    def running(self) -> bool:
        return self._ours() is not None

    def healthy(self) -> bool:
        if not self.running() or not port_open(self.port):
            return False
        from confluent_kafka.admin import AdminClient

        admin = AdminClient(
            {
                "bootstrap.servers": self.bootstrap_servers,
                "socket.connection.setup.timeout.ms": 2000,
            }
        )
        try:
            admin.list_topics(timeout=2)
        except Exception:
            return False
        return True

    def start(self) -> bool:
        """Start the broker; False when ours was already up and healthy (a no-op)."""
        if self.running():
            if wait_until(self.healthy, 30.0):
                return False
            # Half-started or wedged: running but never answering. Start it over.
            print(
                f"Kafka broker pid {read_pid(self.paths.pid)} is not answering; restarting",
                file=sys.stderr,
            )
            self.stop()
        self.paths.pid.unlink(missing_ok=True)  # stale: the process is gone or not ours
        for port in (self.port, self.controller_port, self.port + SASL_PORT_OFFSET):
            # A broker that just died may hold its sockets for a moment while it exits.
            if not wait_until(lambda p=port: port_free(p), 10.0):
                raise StackError(
                    f"port {port} is already in use by another process, so the Kafka broker "
                    f"cannot bind it; free it or choose other ports (LINKFLOW_KAFKA_PORT, "
                    f"LINKFLOW_KAFKA_CONTROLLER_PORT or --kafka-port; the SASL listener takes "
                    f"the broker port + {SASL_PORT_OFFSET})"
                )
        java = shutil.which("java")
        if java is None:
            raise StackError("Java is not installed; the Kafka broker needs Java 17 or newer")
        lib = resolve_jars(self.paths)
        self.paths.root.mkdir(parents=True, exist_ok=True)
        self.paths.config.write_text(
            _server_properties(self.paths, self.port, self.controller_port)
        )
        log4j = self.paths.root / "log4j2.yaml"
        log4j.write_text(_LOG4J.format(log=self.paths.log))
        self._format(java, lib)
        with open(self.paths.root / "stdout.log", "ab") as out:
            proc = subprocess.Popen(
                [
                    java,
                    "-Xms256m",
                    f"-Xmx{HEAP}",
                    "-XX:+UseG1GC",
                    "-XX:+ExitOnOutOfMemoryError",
                    "-Djava.awt.headless=true",
                    f"-Dlog4j2.configurationFile={log4j}",
                    "-cp",
                    f"{lib}/*",
                    self.marker,
                    str(self.paths.config),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # outlives the CLI that started it
            )
        self.paths.pid.write_text(f"{proc.pid}\n")
        if not wait_until(lambda: proc.poll() is not None or self.healthy(), START_TIMEOUT):
            self.stop()
            raise StackError(
                f"Kafka broker did not answer within {START_TIMEOUT:.0f} s; "
                f"last log lines:\n{tail(self.paths.log)}"
            )
        if proc.poll() is not None:
            raise StackError(
                f"Kafka broker exited with code {proc.returncode}; last log lines:"
                f"\n{tail(self.paths.log)}\n{tail(self.paths.root / 'stdout.log')}"
            )
        return True

    def _format(self, java: str, lib: Path) -> None:
        if (self.paths.data / "meta.properties").exists():
            return
        # A format interrupted half way leaves a directory the broker refuses; redo it.
        shutil.rmtree(self.paths.data, ignore_errors=True)
        if not self.paths.cluster_id.exists() or self.paths.cluster_id.read_text().startswith("-"):
            self.paths.cluster_id.write_text(new_cluster_id())
        result = subprocess.run(
            [
                java,
                "-Xmx256m",
                "-cp",
                f"{lib}/*",
                "kafka.tools.StorageTool",
                "format",
                "-t",
                self.paths.cluster_id.read_text().strip(),
                "-c",
                str(self.paths.config),
            ],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "KAFKA_LOG4J_OPTS": ""},
        )
        if result.returncode != 0:
            raise StackError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")

    def stop(self) -> bool:
        pid = self._ours()
        if pid is None:
            self.paths.pid.unlink(missing_ok=True)
            return False
        terminate(pid, str(self.paths.config), timeout=60.0)
        self.paths.pid.unlink(missing_ok=True)
        return True


def new_cluster_id() -> str:
    """A KRaft cluster id (urlsafe base64 of 16 random bytes) that does not start with "-":
    the storage tool would read such an id as an option. Kafka's own Uuid.randomUuid
    draws again in that case too."""
    while True:
        raw = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not raw.startswith("-"):
            return raw
