"""Fixtures for integration tests: real services started by the test setup.

`slurm_cluster`: a started 4-node Slurm (n1..n4, see tests/slurm.py), fresh for each test.
`slurm_cluster_factory`: start clusters of your own (nodes, Prolog/Epilog/HealthCheckProgram,
extra slurm.conf lines); every one is stopped when the test ends.

Nothing is skipped: where Slurm is not installed these fixtures fail, with the command to run
(`bash scripts/install-deps.sh`; CI runs it). Each cluster's logs are printed at teardown, which
pytest shows only for a failed test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.slurm import SlurmCluster, SlurmMissingError, require_slurm

SlurmFactory = Callable[..., SlurmCluster]


@pytest.fixture
def slurm_cluster_factory() -> Iterator[SlurmFactory]:
    """`make(nodes=("n1", "n2"), **options)` -> a started SlurmCluster (options: see its class)."""
    try:
        require_slurm()
    except SlurmMissingError as e:
        pytest.fail(str(e), pytrace=False)
    started: list[SlurmCluster] = []

    def make(nodes: tuple[str, ...] | list[str] = ("n1", "n2"), **options: Any) -> SlurmCluster:
        cluster = SlurmCluster(nodes, **options)
        started.append(cluster)
        cluster.start()
        return cluster

    try:
        yield make
    finally:
        for cluster in started:
            for name in ("slurmctld", *cluster.nodes):
                print(f"--- {name} log (last 3000 chars) ---\n{cluster.log(name)[-3000:]}")
            cluster.stop()


@pytest.fixture
def slurm_cluster(slurm_cluster_factory: SlurmFactory) -> SlurmCluster:
    """A started Slurm with idle nodes n1..n4 and no hooks."""
    return slurm_cluster_factory(("n1", "n2", "n3", "n4"))
