import lithops
from conftest import vm_config


def double(x):
    return x * 2


def test_map_on_two_hosts(network, shared_root):
    with lithops.FunctionExecutor(config=vm_config(network, shared_root)) as fexec:
        assert fexec.map(double, range(10)).get_result() == [x * 2 for x in range(10)]
