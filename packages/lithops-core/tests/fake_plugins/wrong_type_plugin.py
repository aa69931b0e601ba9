"""Returns something that is not a spec."""

from lithops.plugins import hookimpl

LITHOPS_PLUGIN_API = "1"


@hookimpl
def lithops_compute_backends():
    return [{"name": "dict_is_not_a_spec"}]
