"""The generator end to end against a fake chat-completions server on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from agpt.anatomy import ANATOMIES, SILVER_BOX_NAMES
from agpt.synonyms import load_synonym_table
from agpt.synonyms.generate import (GenerationError, RetryPolicy, base_url_host, generate_table, render_prompt, scrub,
                                    sha256_text)

from synonym_fakes import SECRET_KEY, good_answer

FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01)


def _generate(tmp_path, **kw):
    kw.setdefault("policy", FAST)
    return generate_table(cache_dir=tmp_path / "cache", log=lambda m: None, **kw)


def test_success_writes_a_clean_table_with_provenance(openai_env, tmp_path):
    openai_env.ok(good_answer())
    table = _generate(tmp_path, model="gpt-4o", n=6)
    assert len(openai_env.requests) == 1
    req = openai_env.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["authorization"] == f"Bearer {SECRET_KEY}"
    assert req["body"]["response_format"] == {"type": "json_object"}
    assert req["body"]["model"] == "gpt-4o"
    assert req["body"]["messages"][-1]["content"] == render_prompt(SILVER_BOX_NAMES, 6)
    # every anatomy, canonical first, errors removed with their reasons
    assert set(ANATOMIES) <= set(table.entries)
    for anatomy, names in table.entries.items():
        assert names[0] == anatomy
    assert table.synonyms("right lung") == ["right lung", "right hemithorax"]
    assert table.synonyms("abdomen") == ["abdomen", "upper abdomen"]
    assert table.synonyms("right apical zone") == ["right apical zone", "right apex", "right lung apex"]
    reasons = {(r.anatomy, r.synonym): r.reason for r in table.rejected}
    assert "breast" in reasons[("right lung", "right breast")]
    assert "other side" in reasons[("right lung", "left lung field")]
    assert reasons[("right lung", "right hemithorax")] == "duplicate"
    assert reasons[("right lung", "")] == "empty string"
    assert "abdominal organ" in reasons[("abdomen", "stomach")]
    assert "misspelt" in reasons[("right apical zone", "rigt apex")]
    assert "not first" in reasons[("right apical zone", "right apex")]
    assert "another anatomy" in reasons[("right lower lung zone", "right costophrenic angle")]
    assert "lobe" in reasons[("right lower lung zone", "right lower lobe")]
    prov = table.provenance
    assert prov["model"] == "gpt-4o" and prov["source"] == "generated"
    assert prov["prompt_hash"] == sha256_text(render_prompt(SILVER_BOX_NAMES, 6))
    assert prov["base_url_host"] == f"127.0.0.1:{openai_env.port}"
    assert prov["from_cache"] is False and prov["attempts"] == 1
    # the written file loads back as a valid table
    out = tmp_path / "gen.json"
    table.save(out)
    assert load_synonym_table(out).entries == table.entries


def test_answer_keys_are_matched_case_insensitively(openai_env, tmp_path):
    answer = good_answer()
    answer["synonyms"]["Right Lung"] = answer["synonyms"].pop("right lung")
    openai_env.ok(answer)
    table = _generate(tmp_path, n=6)
    assert table.synonyms("right lung") == ["right lung", "right hemithorax"]


def test_cache_means_no_second_request(openai_env, tmp_path):
    openai_env.ok(good_answer())
    first = _generate(tmp_path, model="gpt-4o", n=6)
    second = _generate(tmp_path, model="gpt-4o", n=6)
    assert len(openai_env.requests) == 1
    assert second.entries == first.entries and second.provenance["from_cache"] is True
    # a different model or prompt is a different cache key
    openai_env.ok(good_answer())
    _generate(tmp_path, model="gpt-4o-mini", n=6)
    assert len(openai_env.requests) == 2


def test_cache_hit_needs_no_key(openai_env, tmp_path, monkeypatch):
    openai_env.ok(good_answer())
    _generate(tmp_path, n=6)
    monkeypatch.delenv("OPENAI_API_KEY")
    assert _generate(tmp_path, n=6).provenance["from_cache"] is True


def test_malformed_json_answer_is_an_error_and_not_cached(openai_env, tmp_path):
    openai_env.ok('{"synonyms": {"right lung": ["right lung", ')
    with pytest.raises(GenerationError, match="not valid JSON"):
        _generate(tmp_path, n=6)
    assert not list((tmp_path / "cache").glob("*.json"))


def test_answer_missing_anatomies_is_an_error(openai_env, tmp_path):
    answer = good_answer()
    del answer["synonyms"]["carina"], answer["synonyms"]["left hemidiaphragm"]
    openai_env.ok(answer)
    with pytest.raises(GenerationError, match="lacks 2 anatomies: left hemidiaphragm, carina"):
        _generate(tmp_path, n=6)


def test_rate_limit_then_success_retries_with_backoff(openai_env, tmp_path):
    openai_env.script.append((429, {"error": {"message": "rate limited"}}, {"retry-after": "0"}))
    openai_env.script.append((503, {"error": {"message": "overloaded"}}, {}))
    openai_env.ok(good_answer())
    waits = []
    table = generate_table(cache_dir=tmp_path / "c", policy=RetryPolicy(4, base_delay=0.001, max_delay=0.01),
                           sleep=waits.append, log=lambda m: None)
    assert len(openai_env.requests) == 3 and table.provenance["attempts"] == 3
    assert waits == [0.001, 0.002]  # exponential


def test_rate_limit_gives_up_after_max_attempts(openai_env, tmp_path):
    for _ in range(5):
        openai_env.script.append((429, {"error": {"message": "rate limited"}}, {}))
    with pytest.raises(GenerationError, match="HTTP 429 after 3 attempts"):
        _generate(tmp_path)
    assert len(openai_env.requests) == 3


def test_client_errors_are_not_retried(openai_env, tmp_path):
    openai_env.script.append((400, {"error": {"message": "bad request"}}, {}))
    with pytest.raises(GenerationError, match="HTTP 400"):
        _generate(tmp_path)
    assert len(openai_env.requests) == 1


def test_refused_connection(monkeypatch, tmp_path, closed_port):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{closed_port}/v1")
    logs = []
    with pytest.raises(GenerationError, match="APIConnectionError after 3 attempts") as info:
        generate_table(cache_dir=tmp_path / "c", policy=FAST, log=logs.append)
    assert SECRET_KEY not in str(info.value)
    assert len([m for m in logs if "retrying" in m]) == 2


def test_key_never_leaks(openai_env, tmp_path, capfd):
    """Not in the table file, the cache, stdout/stderr, logs or exception messages (even when the server echoes it)."""
    logs = []
    openai_env.script.append((401, "ECHO_AUTH", {}))
    with pytest.raises(GenerationError) as info:
        generate_table(cache_dir=tmp_path / "c", policy=FAST, log=logs.append)
    assert "401" in str(info.value) and SECRET_KEY not in str(info.value)
    openai_env.script.append((500, "ECHO_AUTH", {}))
    openai_env.ok(good_answer())
    table = generate_table(cache_dir=tmp_path / "c", policy=FAST, log=logs.append)
    table.save(tmp_path / "t.json")
    texts = [p.read_text() for p in tmp_path.rglob("*.json")] + logs
    captured = capfd.readouterr()
    texts += [captured.out, captured.err, json.dumps(table.provenance)]
    assert texts and not any(SECRET_KEY in t for t in texts)
    assert not any(SECRET_KEY[:12] in t for t in texts)


def test_cli_generate_review_show_without_leaking(openai_env, tmp_path):
    openai_env.ok(good_answer(ANATOMIES))
    out = tmp_path / "generated.json"
    env = {**__import__("os").environ}
    cmd = [sys.executable, "-m", "agpt", "synonyms", "generate", "--out", str(out), "--n", "5",
           "--anatomies", "29", "--cache-dir", str(tmp_path / "cache"), "--backoff", "0.001"]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 0, res.stderr
    assert SECRET_KEY not in res.stdout + res.stderr + out.read_text()
    assert set(json.loads(out.read_text())["synonyms"]) == set(ANATOMIES)
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert again.returncode == 0 and "cache hit" in again.stderr and len(openai_env.requests) == 1
    rev = subprocess.run([sys.executable, "-m", "agpt", "synonyms", "review", "--table", str(out),
                          "--json", str(tmp_path / "review.json")], capture_output=True, text=True, timeout=60)
    assert rev.returncode == 0, rev.stderr
    assert "right lung: 'right breast': 'breast': the breast is soft tissue" in rev.stdout
    review = json.loads((tmp_path / "review.json").read_text())
    assert review["n_rejected"] == len(json.loads(out.read_text())["rejected"]) > 0
    show = subprocess.run([sys.executable, "-m", "agpt", "synonyms", "show", "--table", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert show.returncode == 0 and "right lung: right hemithorax" in show.stdout
    # a failing run reports one line with the reason and no key
    openai_env.script.append((401, "ECHO_AUTH", {}))
    bad = subprocess.run([*cmd[:-4], "--model", "other", "--cache-dir", str(tmp_path / "cache")],
                         capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and "HTTP 401" in bad.stderr and SECRET_KEY not in bad.stderr + bad.stdout


def test_base_url_host_and_scrub_drop_credentials():
    assert base_url_host("https://user:pw-secret@api.example.com:8443/v1?key=abc") == "api.example.com:8443"
    assert base_url_host("https://api.openai.com/v1") == "api.openai.com"
    text = f"failed with key {SECRET_KEY} and sk-proj-ABCDEFGH12345678 and pw-secret"
    cleaned = scrub(text, [SECRET_KEY, "pw-secret", None])
    assert SECRET_KEY not in cleaned and "sk-proj-ABCDEFGH" not in cleaned and "pw-secret" not in cleaned


def test_retry_policy_bounds():
    p = RetryPolicy(max_attempts=5, base_delay=1.0, factor=2.0, max_delay=5.0)
    assert [p.delay(i) for i in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert p.delay(0, retry_after=3.0) == 3.0 and p.delay(0, retry_after=100.0) == 5.0
    with pytest.raises(ValueError, match="max_attempts must be >= 1"):
        RetryPolicy(max_attempts=0)
