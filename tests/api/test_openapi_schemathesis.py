"""The OpenAPI document against the real API, in-process: schemathesis generates valid and
invalid calls for every operation (a bounded number each) and checks that the answers are
documented: never a 500, status codes, content types, headers and bodies as described."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from homefollow import create_app
from tests.api.conftest import hospital as make_hospital
from tests.conftest import app_config, observed_by

EXAMPLES = 20  # per operation and mode: the whole run stays well under a minute


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_behaves_as_its_openapi_document_says(engine, clock, session, world, mode):
    app = observed_by(create_app(app_config(engine, clock, PROPAGATE_UNEXPECTED_ERRORS=False,
                                            API_RATE_LIMIT="100000 per minute",
                                            API_ADDRESS_RATE_LIMIT="100000 per minute")), session)
    headers = make_hospital.__wrapped__(app, session, clock, world).headers
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {o.label for o in operations} >= {f"POST /api/{p}" for p in ("admissions", "discharges", "observations",
                                                                         "fhir/Encounter", "fhir/Observation")}

    for operation in operations:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case):
            # Random patients are unknown (404), so valid data is not expected to be accepted.
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        check()


def test_the_document_is_served_and_describes_every_api_route(app):
    document = app.test_client().get("/api/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    routes = {r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/api/")}
    assert set(document["paths"]) == routes
