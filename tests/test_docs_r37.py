"""What a newcomer following README.md and docs/*.md hits: messages and numbers that must
match what the pages say."""

import pytest
import subprocess
import sys


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_missing_scikit_learn_names_an_install_that_works():
    """deltaprop is on no package index (README): the message names scikit-learn itself and
    the extra installed from a checkout, never pip install "deltaprop[sklearn]"."""
    code = ("import sys\nsys.modules['sklearn'] = None\ntry:\n    import deltaprop.sklearn\n"
            "except ImportError as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "needs scikit-learn" in out
    assert '"deltaprop[sklearn]"' not in out
    assert 'pip install "scikit-learn>=1.6"' in out and "uv sync --extra sklearn" in out
