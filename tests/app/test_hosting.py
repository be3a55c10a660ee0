"""The hosted demo: the compose file validates, the image is built as it should be, settings
come from the environment, CORS answers only configured origins."""
import re
import shutil
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from app.settings import Settings
from tests.helpers import ROOT


def test_compose_file_validates():
    assert shutil.which("docker-compose"), "Debian's docker-compose is needed (make test installs it)"
    done = subprocess.run(["docker-compose", "-f", "docker-compose.yml", "config", "-q"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_every_setting_is_named_in_readme_and_those_it_says_compose_takes_are_passed():
    readme = (ROOT / "README.md").read_text()
    missing = [f"LENS_{name.upper()}" for name in Settings.model_fields if f"LENS_{name.upper()}" not in readme]
    assert not missing, f"README does not name {missing}"
    hosting = readme[readme.index("## Hosting"):]
    said = set(re.findall(r"LENS_[A-Z_]+", hosting)) - {"LENS_PUBLISH"}      # the host port, compose's own
    compose = (ROOT / "docker-compose.yml").read_text()
    assert said and not [v for v in said if f"{v}:" not in compose], "compose does not pass every setting README names"


def test_dockerfile_runs_as_a_user_with_a_health_check_on_a_real_route():
    text = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert re.search(r"torch==2\.13\.0", text)                       # the pinned, CPU build
    for src in re.findall(r"^COPY (\S+) ", text, re.M):
        assert (ROOT / src).exists(), f"the Dockerfile copies {src}, which is not in the repository"
    assert (ROOT / "app" / "__main__.py").exists()


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("LENS_MAX_TEXT_CHARS", "123")
    monkeypatch.setenv("LENS_ALLOWED_ORIGINS", '["https://example.org"]')
    monkeypatch.setenv("LENS_WORKERS", "3")
    s = Settings()
    assert (s.max_text_chars, s.allowed_origins, s.workers) == (123, ["https://example.org"], 3)


@pytest.mark.parametrize("value,origins", [('["https://a.org", "https://b.org"]', ["https://a.org", "https://b.org"]),
                                           ("https://a.org, https://b.org", ["https://a.org", "https://b.org"]),
                                           ("https://a.org", ["https://a.org"]), ("", []),
                                           ("https://a.org/, https://b.org/", ["https://a.org", "https://b.org"])])
def test_cors_origins_are_read_as_a_json_list_or_separated_by_commas(monkeypatch, value, origins):
    monkeypatch.setenv("LENS_ALLOWED_ORIGINS", value)
    assert Settings().allowed_origins == origins


@pytest.mark.parametrize("name,value", [("ALLOWED_ORIGINS", "[https://a.org"), ("BEHIND_PROXY", "maybe"),
                                        ("RATE_PER_S", "0"), ("MAX_RUNNING", "0"), ("MAX_RUNNING", "-1"),
                                        ("TORCH_THREADS", "0"), ("MAX_TEXT_CHARS", "-1"), ("PORT", "70000")])
def test_a_setting_out_of_range_stops_the_server_with_one_line_naming_it(monkeypatch, name, value):
    from app.settings import settings_or_exit
    monkeypatch.setenv(f"LENS_{name}", value)
    with pytest.raises(SystemExit) as e:
        settings_or_exit()
    assert str(e.value).startswith(f"lens: LENS_{name}: ") and "\n" not in str(e.value)


def test_the_server_command_has_help_and_refuses_a_bad_option():
    done = subprocess.run([sys.executable, "-m", "app", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("usage: python -m app") and "LENS_CHECKPOINT_DIR" in done.stdout
    done = subprocess.run([sys.executable, "-m", "app", "--port", "0"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and done.stderr.strip() == "lens: LENS_PORT: Input should be greater than or equal to 1"


@pytest.mark.parametrize("behind_proxy", [False, True])
def test_forwarded_addresses_are_read_only_behind_a_proxy_of_ours(monkeypatch, behind_proxy):
    """Else uvicorn takes X-Forwarded-For from any client on this host as its address, and a client that
    names itself anew each time is never rate limited."""
    import uvicorn

    import app.__main__ as entry
    ran = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: ran.update(kw))
    monkeypatch.setenv("LENS_BEHIND_PROXY", str(behind_proxy).lower())
    entry.main([])
    assert ran["proxy_headers"] is behind_proxy


def test_make_run_serves_through_the_apps_own_entry():
    """`python -m app` is what reads X-Forwarded-For only behind a proxy of ours (above); uvicorn started
    bare would take it from any client on the host."""
    run = re.search(r"^run:.*\n\t(.+)$", (ROOT / "Makefile").read_text(), re.M)[1]
    assert " -m app " in run and "uvicorn" not in run


def test_cors_only_for_configured_origins(settings):
    from app.main import create_app
    allowed = settings.model_copy(update={"allowed_origins": ["https://demo.example"]})
    with TestClient(create_app(allowed)) as c:
        ok = c.options("/api/text", headers={"Origin": "https://demo.example", "Access-Control-Request-Method": "POST"})
        assert ok.headers.get("access-control-allow-origin") == "https://demo.example"
        bad = c.options("/api/text", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert bad.headers.get("access-control-allow-origin") is None
    with TestClient(create_app(settings)) as c:                      # none configured: no CORS at all
        r = c.post("/api/text", json={"text": "the"}, headers={"Origin": "https://demo.example"})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_pages_send_a_content_security_policy_and_only_embed_may_be_framed(client):
    page = client.get("/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'self'" in csp
    assert "frame-ancestors *" in client.get("/embed").headers["content-security-policy"]
    api = client.get("/api/models")
    assert api.headers["x-content-type-options"] == "nosniff"


def test_a_default_model_the_folder_lacks_is_said_at_start(settings, caplog):
    from app.main import create_app
    with caplog.at_level("WARNING", logger="app.main"), TestClient(create_app(settings.model_copy(
            update={"default_model": "nosuch"}))) as c:
        assert c.get("/healthz").status_code == 200
    said = [r.getMessage() for r in caplog.records if r.name == "app.main"]
    assert len(said) == 1 and "LENS_DEFAULT_MODEL 'nosuch'" in said[0] and "use toy-a" in said[0]
    caplog.clear()
    with caplog.at_level("WARNING", logger="app.main"), TestClient(create_app(settings)):
        pass
    assert not [r for r in caplog.records if r.name == "app.main"]            # the configured one is there


def test_a_checkpoint_that_breaks_the_loader_unforeseen_is_skipped_and_the_rest_served(checkpoint_dir, monkeypatch, caplog):
    import logging

    from app import registry
    real = registry.load_checkpoint

    def load(folder):
        if folder.name == "toy-b":
            raise RuntimeError("negative dimension -5")
        return real(folder)
    monkeypatch.setattr(registry, "load_checkpoint", load)
    with caplog.at_level(logging.WARNING, logger="app.registry"):
        found = registry.discover(checkpoint_dir, 4)
    assert set(found) == {"toy-a", "toy-ink"}
    assert "skipping checkpoint toy-b: RuntimeError: negative dimension -5" in caplog.text
