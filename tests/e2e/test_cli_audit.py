"""`cartpath audit report` as a user runs it: JSON on stdout or a PDF file; a refusal is one line."""
import json

from pypdf import PdfReader

from tests.e2e.test_cli import cli_env, run  # noqa: F401  (cli_env: the fixture)
from tests.support.store import FIXTURES


def test_the_audit_report_from_the_shell(cli_env, tmp_path):  # noqa: F811
    run(cli_env, "deploy", str(FIXTURES / "mini_pathway.bpmn"))
    pid = json.loads(run(cli_env, "start", "--patient-ref", "PSN-9", "--center", "FR-02", "--indication", "MM",
                         "--product", "cilta-cel", "--process", "mini_pathway", "--actor", "nurse-9").stdout)["id"]
    report = json.loads(run(cli_env, "audit", "report", pid).stdout)
    assert (report["patient_ref"], report["center"], report["integrity_ok"]) == ("PSN-9", "FR-02", True)
    assert report["events"][0]["actor"]["sub"] == "nurse-9" and report["printed"]["by"] == "cli"
    target = tmp_path / "out" / "report.pdf"
    target.parent.mkdir()
    proc = run(cli_env, "audit", "report", pid, "-o", str(target), "--by", "inspector-1")
    assert proc.stdout == "" and str(target) in proc.stderr
    text = "\n".join(p.extract_text() for p in PdfReader(str(target)).pages)
    assert "PSN-9" in text and "verify: PASSED" in text and "inspector-1" in text and "nurse-9" in text
    refused = run(cli_env, "audit", "report", "00000000-0000-0000-0000-000000000000", check=False)
    assert refused.returncode == 1 and refused.stderr.strip().splitlines() == [
        "error: pathway 00000000-0000-0000-0000-000000000000 does not exist"]
