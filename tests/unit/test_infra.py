"""The CloudFormation templates are valid and keep the stateful parts safe."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

INFRA = Path(__file__).resolve().parents[2] / "infra"


def test_infra_templates_pass_cfn_lint():
    templates = sorted(str(p) for p in INFRA.glob("*.yaml"))
    assert templates
    done = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), *templates], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_media_queue_has_a_dead_letter_queue_after_five_receives():
    text = (INFRA / "stateful.yaml").read_text()
    assert "deadLetterTargetArn: !GetAtt MediaDeadLetterQueue.Arn" in text
    assert "maxReceiveCount: 5" in text
    assert "RestrictPublicBuckets: true" in text
