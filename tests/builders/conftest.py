"""Executors for the builder tests: a real single-node Slurm cluster and a local Ray instance, each started once."""

import sys
from pathlib import Path

import pytest

from cursorcore.builders.executors import ExecutorConfig, start_ray
from tests.slurm_cluster import MISSING, SlurmCluster, missing_commands

ACTIVATE = str(Path(sys.executable).parent / "activate")


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A real single-node Slurm cluster (tests/slurm_cluster.py), with `SLURM_CONF` set for the session. Without
    the Debian packages the tests that use it are skipped, the reason naming `make install-slurm`."""
    if missing := missing_commands():
        pytest.skip(MISSING.format(missing=", ".join(missing)))
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm")).start()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in cluster.env.items():
            patch.setenv(key, value)
        yield cluster
    cluster.stop()


@pytest.fixture
def slurm_executor(slurm_cluster) -> ExecutorConfig:
    """Jobs source this venv; 1-second polls keep the tests short."""
    return ExecutorConfig(kind="slurm", venv_path=ACTIVATE, time="00:30:00", mem_per_cpu_gb=0.5, poll_seconds=1)


@pytest.fixture(scope="session")
def ray_executor() -> ExecutorConfig:
    """A local Ray instance with this machine's 2 CPUs (starting one costs seconds), shut down after the session."""
    ray = pytest.importorskip("ray", reason="the Ray tests need the `ray` extra: pip install -e '.[ray]'")
    config = ExecutorConfig(kind="ray", address="local", num_cpus=2, workers=2, tasks_per_job=2, mem_per_cpu_gb=0.5)
    start_ray(config)
    yield config
    ray.shutdown()
