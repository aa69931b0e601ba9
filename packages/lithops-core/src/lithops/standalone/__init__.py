"""Standalone mode, provider-neutral: Lithops's own agent on virtual machines.

A standalone compute backend is a :class:`lithops.standalone.backend.StandaloneBackend` with a
:class:`lithops.standalone.provider.VMProvider` that knows one provider's VM life cycle (create, start, stop,
delete, list, address, ...). Everything else is here and shared by every provider:

- :mod:`lithops.standalone.config`: the ``standalone:`` keys of Lithops 3.x (``exec_mode``, ``workers_policy``,
  ``worker_processes``, ``auto_dismantle``, ``soft_dismantle_timeout``, ``hard_dismantle_timeout``, ...).
- :mod:`lithops.standalone.bundle`: the client's own Lithops code as a zip, shipped to the VM (no download there,
  the same version on both ends).
- :mod:`lithops.standalone.bootstrap`: the shell script that installs and starts the agent, run over SSH or given
  to a VM as cloud-init user data; it checks that the VM's Python is the client's ``major.minor``.
- :mod:`lithops.standalone.agent`: the agent on the VM. It takes work from the job's storage, runs it in
  ``worker_processes`` warm worker processes (:mod:`lithops.standalone.worker`), writes a heartbeat, and stops
  after ``soft_dismantle_timeout`` idle seconds.

This package imports no cloud SDK. See docs/plugins.md (standalone backends) and docs/user-guide.md.
"""
