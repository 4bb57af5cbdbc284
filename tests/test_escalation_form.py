"""The escalation policy form reads at a glance: short, complete option labels, the steps and the
fallback as fieldsets with legends, the rarely changed settings folded away — without JavaScript."""

import re

import pytest

from clinician_portal.team_forms import TARGET_CHOICES
from tests.webclient import staff_client


@pytest.mark.parametrize("locale", ["nb", "en"])
def test_the_form_is_grouped_and_its_options_are_short_and_whole(app, session, clock, world, locale):
    admin = staff_client(app, "admin.a@example.no")
    if locale != "nb":
        admin.submit("/clinic/", {"locale": locale}, action="/locale")
    html = admin.get(f"/clinic/teams/{world.team_a.id}/escalation").get_data(as_text=True)
    assert "<script" not in html
    assert "clinic_forms.css" in html
    # Steps and fallback are groups with legends; the advanced settings sit in details/summary.
    assert html.count('class="policy-group"') == 2
    assert re.search(r'<details class="policy-advanced">\s*<summary>', html)
    advanced = html[html.index('<details class="policy-advanced">'):html.index("</details>")]
    for name in ("repeat", "ack_red", "snooze_red", "remeasure_rules"):
        assert f'name="{name}"' in advanced
    assert 'name="steps-0-kind"' not in advanced
    # Every option of "who is paged" is whole and short (it read "Den som har vakt for r…").
    select = re.search(r'<select[^>]*name="steps-0-kind".*?</select>', html, re.S).group(0)
    labels = re.findall(r"<option[^>]*>([^<]*)</option>", select)
    assert len(labels) == len(TARGET_CHOICES)
    assert all(0 < len(label) <= 22 for label in labels), labels
    if locale == "nb":
        assert "Den som har vakt for rollen" not in html


def test_a_problem_in_the_advanced_settings_opens_them(app, session, clock, world):
    admin = staff_client(app, "admin.a@example.no")
    url = f"/clinic/teams/{world.team_a.id}/escalation"
    response = admin.submit(url, {"name": "X", "ack_red": "abc", "action": "preview"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert '<details class="policy-advanced" open>' in html
