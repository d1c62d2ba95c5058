"""``rnnkit inspect``: the command, its page (checked in headless Chromium) and its one-line errors."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from rnnkit.inspect import analyse, summary
from rnnkit.inspect.report import page_data
from rnnkit.runs import open_run
from tests.browser import console_errors, headless_chromium
from tests.conftest import cli, one_line_error
from tests.inspect.runs import classifier_run, conditional_run, lm_run
from tests.inspect.test_find import quoted_text
from tests.tasks.test_conditional_lm import labelled  # noqa: F401 - a fixture


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A 2x32 LSTM and a 4-gram counted on the same text with quotes and brackets, and a text to read."""
    tmp = tmp_path_factory.mktemp("inspect")
    corpus = tmp / "corpus.txt"
    corpus.write_text(quoted_text(8_000) + '\n(a [b] c) "d"\n  12 AB\n', encoding="utf-8")
    lm_run(corpus, tmp / "lstm", max_steps=30)
    from rnnkit.cli import main

    assert main(["train", "ngram", "--data", str(corpus), "--out", str(tmp / "ngram"), "--order", "4"]) == 0
    text = tmp / "text.txt"
    text.write_text(quoted_text(1_500, seed=2) + '\n(c [a]) "zip"\n  21 BA\n', encoding="utf-8")
    return tmp


def embedded(page: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S).group(1))


def test_inspect_writes_a_self_contained_page_and_pngs(runs, capsys):
    out = runs / "report.html"
    code, stdout, err = cli("inspect", runs / "lstm", "--text", runs / "text.txt", "--out", out, "--png",
                            runs / "png", "--compare", runs / "ngram", "--max-chars", 400, capsys=capsys)
    assert code == 0, err
    assert "inside quotes" in stdout and "wrote" in err and "2 PNG files" in err
    page = out.read_text(encoding="utf-8")
    assert not re.search(r'(src|href)=["\']?(https?:)?//', page)  # nothing loads from the network
    data = embedded(page)
    text = (runs / "text.txt").read_text(encoding="utf-8")
    assert data["shown"] == 400 and data["total"] == len(text) and "".join(data["tokens"]) == text[:400]
    assert len(data["loss"]) == len(data["ngram_loss"]) == 400 and len(data["top_ids"]) == 5 * 400
    assert {c["index"] for c in data["cells"]} >= {m["unit_index"] for m in data["summary"]["cells"]}
    assert set(data["summary"]["saturation"]) == {"i", "f", "o"} and "<svg" in page
    assert data["summary"]["differences"]["rnn_better"] and data["summary"]["deviation"] < 1e-4
    assert sorted(p.name for p in (runs / "png").iterdir()) == ["saturation_layer1.png", "saturation_layer2.png"]


def test_the_page_loads_in_chromium_and_switching_cells_recolours_the_text(runs, capsys):
    from selenium.webdriver import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    out = runs / "browser.html"
    assert cli("inspect", runs / "lstm", "--text", runs / "text.txt", "--out", out, "--compare", runs / "ngram",
               capsys=capsys)[0] == 0
    colours = "return Array.from(document.querySelectorAll('#text span')).map(s => s.style.backgroundColor)"
    with headless_chromium() as driver:
        driver.get(out.resolve().as_uri())
        assert console_errors(driver) == []
        spans = driver.find_elements(By.CSS_SELECTOR, "#text span")
        assert len(spans) == len((runs / "text.txt").read_text(encoding="utf-8"))
        picker = Select(driver.find_element(By.ID, "view"))
        first = driver.execute_script(colours)
        cells = [o.get_attribute("value") for o in picker.options if o.get_attribute("value").startswith("cell:")]
        assert len(cells) >= 16
        picker.select_by_value(cells[1])
        second = driver.execute_script(colours)
        assert second != first and len(set(second)) > 3  # a new cell, a new colouring
        picker.select_by_value("diff")
        assert driver.execute_script(colours) not in (first, second)
        # one click on a found cell's row colours the text by it
        driver.find_element(By.CSS_SELECTOR, "#cells tbody tr").click()
        assert picker.first_selected_option.get_attribute("value").startswith("cell:")
        driver.find_element(By.CSS_SELECTOR, "#cells tbody tr button[data-view^='hyp:']").click()
        assert picker.first_selected_option.get_attribute("value").startswith("hyp:")
        # the hover card: the top-5 next characters and the real one's probability
        ActionChains(driver).move_to_element(spans[10]).perform()
        card = driver.find_element(By.ID, "card")
        assert card.is_displayed() and "next:" in card.text and len(card.find_elements(By.CSS_SELECTOR, "tr")) == 5
        assert console_errors(driver) == []


def test_the_page_stays_small_for_a_long_text(runs):
    run = open_run(runs / "lstm")
    text = quoted_text(30_000, seed=5)
    analysis = analyse(run, text)
    assert analysis.values.shape == (len(text), 64) and len(analysis.loss) == len(text)
    data = page_data(analysis, max_chars=2_000)
    assert data["shown"] == 2_000 and len(json.dumps(data)) < 700_000
    json.dumps(summary(analysis))  # JSON-able, for a server


def test_prime_generates_the_text_to_read(runs, capsys):
    out = runs / "primed.html"
    code, _, err = cli("inspect", runs / "lstm", "--prime", '"zip', "--length", 50, "--out", out, capsys=capsys)
    assert code == 0, err
    data = embedded(out.read_text(encoding="utf-8"))
    assert data["total"] == 54 and data["tokens"][:4] == list('"zip')


def test_a_classifier_and_a_conditional_lm_are_inspected(labelled, tmp_path, capsys):  # noqa: F811
    classifier_run(tmp_path, tmp_path / "clf", "gru")
    code, _, err = cli("inspect", tmp_path / "clf", "--prime", "the film was superb", "--out",
                       tmp_path / "c.html", capsys=capsys)
    assert code == 0, err
    data = embedded((tmp_path / "c.html").read_text(encoding="utf-8"))
    assert data["summary"]["directions"] == 2 and set(data["summary"]["class_probs"]) == {"neg", "pos"}
    assert data["loss"] is None and set(data["summary"]["saturation"]) == {"r", "z"}
    conditional_run(labelled, tmp_path / "cond", "lstm")
    code, _, err = cli("inspect", tmp_path / "cond", "--prime", "Ka", "--length", 8, "--condition", "Aish",
                       "--out", tmp_path / "n.html", capsys=capsys)
    assert code == 0, err
    data = embedded((tmp_path / "n.html").read_text(encoding="utf-8"))
    assert data["tokens"][:3] == ["<s>", "K", "a"] and np.isfinite(data["loss"][0])


@pytest.mark.parametrize("args, message", [
    (["--text", "missing.txt"], "missing.txt"),
    (["--prime", ""], "--prime is empty"),
    (["--text", "TEXT", "--max-chars", "0"], "--max-chars must be >= 1"),
    (["--text", "TEXT", "--compare", "LSTM"], "--compare needs an n-gram run"),
    (["--text", "OTHER"], "never saw"),
])
def test_user_mistakes_are_one_line_errors(runs, capsys, args, message, tmp_path):
    (tmp_path / "other.txt").write_text("\u00e9\u00e9\u00e9", encoding="utf-8")
    paths = {"TEXT": runs / "text.txt", "LSTM": runs / "lstm", "OTHER": tmp_path / "other.txt"}
    args = [str(paths.get(a, a)) for a in args]
    code, _, err = cli("inspect", runs / "lstm", *args, "--out", tmp_path / "x.html", capsys=capsys)
    assert message in one_line_error(code, err)


def test_an_ngram_run_has_no_cells_to_inspect(runs, capsys, tmp_path):
    code, _, err = cli("inspect", runs / "ngram", "--text", runs / "text.txt", "--out", tmp_path / "x.html",
                       capsys=capsys)
    assert "without recurrent cells" in one_line_error(code, err)
