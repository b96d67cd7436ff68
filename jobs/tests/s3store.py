"""An S3 endpoint for job tests: S3Proxy (the local runner's S3 store, filesystem backend) on a loopback port, so
``s3://bucket/key`` arguments go through Hadoop S3A over the S3 protocol, as they go through EMRFS on EMR, and the
objects are plain files under the store's root. Jars: ``.cache/local-jars/`` (scripts/setup.sh)."""
from __future__ import annotations

import glob
import os
import socket
import subprocess
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JARS = os.path.join(REPO_ROOT, ".cache", "local-jars")


def s3a_jars() -> list[str]:
    jars = sorted(glob.glob(os.path.join(JARS, "s3a", "*.jar")))
    if not jars:
        raise RuntimeError(f"S3A jars missing in {JARS}/s3a: run bash scripts/setup.sh")
    return jars


def delta_conf() -> tuple[list[str], dict[str, str]]:
    """The Delta Lake jars (as the EMR image holds them, scripts/setup.sh) and the Spark properties every job run
    gets (lib/config/emr-releases.json "delta"): the tests' session reads and writes the lake's tables as jobs do."""
    import json

    jars = sorted(glob.glob(os.path.join(JARS, "delta", "*.jar")))
    if not jars:
        raise RuntimeError(f"Delta jars missing in {JARS}/delta: run bash scripts/setup.sh")
    with open(os.path.join(REPO_ROOT, "lib", "config", "emr-releases.json")) as handle:
        return jars, dict(json.load(handle)["delta"]["sparkConf"])


def delta_spark(app: str):
    """A local Spark session with Delta Lake loaded as a job run has it (benchmarks, ad-hoc runs)."""
    from jobs.common.spark import get_spark

    jars, props = delta_conf()
    return get_spark(app, {"spark.jars": ",".join(jars), **props})


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class S3Store:
    def __init__(self, root: str):
        self.root = root
        port = _free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        state = tempfile.mkdtemp(prefix="s3proxy-")
        props = os.path.join(state, "s3proxy.properties")
        with open(props, "w") as handle:
            handle.write(f"s3proxy.endpoint={self.endpoint}\ns3proxy.authorization=none\njclouds.provider=filesystem\n"
                         f"jclouds.filesystem.basedir={root}\ns3proxy.ignore-unknown-headers=true\n")
        logback = os.path.join(state, "logback.xml")
        with open(logback, "w") as handle:
            handle.write('<configuration><root level="OFF"/></configuration>')
        self.process = subprocess.Popen(
            ["java", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xmx256m", f"-Dlogback.configurationFile={logback}",
             "-cp", os.path.join(JARS, "s3proxy", "*"), "org.gaul.s3proxy.Main", "--properties", props],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if self.process.poll() is not None or time.time() > deadline:
                    raise RuntimeError("S3Proxy did not start")
                time.sleep(0.1)

    def hadoop_conf(self) -> dict[str, str]:
        """S3A settings (Hadoop keys) that map ``s3://`` onto this store."""
        return {
            "fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
            "fs.s3.impl.disable.cache": "true",
            "fs.s3a.endpoint": self.endpoint,
            "fs.s3a.endpoint.region": "us-east-1",
            "fs.s3a.path.style.access": "true",
            "fs.s3a.connection.ssl.enabled": "false",
            "fs.s3a.access.key": "test",
            "fs.s3a.secret.key": "test",
            "fs.s3a.change.detection.version.required": "false",
        }

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
