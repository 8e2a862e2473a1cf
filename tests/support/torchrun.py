"""Running a command under torchrun on the CPU (gloo), as the torchrun tests do: N processes of
``python -m torch.distributed.run --standalone``, one thread each, with this session's sys.path."""

import os
import subprocess
import sys


def torchrun_env() -> dict:
    """The environment of a torchrun child: this sys.path, one OpenMP thread, the CPU even where a GPU is."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), OMP_NUM_THREADS="1", RSMOOTH_DIST_DEVICE="cpu")


def torchrun_command(nproc: int, args) -> list[str]:
    """The command line of ``args`` (a script and its arguments, or -m MODULE ...) on ``nproc`` processes."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", *args]


def torchrun(nproc: int, args, cwd, **kwargs) -> subprocess.CompletedProcess:
    """Run ``args`` on ``nproc`` processes in ``cwd`` and wait (at most 300 s); output captured as text."""
    return subprocess.run(torchrun_command(nproc, args), cwd=cwd, env=torchrun_env(), capture_output=True,
                          text=True, timeout=300, **kwargs)
