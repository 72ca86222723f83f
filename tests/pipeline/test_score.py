from __future__ import annotations

from models.segments import uncovered_cells
from pipeline.config import load_params
from pipeline.score import list_settings
from tests.conftest import ROOT


def test_list_settings_carry_every_scoring_and_campaign_param():
    params = load_params(ROOT / "params.yaml")
    settings = list_settings(params)
    assert settings.risk_bands == (params.score.risk_bands.medium, params.score.risk_bands.high)
    assert [rule.name for rule in settings.segment_rules] == [rule.name for rule in params.score.rfm_segments]
    assert uncovered_cells(settings.segment_rules) == []
    assert [rule.action for rule in settings.playbook] == [rule.action for rule in params.score.playbook]
    assert settings.playbook[-1].segments is None and settings.playbook[-1].risk is None  # a catch-all closes the playbook
    assert settings.campaign.budget == params.campaign.budget and settings.campaign.acceptance() == 0.3
    assert settings.value.lifetime_months == params.clv.lifetime_months
