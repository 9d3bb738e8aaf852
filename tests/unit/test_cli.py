import subprocess
import sys

from agpt.cli import COMMANDS


def test_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "agpt", "--help"], capture_output=True, text=True, check=True)
    for name in COMMANDS:
        assert name in out.stdout
