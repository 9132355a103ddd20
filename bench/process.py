"""Running one measured step of a benchmark in its own process."""

import os
import subprocess
import tempfile
import time


def run(command, env=None, cwd=None):
    """Run a command; returns (seconds, peak RSS in MiB, stdout). Dirty pages left by earlier
    steps are flushed first, so no step pays for another's writes. Its stderr goes to a file, so a
    chatty tool never blocks on a full pipe while we read its stdout."""
    os.sync()
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, env=env, cwd=cwd)
        out = process.stdout.read()
        _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            errors.seek(0)
            raise SystemExit(f"{' '.join(map(str, command))} failed:\n{errors.read().decode(errors='replace')[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, out.decode()
