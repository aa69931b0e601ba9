"""Returns something that is not a spec."""

from lithops.plugins import hookimpl


@hookimpl
def lithops_compute_backends():
    return [{"name": "dict_is_not_a_spec"}]
