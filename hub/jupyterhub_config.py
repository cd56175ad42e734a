"""JupyterHub for a workshop on one machine: `make hub` starts it with this file.

Every setting a workshop changes comes from the environment, so `make hub`, the load test and the tests share
this one file:

    HUB_PASSWORD        the shared password learners log in with (required, 8 characters or more)
    HUB_ADMIN_PASSWORD  optional: the instructor logs in as "instructor" with it (32 characters or more)
    HUB_PORT            the public port on 127.0.0.1 (8000); HUB_API_PORT (8081) and HUB_PROXY_API_PORT (8001)
                        are the hub's and the proxy's internal ports
    HUB_STATE_DIR       the hub's database, cookie secret and pid files (build/hub)
    HUB_HOMES           the parent of every learner's home (build/hub/homes)
    HUB_MEM_LIMIT, HUB_CPU_LIMIT   the per-learner limits (2G, 1): see "Limits" below
    HUB_CULL_TIMEOUT    seconds of inactivity before a learner's server is stopped (3600)

Limits: the local-process spawner used here starts each server as a plain child process. It only passes
mem_limit and cpu_limit to the server as MEM_LIMIT and CPU_LIMIT (which jupyter-resource-usage displays); it
enforces neither, so one learner can take every core and all the memory. Enforced limits need a spawner that
puts each server in a cgroup: SystemdSpawner (one machine, as The Littlest JupyterHub does), DockerSpawner
(a container per learner) or KubeSpawner (Zero to JupyterHub on Kubernetes), with the same two settings.
"""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent          # the course's environment: the hub, servers and kernels share it
STATE = Path(os.environ.get("HUB_STATE_DIR", ROOT / "build" / "hub"))
HOMES = Path(os.environ.get("HUB_HOMES", STATE / "homes"))
STATE.mkdir(parents=True, exist_ok=True)

c = get_config()  # noqa: F821 (JupyterHub provides it)

# Loopback only: a workshop puts a TLS reverse proxy (or an SSH tunnel) in front, never this port bare.
c.JupyterHub.bind_url = f"http://127.0.0.1:{os.environ.get('HUB_PORT', '8000')}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ.get("HUB_API_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ.get('HUB_PROXY_API_PORT', '8001')}"
# The proxy from hub/package.json (npm ci --prefix hub), not whatever is on PATH.
c.ConfigurableHTTPProxy.command = [str(ROOT / "hub" / "node_modules" / ".bin" / "configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = str(STATE / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")

# A shared password: the instructor writes it on the board; anyone without it gets nothing. Any name can log in
# with it (and so as any other learner): fine for a room of trusted learners, not for graded or private work.
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = os.environ.get("HUB_PASSWORD") or sys.exit(
    "Set HUB_PASSWORD (8 characters or more): the shared password learners log in with.")
c.Authenticator.allow_all = True          # every name is welcome, the password is the gate
if os.environ.get("HUB_ADMIN_PASSWORD"):
    c.SharedPasswordAuthenticator.admin_password = os.environ["HUB_ADMIN_PASSWORD"]
    c.Authenticator.admin_users = {"instructor"}

# One server process per learner, in a home of its own under HOMES. This spawner runs every learner as the
# hub's own OS user: no isolation between learners. A real class uses system users (LocalProcessSpawner with
# PAM, or SystemdSpawner), containers (DockerSpawner) or Kubernetes (Zero to JupyterHub).
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = str(HOMES / "{username}")
c.Spawner.cmd = [str(BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.args = [
    *(["--allow-root"] if os.geteuid() == 0 else []),   # JupyterLab refuses root without it
    # A kernel that has run nothing for 30 minutes is shut down, even with its tab still open: it belongs to an
    # earlier section, and each kernel holds 500-600 MB (SIZING.md). Re-running its notebook takes a minute.
    "--MappingKernelManager.cull_idle_timeout=1800",
    "--MappingKernelManager.cull_connected=True",
    "--MappingKernelManager.cull_interval=300",
]
# PATH finds git for nbgitpuller; PYTHONPATH and COURSE_BLOCK_NETWORK carry make test's offline guard.
c.Spawner.env_keep = ["PATH", "LANG", "PYTHONPATH", "COURSE_BLOCK_NETWORK", "JUPYTERHUB_SINGLEUSER_APP"]
# One BLAS thread per kernel: learners share the cores (course_utils.setup already keeps torch at one thread).
c.Spawner.environment = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
c.Spawner.mem_limit = os.environ.get("HUB_MEM_LIMIT", "2G")
c.Spawner.cpu_limit = float(os.environ.get("HUB_CPU_LIMIT", "1"))
# A room logging in at once starts many servers together; on a busy machine each takes longer than the
# default 30 s to answer.
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180

# The idle culler stops a server nobody has used for HUB_CULL_TIMEOUT seconds, freeing its memory; the hub
# starts and restarts it as a managed service, with only the permissions it needs.
c.JupyterHub.services = [{
    "name": "idle-culler",
    "command": [sys.executable, "-m", "jupyterhub_idle_culler",
                f"--timeout={os.environ.get('HUB_CULL_TIMEOUT', '3600')}", "--cull-every=300"],
}]
c.JupyterHub.load_roles = [{
    "name": "idle-culler",
    "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    "services": ["idle-culler"],
}]
