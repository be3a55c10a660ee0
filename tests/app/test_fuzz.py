"""A property-based fuzz of the API from its own OpenAPI schema (schemathesis): no 5xx, and
every response matches the schema."""
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["with spaces", "without spaces"])
def api_schema(request, settings, spaceless_dir, tmp_path_factory):
    """The app on the toy checkpoints, its default one that reads text with its spaces, or one that reads it
    without them (with its thresholds and unigram segmenter, which have their own paths through the server)."""
    from app.main import create_app
    if request.param == "without spaces":
        import shutil

        from model.checkpoint import read_config, write_config
        from tests.helpers import add_unigram
        root = tmp_path_factory.mktemp("fuzz-spaceless")
        shutil.copytree(settings.checkpoint_dir, root, dirs_exist_ok=True)
        ck = root / "toy-nospace"
        shutil.copytree(spaceless_dir / "toy-nospace", ck)
        config = read_config(ck)
        config.setdefault("metrics", {})["test"] = {"baselines": {"surprisal": {"threshold_bits": 2.0},
                                                                  "entropy": {"threshold_bits": 1.5}}}
        write_config(ck, config)
        add_unigram(ck)
        settings = settings.model_copy(update={"checkpoint_dir": root, "default_model": "toy-nospace"})
    app = create_app(settings)
    with TestClient(app):                          # the lifespan loads the checkpoints
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hypothesis_settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_5xx_and_responses_match_the_schema(case):
    response = case.call()
    assert response.status_code < 500, response.text
    case.validate_response(response)
