"""`supportbot eval`: reading and checking the CSV, the figures, calibration, and the command itself.

The classifier is the real LocalClassifier trained on the mini config's intents (milliseconds),
saved to a folder and passed with --model, so the command runs the real classify -> signals
-> policy path. Figures are checked on hand-made cases where the right answer is known.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from bot.classify import calibration
from bot.classify.local import LocalClassifier
from bot.cli.main import app as cli
from bot.quality.evaluate import EvalDataError, intent_figures, read_eval_csv, route_figures
from bot.messages import OUT_OF_SCOPE
from tests.helpers import MINI, mini_settings


@pytest.fixture(scope="module")
def mini_model(tmp_path_factory):
    s = mini_settings()
    texts = [t for i in s.intents.values() for t in i.examples]
    labels = [n for n, i in s.intents.items() for _ in i.examples]
    d = tmp_path_factory.mktemp("mini-model")
    LocalClassifier.train(texts, labels).save(d)
    return d


def write(tmp_path, name: str, content: str | bytes):  # noqa: ANN201
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return p


def run(*args: str):  # noqa: ANN201
    return CliRunner().invoke(cli, list(args))


# --- the file ----------------------------------------------------------------------------------

def test_reads_rows_maps_oos_and_the_expected_route_column(tmp_path):
    p = write(tmp_path, "e.csv", "text,intent,expected_route\nwhere is my order,order_status,template\n\n"
                                 "what's the weather,oos,cheap_llm\nhello,,auto\n")
    rows = read_eval_csv(p)
    assert [(r.row, r.intent, r.route) for r in rows] == [
        (2, "order_status", "template"), (4, OUT_OF_SCOPE, "cheap_llm"), (5, None, "auto")]


@pytest.mark.parametrize("content, row, why", [
    ("intent,route\nx,human\n", "row 1", "missing column 'text'"),
    ("text,route\nhello,human\nbye,humans\n", "row 3", "unknown route 'humans'"),
    ("text,route\nhello,human\n,human\n", "row 3", "empty text"),
    (b"text,route\nhello,human\ncaf\xe9,human\n", "row 3", "not UTF-8"),
    ("", "row 1", "empty file"),
])
def test_bad_files_say_which_row_and_why(tmp_path, content, row, why):
    p = write(tmp_path, "bad.csv", content)
    with pytest.raises(EvalDataError) as e:
        read_eval_csv(p)
    assert row in str(e.value) and why in str(e.value)


def test_bad_file_exits_2_naming_row_and_reason(tmp_path, mini_model):
    p = write(tmp_path, "bad.csv", "text,route\nhello,template\nbye,robot\n")
    out = run("eval", str(p), "--config", str(MINI), "--model", str(mini_model))
    assert out.exit_code == 2
    assert "row 3" in out.output and "unknown route 'robot'" in out.output


# --- figures -----------------------------------------------------------------------------------

def test_route_figures():
    expected = ["human", "human", "template", "auto", "auto", "cheap_llm", None]
    decided = ["human", "template", "human", "knowledge", "human", "cheap_llm", "human"]
    f = route_figures(expected, decided)
    assert f["n"] == 6
    assert f["human_recall"] == 0.5  # 1 of the 2 rows labelled human went to a person
    assert f["false_escalation_rate"] == 0.5  # 2 of the 4 rows labelled auto/other went to a person
    assert f["containment"] == pytest.approx(3 / 7)  # every row counts, labelled or not
    assert f["accuracy"] == pytest.approx(3 / 6)  # human, auto->knowledge, cheap_llm
    assert f["confusion"]["auto"] == {"knowledge": 1, "human": 1}
    assert f["decided"]["human"] == 4


def test_intent_figures_with_out_of_scope():
    gold = ["a", "a", "b", "b", OUT_OF_SCOPE, OUT_OF_SCOPE]
    pred = ["a", "b", "b", "b", OUT_OF_SCOPE, "a"]
    f = intent_figures(gold, pred)
    assert f["accuracy"] == pytest.approx(4 / 6)
    assert f["oos_recall"] == 0.5 and f["oos_precision"] == 1.0
    assert {(c["expected"], c["predicted"]) for c in f["confused"]} == {("a", "b"), (OUT_OF_SCOPE, "a")}
    assert 0 < f["macro_f1"] < 1
    assert intent_figures(["a"], ["a"])["oos_recall"] is None  # no out-of-scope rows: no figure


# --- calibration -------------------------------------------------------------------------------

def _overconfident(n: int = 2000, seed: int = 1):  # noqa: ANN202
    """Three classes; the model says 0.95 for its pick but is right only ~60% of the time."""
    rng = np.random.default_rng(seed)
    classes = ["a", "b", "c"]
    gold = rng.integers(0, 3, n)
    pick = np.where(rng.random(n) < 0.6, gold, (gold + rng.integers(1, 3, n)) % 3)
    probs = np.full((n, 3), 0.025)
    probs[np.arange(n), pick] = 0.95
    return probs, classes, [classes[g] for g in gold]


def test_ece_and_reliability():
    assert calibration.ece([0.9] * 10, [1] * 9 + [0]) == pytest.approx(0.0)
    assert calibration.ece([0.9] * 10, [1] * 5 + [0] * 5) == pytest.approx(0.4)
    table = calibration.reliability([0.15, 0.95, 0.96], [0, 1, 1])
    assert [(b["bin"], b["n"]) for b in table] == [("0.1-0.2", 1), ("0.9-1.0", 2)]


@pytest.mark.parametrize("method", ["temperature", "isotonic"])
def test_calibration_fixes_an_overconfident_model(method, tmp_path):
    probs, classes, gold = _overconfident()
    before = calibration.ece(probs.max(1), (np.asarray(classes)[probs.argmax(1)] == np.asarray(gold)))
    cal = calibration.fit(probs, classes, gold, method)
    after = cal.apply(probs)
    assert (after.argmax(1) == probs.argmax(1)).all()  # the ranking is kept
    np.testing.assert_allclose(after.sum(1), 1.0)
    assert before > 0.3 and cal.info["ece_after_in_sample"] < 0.05
    assert calibration.cross_fitted_ece(probs, classes, gold, method) < 0.05
    loaded = calibration.load_calibrator(cal.save(tmp_path).parent)
    np.testing.assert_allclose(loaded.apply(probs[:5]), after[:5])
    np.testing.assert_allclose(loaded.apply(probs[0]), after[0])  # one message: a vector


def test_local_classifier_applies_saved_calibration(tmp_path, mini_model):
    plain = LocalClassifier.load(mini_model)
    assert plain.calibrator is None
    folder = tmp_path / "m"
    plain.save(folder)
    calibration.Calibrator("temperature", temperature=0.5).save(folder)
    sharp = LocalClassifier.load(folder)
    a, b = plain.classify("where is my order"), sharp.classify("where is my order")
    assert a.top[0][0] == b.top[0][0] and b.confidence > a.confidence
    _, probs = sharp.predict_proba(["where is my order"])
    assert probs[0].max() == pytest.approx(b.confidence)
    (folder / calibration.CALIBRATION_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="unreadable calibration"):
        LocalClassifier.load(folder)


# --- the command -------------------------------------------------------------------------------

EVAL_CSV = """text,intent,route
where is my order,order_status,template
has my order shipped,order_status,auto
someone used my card,fraud_report,human
hello,greeting,template
I am furious and want a refund NOW,,human
what's the weather like on mars,oos,cheap_llm
how do I return this,return_item,auto
"""


def test_eval_json_has_the_documented_figures(tmp_path, mini_model):
    p = write(tmp_path, "eval.csv", EVAL_CSV)
    out = run("eval", str(p), "--config", str(MINI), "--model", str(mini_model), "--json", "--threshold", "0.3")
    assert out.exit_code == 0, out.output
    got = json.loads(out.stdout)
    for key in ("n", "intent_accuracy", "macro_f1", "oos_recall", "human_recall", "false_escalation_rate",
                "containment", "ece", "routes"):
        assert key in got, key
    assert got["n"] == 7 and got["threshold"] == 0.3
    assert got["human_recall"] == 1.0  # the fraud report (critical) and the furious customer
    assert sum(got["routes"]["decided"].values()) == 7
    assert got["routes"]["confusion"]["human"] == {"human": 2}


def test_threshold_changes_the_routes_and_text_report(tmp_path, mini_model):
    shutil.copytree(MINI.parent, tmp_path / "cfg")
    config = tmp_path / "cfg" / MINI.name  # the low-confidence rule follows policy.confidence_threshold
    config.write_text(config.read_text().replace("{confidence_below: 0.9}", "{low_confidence: true}"))
    p = write(tmp_path, "eval.csv", EVAL_CSV)
    strict = json.loads(run("eval", str(p), "-c", str(config), "--model", str(mini_model), "--json",
                            "--threshold", "0.99").stdout)
    loose = json.loads(run("eval", str(p), "-c", str(config), "--model", str(mini_model), "--json",
                           "--threshold", "0.0").stdout)
    assert strict["containment"] < loose["containment"]
    text = run("eval", str(p), "-c", str(MINI), "--model", str(mini_model)).stdout
    for phrase in ("intent (6 rows", "human-needed recall", "false escalation rate", "containment", "ECE",
                   "expected \\ decided"):
        assert phrase in text, phrase


def test_calibrate_saves_next_to_the_model(tmp_path, mini_model):
    s = mini_settings()
    rows = "text,intent\n" + "".join(f"{t},{n}\n" for n, i in s.intents.items() for t in i.examples)
    p = write(tmp_path, "cal.csv", rows)
    folder = tmp_path / "model"
    LocalClassifier.load(mini_model).save(folder)
    out = run("eval", str(p), "-c", str(MINI), "--model", str(folder), "--calibrate", "--json")
    assert out.exit_code == 0, out.output
    got = json.loads(out.stdout)
    assert (folder / "calibration.json").exists() and got["calibrated"]["method"] == "temperature"
    assert LocalClassifier.load(folder).calibrator is not None
    too_few = write(tmp_path, "few.csv", "text,intent\nhello,greeting\n")
    bad = run("eval", str(too_few), "-c", str(MINI), "--model", str(folder), "--calibrate")
    assert bad.exit_code == 2 and "at least 10 rows" in bad.output
