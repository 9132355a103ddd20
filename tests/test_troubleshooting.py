"""Every error code a job can end with is on the Troubleshooting page, and a failed job links to it."""

from jobs.choices import JobStatus
from jobs.errors import CATALOGUE, CoreCode
from tests.factories import JobFactory
from vaults.errors import ErrorCode


def test_every_code_has_its_message_and_action_on_the_page(owner_client):
    html = owner_client.get("/troubleshooting/").content.decode()
    codes = list(CoreCode) + list(ErrorCode)
    assert {str(code) for code in codes} == {str(code) for code in CATALOGUE}, "every code has its catalogue entry"
    for code in codes:
        message, action = CATALOGUE[code]
        assert f'id="{code}"' in html and str(code.label) in html, code
        assert str(message).replace("'", "&#x27;") in html and str(action).replace("'", "&#x27;") in html, code


def test_a_failed_job_links_to_its_code(owner_client, vault):
    job = JobFactory(vault=vault, status=JobStatus.IN_PROGRESS)
    job.finish(JobStatus.FAILED, error=ErrorCode.STORAGE_UNAVAILABLE)
    html = owner_client.get(f"/vaults/{vault.pk}/jobs/{job.pk}/").content.decode()
    assert f'href="/troubleshooting/#{ErrorCode.STORAGE_UNAVAILABLE}"' in html


def test_the_page_needs_a_login(client):
    response = client.get("/troubleshooting/")
    assert response.status_code == 302 and "/login/" in response["Location"]
