"""Names and defaults shared by the client and the worker."""

from __future__ import annotations

import getpass
import os
import tempfile

LOCALHOST = "localhost"
SERVERLESS = "serverless"
STANDALONE = "standalone"
MODES = (LOCALHOST, SERVERLESS, STANDALONE)

#: Version of the job payload and call status documents (docs/protocol.md).
PROTOCOL_VERSION = 1

#: Backends used when nothing is configured.
DEFAULT_BACKEND = LOCALHOST
DEFAULT_STORAGE = LOCALHOST

#: Seconds a call may run before it is stopped (``lithops.execution_timeout``).
EXECUTION_TIMEOUT_DEFAULT = 1800
#: Largest input data of one call, in MiB (``lithops.data_limit``; ``false`` disables the check).
DATA_LIMIT_DEFAULT_MIB = 4
#: Largest result of one call, in MiB (``lithops.result_limit``; ``false`` disables the check).
RESULT_LIMIT_DEFAULT_MIB = 512

#: Prefix of every object Lithops writes for its own bookkeeping in the storage bucket.
JOBS_PREFIX = "lithops.jobs"
#: Prefix of the objects written by ``Storage.put_cloudobject``.
CLOUDOBJECTS_PREFIX = "lithops.cloudobjects"

#: Environment variable set inside workers (its value is the executor config as JSON).
WORKER_CONFIG_ENV = "LITHOPS_WORKER_CONFIG"
#: Environment variable that names a config file.
CONFIG_FILE_ENV = "LITHOPS_CONFIG_FILE"

CONFIG_FILE_USER = os.path.join(os.path.expanduser("~"), ".lithops", "config")
CONFIG_FILE_GLOBAL = "/etc/lithops/config"
CONFIG_FILE_LOCAL = ".lithops_config"


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name (e.g. a container with an arbitrary uid)
        return str(os.getuid()) if hasattr(os, "getuid") else "user"


#: Folder for local state (localhost storage, logs) unless configured otherwise. Its name is predictable, so it is
#: used only when private to this user: lithops.private_files checks it on every use (docs/backends/localhost.md).
TEMP_DIR = os.path.join(tempfile.gettempdir(), f"lithops-{_user()}")

# Names that code written for Lithops 3.x reads from this module, with this project's values.
#: The mode used when nothing is configured (here: this machine).
MODE_DEFAULT = LOCALHOST
#: Lithops 3.x's names for its mode defaults, kept for code that reads them; the kernel does not (it picks a
#: mode's backend from lithops.plugins.known.MODE_DEFAULT_BACKENDS).
SERVERLESS_BACKEND_DEFAULT = "aws_lambda"
STANDALONE_BACKEND_DEFAULT = "aws_ec2"
STORAGE_BACKEND_DEFAULT = DEFAULT_STORAGE
#: Defaults of ``lithops.utils.setup_lithops_logger``.
LOGGER_LEVEL = "info"
LOGGER_STREAM = "ext://sys.stderr"
LOGGER_FORMAT = "%(asctime)s [%(levelname)s] %(name)s -- %(message)s"
LOGGER_FORMAT_SHORT = "[%(levelname)s] %(name)s -- %(message)s"
#: Environment variable set to "1" in processes that run Lithops calls.
WORKER_ENV = "LITHOPS_WORKER"
CONFIG_FILE = CONFIG_FILE_USER
CONFIG_DIR = os.path.dirname(CONFIG_FILE_USER)
CACHE_DIR = os.path.join(CONFIG_DIR, "cache")
LITHOPS_TEMP_DIR = TEMP_DIR
CPU_COUNT = os.cpu_count()
