"""The ``ibm_vpc`` standalone backend: IBM Cloud VPC virtual servers on the kernel's standalone layer."""
