"""A Korean operator reads Korean: what jobs say is stored as codes and put into words in the reader's
language, whatever language the worker ran in."""

import datetime
import re
import zoneinfo

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


def test_the_page_says_its_language_and_the_switch_is_remembered(owner_client):
    assert '<html lang="en">' in owner_client.get("/vaults/").content.decode()
    switched = owner_client.post("/i18n/setlang/", {"language": "ko", "next": "/vaults/"}, htmx=False)
    assert switched.status_code == 302 and switched.cookies["django_language"]["max-age"] >= 30 * 24 * 3600
    page = owner_client.get("/vaults/").content.decode()  # no Accept-Language: the cookie says Korean
    assert '<html lang="ko">' in page and "백업 자격 증명 모음" in page
    assert 'id="language-switch"' in page and '<option value="ko" selected>한국어</option>' in page


def test_times_are_shown_in_the_users_zone_and_the_zone_is_named(world, owner):
    job, vault = world["job"], world["valid"]["pk"]
    client = client_for(owner)
    job.refresh_from_db()
    started = job.started_at
    utc = client.get(f"/vaults/{vault}/jobs/{job.pk}/").content.decode()
    assert started.strftime("%Y-%m-%d %H:%M") in utc and "UTC" in visible_text(utc)
    client.cookies["vaultline_tz"] = "America/New_York"  # what the browser said
    browser = client.get(f"/vaults/{vault}/jobs/{job.pk}/").content.decode()
    in_new_york = started.astimezone(zoneinfo.ZoneInfo("America/New_York"))
    assert "America/New_York" in visible_text(browser) and in_new_york.strftime("%Y-%m-%d %H:%M") in browser
    chosen = client.post("/preferences/", {"language": "en", "time_zone": "Asia/Seoul"}, htmx=False)
    assert chosen.status_code == 302
    seoul = client.get(f"/vaults/{vault}/jobs/{job.pk}/").content.decode()
    in_seoul = started.astimezone(datetime.timezone(datetime.timedelta(hours=9)))
    assert in_seoul.strftime("%Y-%m-%d %H:%M") in seoul and "Asia/Seoul" in visible_text(seoul)
    again = client_for(owner)  # a new sign-in remembers the choice
    assert "Asia/Seoul" in visible_text(again.get("/vaults/").content.decode())
    client.cookies["vaultline_tz"] = "Etc/GMT+10"  # not a zone a person chooses (PostgreSQL reads its sign reversed)
    client.post("/preferences/", {"language": "en", "time_zone": ""}, htmx=False)
    assert "UTC" in visible_text(client.get("/vaults/").content.decode())
    assert client.post("/preferences/", {"language": "en", "time_zone": "Mars/Olympus"}, htmx=False).status_code == 400


def test_the_calendar_reads_in_korean(world, owner):
    point = world["item"].vm.recovery_points.get()
    page = client_for(owner).get(f"/vaults/{world['valid']['pk']}/restore/?selected={world['item'].pk}",
                                 HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    created = point.created_at
    assert f"{created.year}년 {created.month}월" in page
    for day in ("월", "화", "수", "목", "금", "토", "일"):
        assert f"<th>{day}</th>" in page
