"""The ``azure_vms`` standalone backend: Azure VMs on the kernel's standalone layer."""
