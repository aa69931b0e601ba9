"""joblib on Lithops: ``register_lithops()``, then ``with joblib.parallel_backend("lithops"):`` runs
``joblib.Parallel`` work (scikit-learn's ``n_jobs`` included) as Lithops calls on the configured backend.

::

    import joblib
    from lithops.util.joblib import register_lithops

    register_lithops()
    with joblib.parallel_backend("lithops"):
        search.fit(X, y)            # e.g. a scikit-learn GridSearchCV

Options for the Lithops executor go in ``lithops_args``:
``joblib.parallel_backend("lithops", lithops_args={"config": config, "runtime_memory": 2048})``.
joblib itself is optional for Lithops: install it (``pip install joblib``) to use this module.
"""

from __future__ import annotations

__all__ = ["register_lithops"]


def register_lithops() -> None:
    """Register the ``"lithops"`` joblib backend (:class:`.lithops_backend.LithopsBackend`)."""
    try:
        from joblib import register_parallel_backend
    except ImportError as exc:
        raise ImportError("the Lithops joblib backend needs joblib, which is not installed: pip install joblib") \
            from exc
    from lithops.util.joblib.lithops_backend import LithopsBackend

    register_parallel_backend("lithops", LithopsBackend)
