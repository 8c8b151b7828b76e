"""The ``deltaprop`` command's entry point (``_deltaprop_entry``): an interrupt while the
package is still being imported is the CLI's one line, not a traceback."""

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

# Runs in a fresh interpreter: the import of deltaprop.cli is made to raise KeyboardInterrupt,
# as a Ctrl-C does when it lands while NumPy or Matplotlib is being imported.
INTERRUPTED_IMPORT = """
import sys

class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == "deltaprop.cli":
            raise KeyboardInterrupt
        return None

sys.meta_path.insert(0, Interrupt())
import _deltaprop_entry
sys.exit(_deltaprop_entry.main())
"""


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_interrupt_during_import_is_one_line_and_exit_130():
    done = subprocess.run([sys.executable, "-c", INTERRUPTED_IMPORT], capture_output=True, text=True, timeout=60)
    assert done.returncode == 130
    assert done.stderr == "interrupted\n"
    assert done.stdout == ""


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_entry_point_runs_the_cli():
    done = subprocess.run([sys.executable, "-c", "import sys, _deltaprop_entry; sys.argv = ['deltaprop', '--version'];"
                           " sys.exit(_deltaprop_entry.main())"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("deltaprop ")


def test_installed_command_uses_the_entry_point():
    script = Path(sysconfig.get_path("scripts")) / "deltaprop"
    if not script.exists():
        pytest.skip(f"no installed deltaprop command at {script}")
    assert "from _deltaprop_entry import main" in script.read_text()
