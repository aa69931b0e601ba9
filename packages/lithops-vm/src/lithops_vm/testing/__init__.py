"""Test helpers of lithops-vm: SSH hosts in Linux network namespaces (:mod:`lithops_vm.testing.netns`)."""
