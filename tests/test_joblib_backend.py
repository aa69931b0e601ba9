"""lithops.util.joblib: the "lithops" joblib backend, scikit-learn grid searches included, on localhost."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

joblib = pytest.importorskip("joblib")

from lithops.util.joblib import register_lithops  # noqa: E402


@pytest.fixture(autouse=True)
def _registered(warm_pool: None) -> None:
    register_lithops()


def pid_of(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def fail(x: int) -> int:
    if x == 3:
        raise ValueError(f"bad input {x}")
    return x


def test_parallel_runs_on_lithops_workers() -> None:
    with joblib.parallel_backend("lithops"):
        out = joblib.Parallel(n_jobs=-1)(joblib.delayed(pid_of)(i) for i in range(20))
    assert [square for square, _ in out] == [i * i for i in range(20)]
    assert os.getpid() not in {pid for _, pid in out}


def test_errors_are_raised_in_the_caller() -> None:
    with joblib.parallel_backend("lithops"), pytest.raises(ValueError, match="bad input 3"):
        joblib.Parallel(n_jobs=2)(joblib.delayed(fail)(i) for i in range(6))


def test_lithops_args_configure_the_executor() -> None:
    with joblib.parallel_config(backend="lithops", lithops_args={"max_workers": 3}):
        backend, _ = joblib.parallel.get_active_backend()
        assert backend.effective_n_jobs(-1) == 3 and backend.effective_n_jobs(-2) == 2
        assert joblib.Parallel()(joblib.delayed(abs)(-i) for i in range(4)) == [0, 1, 2, 3]
    with joblib.parallel_backend("lithops"):  # joblib runs this in threads: the backend shares no memory
        assert joblib.Parallel(require="sharedmem")(joblib.delayed(pid_of)(1) for _ in range(2)) == [
            (1, os.getpid())] * 2


def test_grid_search_on_lithops() -> None:
    """Lithops's documented use: an unchanged scikit-learn grid search under parallel_backend("lithops")."""
    datasets = pytest.importorskip("sklearn.datasets")
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    X, y = datasets.load_iris(return_X_y=True)
    grid = {"C": [0.1, 1.0, 10.0], "kernel": ["linear", "rbf"]}
    local = GridSearchCV(SVC(), grid, cv=3).fit(X, y)
    with joblib.parallel_backend("lithops"):
        remote = GridSearchCV(SVC(), grid, cv=3, n_jobs=-1).fit(X, y)
        # Where the fits ran: a scorer that reports the process it is called in.
        where = GridSearchCV(SVC(), grid, cv=3, n_jobs=-1, refit=False,
                             scoring=lambda est, X_, y_: float(os.getpid())).fit(X, y)
    assert remote.best_params_ == local.best_params_
    assert list(remote.cv_results_["mean_test_score"]) == pytest.approx(list(local.cv_results_["mean_test_score"]))
    assert float(os.getpid()) not in set(where.cv_results_["split0_test_score"])


def test_joblib_stays_optional() -> None:
    code = (
        "import sys; sys.modules['joblib'] = None\n"
        "import lithops, lithops.utils, lithops.concurrent.futures, lithops.util.joblib as lj\n"
        "try:\n    lj.register_lithops()\nexcept ImportError as e:\n    print('ERR', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert "pip install joblib" in out.stdout
    out = subprocess.run([sys.executable, "-c", "import lithops, lithops.utils, lithops.concurrent.futures, sys; "
                          "lithops.FunctionExecutor; print('joblib' in sys.modules)"],
                         capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def row_sum(data: Any, i: int) -> float:
    return float(data[i].sum())


def test_large_arguments_travel_through_storage(tmp_path: Any) -> None:
    """A 16 MB array shared by every task is over the 4 MiB call input limit: it is stored once, read back by
    the workers, and removed once the Parallel call is over."""
    np = pytest.importorskip("numpy")
    import lithops

    config = {"localhost": {"storage_root": str(tmp_path / "root")}}
    data = np.random.default_rng(0).random((1_000_000, 2))
    with joblib.parallel_backend("lithops", lithops_args={"config": config}):
        out = joblib.Parallel(n_jobs=2)(joblib.delayed(row_sum)(data, i) for i in range(6))
    assert out == [float(data[i].sum()) for i in range(6)]
    storage = lithops.Storage(config=config)
    assert storage.list_keys(storage.bucket, "lithops.cloudobjects/") == []


def test_on_a_serverless_backend_with_a_large_argument(sim_config: Any) -> None:
    """Workers that run in other processes with their own storage client (the simulated serverless backend)."""
    np = pytest.importorskip("numpy")
    data = np.arange(200_000, dtype=float).reshape(100_000, 2)  # 1.6 MB: stored, read back by the workers
    with joblib.parallel_backend("lithops", lithops_args={"config": sim_config}):
        out = joblib.Parallel(n_jobs=2)(joblib.delayed(row_sum)(data, i) for i in range(3))
    assert out == [1.0, 5.0, 9.0]
