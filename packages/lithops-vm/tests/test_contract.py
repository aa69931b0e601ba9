"""The compute contract suite, through the vm backend on two namespace SSH hosts."""

import pytest

from lithops.testing import ComputeContract
from lithops_vm.testing.netns import vm_config


class TestVMCompute(ComputeContract):
    @pytest.fixture
    def config(self, network, shared_root):
        return vm_config(network, shared_root)
