"""Print the nbgitpuller link that puts the course into each learner's home on a JupyterHub.

    python hub/nbgitpuller_link.py --hub https://hub.example.org
    python hub/nbgitpuller_link.py --hub http://127.0.0.1:8000 --repo /path/to/clone --branch main

A learner who opens the link logs in, and nbgitpuller clones the repository into ~/regularization-course on the
first visit, or merges the newest commits on later visits without overwriting what the learner changed. It then
opens the learner copy of the notebook (learner/, no solutions). The repository defaults to pyproject.toml's
[project.urls] Repository, the one place the course's home is set.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from make_links import repository_url  # noqa: E402  (scripts/ is not a package)

TARGET = "regularization-course"   # the folder in each learner's home
START = "00_start_here.ipynb"


def pull_query(repo: str, branch: str, target: str = TARGET) -> dict[str, str]:
    """nbgitpuller's parameters: what to clone, which branch, and the folder of the learner's home it goes to."""
    return {"repo": repo, "branch": branch, "targetpath": target}


def pull_link(hub: str, repo: str, branch: str = "main", notebook: str = START, target: str = TARGET) -> str:
    """The link for learners: log in, pull, then open learner/<notebook> in JupyterLab."""
    query = {**pull_query(repo, branch, target), "urlpath": f"lab/tree/{target}/learner/{notebook}"}
    return f"{hub.rstrip('/')}/hub/user-redirect/git-pull?{urlencode(query)}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hub", default="http://127.0.0.1:8000", help="the hub's public URL")
    parser.add_argument("--repo", help="the repository to pull (default: pyproject.toml's Repository URL)")
    parser.add_argument("--branch", default="main")
    parser.add_argument("--notebook", default=START, help="the learner notebook the link opens")
    args = parser.parse_args(argv)
    if not (ROOT / "learner" / args.notebook).exists():
        parser.error(f"learner/{args.notebook} does not exist")
    print(pull_link(args.hub, args.repo or repository_url(), args.branch, args.notebook))
    return 0


if __name__ == "__main__":
    sys.exit(main())
