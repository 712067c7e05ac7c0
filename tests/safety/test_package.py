"""``townsquare.safety`` imports its names on first use: every exported name resolves, and importing the
package (or the queue) does not load scikit-learn."""

from __future__ import annotations

import subprocess
import sys


def test_every_exported_name_resolves_to_its_module():
    from townsquare import safety

    assert sorted(safety.__all__) == sorted(safety._MODULE_OF)
    for name in safety.__all__:
        assert getattr(safety, name).__module__ == f"townsquare.safety.{safety._MODULE_OF[name]}", name


def test_reading_the_queue_does_not_import_scikit_learn():
    script = ("import sys\nfrom townsquare.safety.queue import unscored_posts, list_cases\n"
              "print('sklearn' in sys.modules, 'onnxruntime' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == ["False", "False"]
