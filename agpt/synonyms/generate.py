"""Generate a synonym table with a chat model through the official ``openai`` client, with cache and retries.

The prompt is the jinja2 template ``agpt/resources/synonym_prompt.j2``; the answer is requested
as a JSON object, parsed, cleaned (bad synonyms dropped with their reason) and written with its
provenance.  A cache keyed by ``sha256(model, prompt)`` makes a second run free.  The API key is
read from ``OPENAI_API_KEY`` and never written anywhere: every message is scrubbed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import jinja2

from agpt.anatomy import SILVER_BOX_NAMES
from agpt.errors import AgptError
from agpt.synonyms.table import SynonymTable, load_synonym_table, table_problems
from agpt.synonyms.validate import Rejection, check_synonym, normalise

PROMPT_TEMPLATE = "synonym_prompt.j2"
DEFAULT_MODEL = "gpt-4o"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
_SECRET_PATTERN = re.compile(r"sk-[A-Za-z0-9_\-]{8,}")


class GenerationError(AgptError):
    """The model could not be reached, or its answer is unusable."""


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff: ``base_delay * factor**i`` seconds, capped at ``max_delay``."""

    max_attempts: int = 5
    base_delay: float = 2.0
    factor: float = 2.0
    max_delay: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based)."""
        d = min(self.max_delay, self.base_delay * self.factor ** attempt)
        if retry_after is not None:
            d = max(d, min(self.max_delay, retry_after))
        return d

    def to_dict(self) -> dict:
        return {"max_attempts": self.max_attempts, "base_delay": self.base_delay,
                "factor": self.factor, "max_delay": self.max_delay}


def scrub(text: str, secrets: list[str | None]) -> str:
    """``text`` with every secret (and anything shaped like an OpenAI key) replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _SECRET_PATTERN.sub("***", text)


def base_url_host(base_url: str) -> str:
    """Host (and port) of a base URL, without user, password, path or query."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def render_prompt(anatomies: list[str] | tuple[str, ...], n: int) -> str:
    if n < 1:
        raise ValueError(f"--n must be >= 1, got {n}")
    source = resources.files("agpt").joinpath("resources", PROMPT_TEMPLATE).read_text(encoding="utf-8")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.from_string(source).render(anatomies=list(anatomies), n=n)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_path(cache_dir: str | Path, model: str, prompt_hash: str) -> Path:
    key = sha256_text(f"{model}\n{prompt_hash}")[:32]
    return Path(cache_dir) / f"{key}.json"


def default_cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "agpt" / "synonyms"


def _retry_after(err: Exception) -> float | None:
    response = getattr(err, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def request_completion(client, model: str, prompt: str, *, temperature: float, policy: RetryPolicy,
                       sleep: Callable[[float], None], log: Callable[[str], None]) -> tuple[str, str, int]:
    """Ask once, retrying rate limits (429), 5xx and connection errors; ``(content, response_id, attempts)``."""
    import openai

    retryable = (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError)
    for attempt in range(policy.max_attempts):
        try:
            response = client.chat.completions.create(
                model=model,
                messages=[{"role": "system", "content": "You answer with one JSON object only."},
                          {"role": "user", "content": prompt}],
                response_format={"type": "json_object"},
                temperature=temperature,
            )
        except retryable as err:
            status = getattr(err, "status_code", None)
            what = f"HTTP {status}" if status else type(err).__name__
            if attempt + 1 == policy.max_attempts:
                raise GenerationError(f"{what} after {policy.max_attempts} attempts: {err}") from None
            wait = policy.delay(attempt, _retry_after(err))
            log(f"attempt {attempt + 1}/{policy.max_attempts} failed ({what}); retrying in {wait:.2f} s")
            sleep(wait)
            continue
        except openai.APIStatusError as err:
            raise GenerationError(f"HTTP {err.status_code} (not retried): {err}") from None
        except openai.OpenAIError as err:
            raise GenerationError(f"{type(err).__name__}: {err}") from None
        if not response.choices or response.choices[0].message.content is None:
            raise GenerationError("the answer has no message content")
        return response.choices[0].message.content, str(response.id or ""), attempt + 1
    raise AssertionError("unreachable")


def parse_answer(content: str, anatomies: list[str] | tuple[str, ...]) -> dict[str, list]:
    """The ``{anatomy: [names]}`` mapping of an answer; GenerationError when malformed or incomplete."""
    try:
        data = json.loads(content)
    except json.JSONDecodeError as err:
        raise GenerationError(f"the answer is not valid JSON ({err.msg} at char {err.pos})") from None
    if isinstance(data, dict) and isinstance(data.get("synonyms"), dict):
        data = data["synonyms"]
    if not isinstance(data, dict):
        raise GenerationError("the answer is not a JSON object mapping region -> list of names")
    # Accept "Right lung" or "right  lung" for "right lung"; the canonical spelling is restored later.
    by_norm = {normalise(str(k)): k for k in data}
    data = {a: data[by_norm[normalise(a)]] for a in anatomies if normalise(a) in by_norm}
    missing = [a for a in anatomies if a not in data]
    if missing:
        raise GenerationError(f"the answer lacks {len(missing)} anatomies: {', '.join(missing)}")
    bad = [a for a in anatomies if not isinstance(data[a], list)]
    if bad:
        raise GenerationError(f"the answer's entries are not lists for: {', '.join(bad)}")
    return {a: data[a] for a in anatomies}


def clean_answer(raw: dict[str, list], reference: SynonymTable | None) -> tuple[dict[str, list[str]], list[Rejection]]:
    """Canonical name first, then every synonym that passes ``check_synonym``; the rest as rejections."""
    owners = reference.name_owners() if reference is not None else {}
    entries: dict[str, list[str]] = {}
    rejections: list[Rejection] = []
    taken: dict[str, str] = {normalise(a): a for a in raw}
    for anatomy, names in raw.items():
        kept = [anatomy]
        seen = {normalise(anatomy)}
        if not names or names[0] != anatomy:
            where = "missing" if anatomy not in names else "not first"
            rejections.append(Rejection(anatomy, str(names[0]) if names else "", f"canonical name {where}; put first"))
        for name in names:
            if name == anatomy:
                continue
            if isinstance(name, str) and normalise(name) in seen:
                rejections.append(Rejection(anatomy, name, "duplicate"))
                continue
            reason = check_synonym(anatomy, name, owners)
            owner = taken.get(normalise(name)) if isinstance(name, str) else None
            if reason is None and owner not in (None, anatomy):
                reason = f"names another anatomy (also given for {owner!r})"
            if reason is not None:
                rejections.append(Rejection(anatomy, str(name), reason))
                continue
            seen.add(normalise(name))
            taken.setdefault(normalise(name), anatomy)
            kept.append(name)
        entries[anatomy] = kept
    return entries, rejections


def generate_table(*, model: str = DEFAULT_MODEL, n: int = 8, cache_dir: str | Path | None = None,
                   anatomies: tuple[str, ...] = SILVER_BOX_NAMES, temperature: float = 0.0,
                   policy: RetryPolicy = RetryPolicy(), timeout: float = 120.0,
                   sleep: Callable[[float], None] = time.sleep,
                   log: Callable[[str], None] | None = None) -> SynonymTable:
    """Ask the model (or the cache) and return the cleaned, validated table with its provenance."""
    api_key = os.environ.get("OPENAI_API_KEY")
    base_url = os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
    secrets = [api_key, urlsplit(base_url).password]

    def say(message: str) -> None:
        (log or (lambda m: print(m, file=sys.stderr)))(scrub(f"agpt synonyms: {message}", secrets))

    prompt = render_prompt(anatomies, n)
    prompt_hash = sha256_text(prompt)
    cached_file = cache_path(cache_dir or default_cache_dir(), model, prompt_hash)
    try:
        if cached_file.exists():
            cached = json.loads(cached_file.read_text(encoding="utf-8"))
            content, response_id, attempts, from_cache = cached["content"], cached["response_id"], 0, True
            say(f"cache hit {cached_file} (no request made)")
        else:
            if not api_key:
                raise GenerationError("OPENAI_API_KEY is not set (and there is no cached answer for this prompt and model)")
            import openai

            client = openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout)
            say(f"asking {model} at {base_url_host(base_url)} for {len(anatomies)} anatomies x {n} synonyms")
            content, response_id, attempts = request_completion(
                client, model, prompt, temperature=temperature, policy=policy, sleep=sleep, log=say)
            from_cache = False
        raw = parse_answer(content, anatomies)
    except GenerationError as err:
        raise GenerationError(scrub(str(err), secrets)) from None
    except (OSError, KeyError, json.JSONDecodeError) as err:
        raise GenerationError(scrub(f"unreadable cache file {cached_file}: {err}", secrets)) from None
    if not from_cache:
        cached_file.parent.mkdir(parents=True, exist_ok=True)
        record = {"model": model, "prompt_hash": prompt_hash, "response_id": response_id, "content": content,
                  "base_url_host": base_url_host(base_url), "date": _now()}
        cached_file.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    entries, rejections = clean_answer(raw, load_synonym_table(None))
    fatal, left = table_problems(entries)
    if fatal or left:  # clean_answer keeps only passing entries, so this is a bug, not bad input
        raise GenerationError(f"cleaned table still invalid: {fatal or [r.to_dict() for r in left]}")
    from agpt import __version__

    provenance = {
        "source": "generated", "model": model, "date": _now(), "prompt_template": PROMPT_TEMPLATE,
        "prompt_hash": prompt_hash, "base_url_host": base_url_host(base_url), "n_requested": n,
        "temperature": temperature, "response_id": response_id, "from_cache": from_cache, "attempts": attempts,
        "retry_policy": policy.to_dict(), "n_rejected": len(rejections), "agpt_version": __version__,
    }
    say(f"{sum(len(v) - 1 for v in entries.values())} synonyms kept, {len(rejections)} rejected")
    return SynonymTable(entries=entries, provenance=provenance, rejected=rejections)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
