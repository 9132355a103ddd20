"""A Korean operator reads Korean: what jobs say is stored as codes and put into words in the reader's
language, whatever language the worker ran in."""

import re

from tests.conftest import client_for


def visible_text(html):
    """What a person reads on the page: no markup, scripts or attributes."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_what_a_job_said_is_read_in_the_readers_language(world, owner):
    job, vault = world["job"], world["valid"]["pk"]
    client = client_for(owner)
    korean = visible_text(client.get(f"/vaults/{vault}/jobs/{job.pk}/", HTTP_ACCEPT_LANGUAGE="ko").content.decode())
    assert "복구 지점" in korean and "읽음" in korean and "스냅숏 만들기" in korean
    assert "Recovery point" not in korean and "Take snapshot" not in korean
    english = client.get(f"/vaults/{vault}/jobs/{job.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Recovery point" in english and "Take snapshot" in english
    api = client.get(f"/api/v1/vaults/{vault}/jobs/{job.pk}/", HTTP_ACCEPT_LANGUAGE="ko").json()
    assert api["result_message"].startswith("복구 지점") and api["subtasks"][0]["label"] == "스냅숏 만들기"
    assert api["subtasks"][0]["name"] == "Take snapshot"  # the code stays as it is
