"""`flask api …`: a token is printed once and works; listing never shows it; revoking stops it."""

from __future__ import annotations

from sqlmodel import select

from homefollow.models import ApiToken, Organisation, ServicePerson
from tests.api.test_auth_and_payloads import PULSE


def test_create_list_revoke_and_identify(app, session, clock, world):
    from tests.factories import make_staff

    unn = Organisation(name="UNN", kind="hospital", created_at=clock.now())
    session.add(unn)
    session.flush()
    make_staff(session, clock, "h@unn.no", "Hanna", world.team_a, "nurse").organisation_id = unn.id
    session.commit()
    runner = app.test_cli_runner()

    listed = runner.invoke(args=["api", "organisations"])
    assert f"{unn.id:>4}  hospital      UNN" in listed.output

    refused = runner.invoke(args=["api", "token", "create", "--organisation", str(unn.id), "--scope", "admin"])
    assert refused.exit_code != 0 and "scopes must be" in refused.output

    made = runner.invoke(args=["api", "token", "create", "--organisation", str(unn.id), "--scope", "observations:write",
                               "--name", "Device hub"])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    assert token.startswith("hf_") and "cannot be shown again" in made.stderr

    identified = runner.invoke(args=["api", "identify", str(world.patient_a1.id), "--source", "UNN",
                                     "--local-id", "5551234"])
    assert identified.exit_code == 0, identified.output
    session.commit()  # end the test's read snapshot: the command wrote in its own session
    assert session.exec(select(ServicePerson.person_key).where(ServicePerson.patient_id == world.patient_a1.id)
                        ).one() == "local:UNN:5551234"

    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/observations", json=PULSE, headers=headers).status_code == 201

    listing = runner.invoke(args=["api", "token", "list"])
    assert "active" in listing.output and token not in listing.output and "Device hub" in listing.output

    session.commit()
    [row] = session.exec(select(ApiToken)).all()
    assert runner.invoke(args=["api", "token", "revoke", str(row.id)]).exit_code == 0
    assert client.post("/api/observations", json=dict(PULSE, id="dev-2"), headers=headers).status_code == 401
    assert "revoked" in runner.invoke(args=["api", "token", "list"]).output
