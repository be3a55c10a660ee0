"""A property-based fuzz of the API from its own OpenAPI schema (schemathesis): no 5xx, and
every response matches the schema."""
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api_schema(settings):
    from app.main import create_app
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
